"""Opening a Hub repo in a real browser: against a local fake Hub, and with no Hub at all.

The fake Hub is a small HTTP server on 127.0.0.1 that serves one bundled config.json the way the Hub
does (``HEAD``/``GET /{repo}/resolve/{revision}/config.json`` with ``X-Repo-Commit``); the app server
is started with ``HF_ENDPOINT`` pointing at it. Without it (the suite's offline server) the page
must say the Hub cannot be reached and still take a pasted config.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from .conftest import ROOT, streamlit_server, wait_for_app

pytestmark = pytest.mark.e2e

SHA = "fedcba9876543210fedcba9876543210fedcba98"
CONFIG = (ROOT / "arch_specs" / "configs" / "qwen3-0.6b.json").read_bytes()
REPO = "Qwen/Qwen3-0.6B"


class _Hub(BaseHTTPRequestHandler):
    """config.json of REPO at main or SHA; 401 GatedRepo for meta-llama; 404 EntryNotFound otherwise."""

    seen: list[str] = []

    def _answer(self, body: bool) -> None:
        if self.path != "/api/agent-harnesses":  # huggingface_hub's own best-effort lookup
            self.seen.append(f"{self.command} {self.path}")
        if self.path in (f"/{REPO}/resolve/main/config.json", f"/{REPO}/resolve/{SHA}/config.json"):
            status, headers, data = 200, {"X-Repo-Commit": SHA, "ETag": '"e"'}, CONFIG
        elif self.path.startswith("/meta-llama/"):
            status, headers, data = 401, {"X-Error-Code": "GatedRepo"}, b""
        else:
            status, headers, data = 404, {"X-Error-Code": "EntryNotFound"}, b""
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._answer(body=True)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory):
    """(app URL, requests the fake Hub saw): the app server with HF_ENDPOINT at a local fake Hub."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    env = {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path_factory.mktemp("hf"))}
    try:
        with streamlit_server(env, ".e2e-hub-server.log") as (url, _):
            yield url, endpoint, _Hub.seen
    finally:
        server.shutdown()
        server.server_close()


def _no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_a_repo_deep_link_shows_the_diagram_and_the_commit(page, hub_app, browser):
    url, endpoint, seen = hub_app
    page.goto(f"{url}/try?repo={REPO}")
    wait_for_app(page)
    _no_exception(page)
    svg = page.locator(".gallery-diagram svg").first
    expect(svg).to_be_visible(timeout=30_000)
    config = json.loads(CONFIG)
    assert f"{config['num_key_value_heads']} KV heads" in svg.evaluate("e => e.textContent")
    expect(page.get_by_text(re.compile(f"commit {SHA}"))).to_be_visible()
    link = page.get_by_role("link", name="config.json on the Hub")
    expect(link).to_have_attribute("href", f"{endpoint}/{REPO}/blob/{SHA}/config.json")
    assert seen == [f"HEAD /{REPO}/resolve/main/config.json", f"GET /{REPO}/resolve/{SHA}/config.json"]

    other = browser.new_page()  # a second visitor: served from the cache, no Hub request
    other.goto(f"{url}/try?repo={REPO}")
    wait_for_app(other)
    expect(other.get_by_text(re.compile(f"commit {SHA}"))).to_be_visible()
    assert len(seen) == 2
    other.close()


def test_a_pasted_hub_url_becomes_a_shareable_link(page, hub_app):
    url, _, _ = hub_app
    page.goto(f"{url}/try?mode=a+Hub+repo")
    wait_for_app(page)
    box = page.get_by_test_id("stTextInput").filter(has_text="Hub repo id or URL").locator("input")
    box.fill(f"https://huggingface.co/{REPO}/tree/{SHA}")
    box.press("Enter")
    page.wait_for_url(re.compile(f"repo={re.escape(REPO.replace('/', '%2F'))}.*revision={SHA}|"
                                 f"revision={SHA}.*repo={re.escape(REPO.replace('/', '%2F'))}"))
    wait_for_app(page)
    _no_exception(page)
    expect(page.locator(".gallery-diagram svg").first).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name=f"{REPO}@{SHA}")).to_be_visible()  # recently opened


def test_a_gated_repo_says_so_and_pasting_still_works(page, hub_app):
    url, _, _ = hub_app
    page.goto(f"{url}/try?repo=meta-llama/Llama-3.1-8B")
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("meta-llama/Llama-3.1-8B is gated")
    _paste_and_see_the_diagram(page)


def test_without_a_hub_the_page_says_so_and_pasting_still_works(page, app_url):
    page.goto(f"{app_url}/try?repo={REPO}")  # the suite's server runs with HF_HUB_OFFLINE=1
    wait_for_app(page)
    _no_exception(page)
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("cannot reach the Hub")
    _paste_and_see_the_diagram(page)


def _paste_and_see_the_diagram(page) -> None:
    page.get_by_test_id("stButtonGroup").get_by_text("paste or upload", exact=True).click()
    wait_for_app(page)
    area = page.get_by_test_id("stTextArea").locator("textarea")
    area.fill(CONFIG.decode())
    area.press("Control+Enter")
    wait_for_app(page)
    _no_exception(page)
    expect(page.locator(".gallery-diagram svg").first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
