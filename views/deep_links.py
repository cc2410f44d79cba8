"""A page opened by its own URL (``/model``, a shared link) connects to the server at once.

Streamlit's page does not know where its server is mounted, so it guesses: opened at ``/model`` it asks
``/model/_stcore/health`` first, gets a 404, waits 100 ms, then asks ``/_stcore/health`` (``PD`` and ``VD`` in
Streamlit 1.67's frontend bundle; streamlit/streamlit#7074, open). Every page but the Gallery, which is served at
``/``, paid that at every load: ~110 ms, about a quarter of a warm load of the one-line floor app. The benchmark
(README, "Performance"; 7 loads each, the app before this middleware served beside it), warm against the floor,
before → after: Model 1.82× → 1.74×, Trace 1.92× → 1.83×, Try 2.21× → 1.84×, the family tree 1.55× → 1.25×.

The page reads where its server is from ``window.__streamlit.BACKEND_BASE_URL`` when that is set before its
bundle runs: the hook Streamlit gives hosts that embed it (``_D.BACKEND_BASE_URL`` in the bundle; only the
server probe and media cross-origin checks read it). :class:`DeepLinks` sets it in the HTML of every page
but the root, to the address Streamlit itself tries second: the page's address without the page's own path.
That is computed in the browser, so a proxy that serves the app under a prefix of its own keeps working; when
the address does not end with the page's path the script sets nothing and Streamlit guesses as before.

Written here because no maintained library does it: it is one ASGI middleware (the interface Streamlit's
``st.App`` takes, ``gallery_server.py``), typed with Starlette's ASGI types.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit import config

# First path segments Streamlit serves itself (its reserved route prefixes, and the app's static folder): never a page.
RESERVED = frozenset({"_stcore", "media", "component", "static", "app"})
SCRIPT = ("<script>(() => {{ const path = location.pathname, page = {page};"
          " if (path.endsWith(page)) window.__streamlit = Object.assign({{}}, window.__streamlit,"
          " {{BACKEND_BASE_URL: location.origin + path.slice(0, path.length - page.length)}}); }})();</script>")


def page_path(scope: Scope) -> str | None:
    """The page a GET request asks for, as ``/model``; None for the root and for what is not a page."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    path = scope["path"].removeprefix(scope.get("root_path", "")).strip("/")
    if base:
        if path != base and not path.startswith(base + "/"):
            return None
        path = path.removeprefix(base).strip("/")
    if not path or path.split("/", 1)[0] in RESERVED:
        return None
    return "/" + path


def script(page: str) -> bytes:
    """The ``<script>`` that sets ``BACKEND_BASE_URL`` for ``page`` (``/model``), as the HTML carries it.

    The page's path is the request's, decoded: a stranger's URL. It is written as a JSON string with ``<``, ``>``
    and ``&`` escaped too, so no path can close the script or open markup (``json.dumps`` alone leaves them).
    """
    literal = json.dumps(page).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return SCRIPT.format(page=literal).encode()


class DeepLinks:
    """ASGI middleware: :func:`script` first in the ``<head>`` of the HTML of every page but the root.

    The HTML (Streamlit's ``index.html``, ~5 KB) is asked for uncompressed and rewritten whole; its length is set
    anew, and its ETag and Last-Modified are dropped (they name the file, not this text). Every other response
    passes through as it comes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = page_path(scope)
        if page is None:
            await self.app(scope, receive, send)
            return
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: Message = {}
        body: list[bytes] = []

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message["headers"])
                if message["status"] == 200 and headers.get(b"content-type", b"").startswith(b"text/html"):
                    start.update(message)  # held until the whole body is here
                    return
            if not start or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            html = b"".join(body).replace(b"<head>", b"<head>" + script(page), 1)
            headers = [(k, v) for k, v in start["headers"]
                       if k.lower() not in (b"content-length", b"etag", b"last-modified")]
            await send({**start, "headers": [*headers, (b"content-length", str(len(html)).encode())]})
            await send({"type": "http.response.body", "body": html})

        await self.app(scope, receive, rewrite)
