"""views/deep_links.py in Chromium: a page opened by its own URL asks the server's root, never its own path, first.

Without the middleware Streamlit asks ``/<page>/_stcore/health`` and ``…/host-config``, gets 404s, waits 100 ms and
asks ``/_stcore/…`` (streamlit/streamlit#7074). The app here is served by ``gallery_server.py``, as ``make app``
serves it.
"""

from __future__ import annotations

import pytest

from views.deep_links import script

from .conftest import wait_for_app

pytestmark = pytest.mark.e2e

PAGES = ["/model?model=gpt2", "/trace?slug=gpt2", "/compare?models=gpt2&models=qwen3-8b", "/try", "/tree",
         "/no-such-page"]


@pytest.mark.parametrize("path", PAGES)
def test_a_deep_link_connects_to_the_root_at_once(page, app_url, path):
    asked = []
    page.on("request", lambda r: asked.append(r.url.removeprefix(app_url)))
    page.goto(app_url + path)
    wait_for_app(page)
    core = [u for u in asked if "/_stcore/" in u]
    assert not [u for u in core if not u.startswith("/_stcore/")], core  # no guess at the page's own path
    assert "/_stcore/health" in core and "/_stcore/host-config" in core
    assert page.evaluate("window.__streamlit.BACKEND_BASE_URL") == app_url


def test_the_root_is_served_as_streamlit_serves_it(page, app_url):
    page.goto(app_url + "/")
    wait_for_app(page)
    assert page.evaluate("window.__streamlit") is None  # nothing to say: Streamlit asks the root first


def test_navigation_from_a_deep_link_keeps_working(page, app_url):
    page.goto(app_url + "/model?model=gpt2")
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Trace").click()
    page.wait_for_url("**/trace**")
    wait_for_app(page)
    assert page.locator("h1").first.text_content().strip().startswith("Trace")


@pytest.mark.parametrize(("url", "base"), [
    ("http://gallery.test/~/+/model", "http://gallery.test/~/+"),  # served under a proxy's prefix
    ("http://gallery.test/model", "http://gallery.test"),
    ("http://gallery.test/other", None),  # not the page the server answered for: Streamlit guesses as before
])
def test_the_script_names_what_precedes_the_pages_path(page, url, base):
    page.route("http://gallery.test/**", lambda route: route.fulfill(
        content_type="text/html", body=b"<html><head>" + script("/model") + b"</head><body></body></html>"))
    page.goto(url)
    assert page.evaluate("window.__streamlit?.BACKEND_BASE_URL ?? null") == base


def test_a_hosts_own_settings_are_kept(page):
    page.route("http://gallery.test/**", lambda route: route.fulfill(
        content_type="text/html", body=b'<html><head><script>window.__streamlit = {LIGHT_THEME: "kept"}</script>'
        + script("/model") + b"</head><body></body></html>"))
    page.goto("http://gallery.test/model")
    assert page.evaluate("[window.__streamlit.LIGHT_THEME, window.__streamlit.BACKEND_BASE_URL]") == [
        "kept", "http://gallery.test"]
