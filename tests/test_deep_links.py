"""views/deep_links.py: the HTML of a page opened by its own URL says where the server is; nothing else changes.

Driven as ASGI against Streamlit's own static-file app (the one that answers a page's URL with its ``index.html``)
behind Streamlit's own gzip middleware, as in its server's stack. What the script does in a browser, and that a
page then never asks for ``<page>/_stcore/health``: tests/e2e/test_deep_links_e2e.py.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest
import streamlit
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from streamlit.testing.v1.util import patch_config_options
from streamlit.web.server.starlette.starlette_gzip_middleware import SelectiveGZipMiddleware
from streamlit.web.server.starlette.starlette_static_routes import create_streamlit_static_handler

from views.deep_links import DeepLinks, page_path, script

STATIC = Path(streamlit.__file__).parent / "static"
INDEX = (STATIC / "index.html").read_bytes()
SCRIPT_JS = next((STATIC / "static" / "js").glob("index.*.js"))


def _served() -> Starlette:
    """Streamlit's static files mounted at the root, DeepLinks first and Streamlit's gzip after it, as st.App stacks
    a user's middleware before its own."""
    return Starlette(routes=[Mount("/", app=create_streamlit_static_handler(str(STATIC), None))],
                     middleware=[Middleware(DeepLinks), Middleware(SelectiveGZipMiddleware, minimum_size=500,
                                                                   compresslevel=6)])


def request(path: str, gzip_ok: bool = True) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a browser's GET of ``path`` from :func:`_served`, its body unzipped if it came
    zipped."""
    headers = [(b"host", b"gallery.test"), (b"accept", b"text/html")]
    if gzip_ok:
        headers.append((b"accept-encoding", b"gzip"))
    scope = {"type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
             "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "server": ("gallery.test", 80), "client": ("127.0.0.1", 5000)}
    sent, asked = [], []

    async def receive():  # the request once; then, as a client does, nothing until the response is complete
        asked.append(1)
        if len(asked) == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    async def run():
        nonlocal done
        done = asyncio.Event()
        await _served()(scope, receive, send)

    done: asyncio.Event
    asyncio.run(asyncio.wait_for(run(), 30))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    if head.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return start["status"], head, body


@pytest.mark.parametrize("path", ["/model", "/trace", "/compare", "/try", "/tree", "/no-such-page"])
def test_a_pages_html_names_the_server_first_in_its_head(path):
    status, head, body = request(path)
    expected = INDEX.replace(b"<head>", b"<head>" + script(path), 1)
    assert status == 200 and body == expected  # the rest of Streamlit's index.html byte for byte
    assert body.index(script(path)) < body.index(b'<script type="module"')  # before the bundle reads it
    assert head["content-length"] == str(len(expected))
    assert "content-encoding" not in head and "etag" not in head and "last-modified" not in head
    assert head["content-type"].startswith("text/html") and head["cache-control"] == "no-cache"


def test_the_script_names_the_page_as_json():
    assert script("/model") == (
        b'<script>(() => { const path = location.pathname, page = "/model"; if (path.endsWith(page)) '
        b"window.__streamlit = Object.assign({}, window.__streamlit, "
        b"{BACKEND_BASE_URL: location.origin + path.slice(0, path.length - page.length)}); })();</script>")
    assert b'page = "/a\\"b";' in script('/a"b')


@pytest.mark.parametrize("path", ["/</script><script>alert(1)</script>", "/<!--", "/a&amp;b", "/\u2028x"])
def test_no_path_can_close_the_script_or_open_markup(path):
    body = script(path)
    plain = script("/model")  # its only < > & are the script's own
    assert [body.count(c) for c in (b"<", b">", b"&")] == [plain.count(c) for c in (b"<", b">", b"&")]


def test_the_root_and_streamlits_own_files_pass_through_untouched():
    status, head, body = request("/", gzip_ok=False)
    assert status == 200 and body == INDEX and "etag" in head  # the root needs no hint: Streamlit asks there first
    status, head, body = request(f"/static/js/{SCRIPT_JS.name}")
    assert status == 200 and body == SCRIPT_JS.read_bytes()
    status, _, body = request("/model/_stcore/health")  # the guess Streamlit makes without the hint: still a 404
    assert status == 404 and b"__streamlit" not in body


@pytest.mark.parametrize(("path", "method", "root", "base", "page"), [
    ("/model", "GET", "", "", "/model"),
    ("/model/", "GET", "", "", "/model"),
    ("/", "GET", "", "", None),
    ("/model", "POST", "", "", None),
    ("/model", "HEAD", "", "", None),
    ("/_stcore/health", "GET", "", "", None),
    ("/media/abc.png", "GET", "", "", None),
    ("/component/x/index.html", "GET", "", "", None),
    ("/static/js/index.js", "GET", "", "", None),
    ("/app/static/file.html", "GET", "", "", None),
    ("/gallery/model", "GET", "", "gallery", "/model"),
    ("/gallery", "GET", "", "/gallery/", None),
    ("/other/model", "GET", "", "gallery", None),
    ("/galleryx/model", "GET", "", "gallery", None),
    ("/mount/model", "GET", "/mount", "", "/model"),
])
def test_which_requests_are_pages(path, method, root, base, page):
    with patch_config_options({"server.baseUrlPath": base}):
        assert page_path({"type": "http", "method": method, "path": path, "root_path": root}) == page


def test_a_websocket_is_not_a_page():
    assert page_path({"type": "websocket", "path": "/_stcore/stream", "root_path": ""}) is None
