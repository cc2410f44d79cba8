"""How the pages show diagrams: laid out by Graphviz's ``dot`` on the server and sent as inline SVG.

The browser then only draws an SVG (no Graphviz-WASM layout, issue 17), its text stays text (selectable,
found by the page search), and the figure keeps its natural size (1 pt = 4/3 px, labels ≥ 12 px high)
in a box that scrolls when it is wider than the page, never shrunk to fit (issue 16). Where ``dot`` is
missing the browser lays the diagram out with ``st.graphviz_chart``, and a caption says why.
:func:`downloads` offers the same drawing as slide exports (``gallery.render``: SVG, PNG, PDF).

A figure reaches the page in one of two ways, chosen by its size (:data:`LARGE`), because their costs grow
differently. As HTML in Markdown, JavaScript parses it (``rehype-raw``) into one React element per SVG node: the
family tree of 1,000 models (2.2 MB, 31,000 SVG elements) took 4.9 s to load warm and 5.6 s cold. Through a
Streamlit component (``st.components.v2``, mounted in the page, not an iframe) whose few lines of JavaScript let the
browser's own parser build it (:data:`MOUNT`), the same tree took 1.9 s and 3.3 s (headless Chromium, 3 loads each,
the same server state). For a small diagram neither way is faster: Llama 3.1 8B's (12 KB) 1.46× / 2.36× the floor as
Markdown, 1.47× / 2.24× mounted (cold / warm, 9 loads each, one run). From a few tens of KB the component is: the
4-model comparison figure (82 KB) 1.48× / 2.90× → 1.37× / 2.62× and 1.49× / 2.56× → 1.43× / 2.42× in two
runs, Step 3.5 Flash's diagram (78 KB) 1.59× / 2.79× → 1.50× / 2.44× (every element of the page drawn:
``bench.browser.wait_drawn``). Small figures stay Markdown, as the Try page's table and the headline figures do
(``views/markup.py``). Why not ``st.html``: it cleans what it is given with DOMPurify's HTML-only profile, which
drops SVG; and a component's JavaScript cannot import the DOMPurify Streamlit bundles, so :data:`MOUNT` drops what
could run itself.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import streamlit as st

from gallery.diagram import THEMES
from gallery.render import FORMATS, INSTALL_HINT, RenderError, dot_available, page_svg, render
from views import markup
from views.common import lazy_panel, rejected, say_rejected

MOUNT = """
export default function ({ parentElement, data }) {
  // Parsed in an inert document, so nothing in it runs; what could run once in the page is dropped.
  const doc = new DOMParser().parseFromString(data, "text/html");
  doc.querySelectorAll("script, foreignObject, iframe, object, embed").forEach((node) => node.remove());
  for (const node of doc.body.querySelectorAll("*")) {
    for (const { name, value } of [...node.attributes]) {
      if (name.startsWith("on") || /^\\s*javascript:/i.test(value)) node.removeAttribute(name);
    }
  }
  parentElement.replaceChildren(...doc.body.childNodes);
}
"""
_FIGURE = st.components.v2.component("gallery.figure", js=MOUNT, isolate_styles=False)  # in the page's own DOM
LARGE = 32 * 1024  # characters of markup above which a figure is mounted by _FIGURE, not sent as Markdown
BOX = "overflow:auto;max-height:92vh;"  # both scroll bars stay on screen for a tall, wide figure
ROW = "display:flex;gap:24px;align-items:flex-end;width:max-content;"  # bottoms (the embeddings) aligned


def show(dot: str, alt: str) -> None:
    """One diagram at its natural size."""
    show_row([(dot, alt)])


def show_row(figures: list[tuple[str, str]]) -> None:
    """Diagrams ``(dot, alt)`` side by side at the same scale, in one box that scrolls sideways."""
    start_row(figures)()


def start_row(figures: list[tuple[str, str]]) -> Callable[[], None]:
    """:func:`show_row`, in two steps: ``dot`` starts laying the diagrams out now (one process per figure, in
    parallel) in a place kept for them here; the function returned draws them there once they are laid out.
    The page builds the rest of itself in between (the Compare page its table, while ``dot`` runs)."""
    slot = st.empty()
    pool = ThreadPoolExecutor(max_workers=len(figures))
    laid = [pool.submit(page_svg, dot) for dot, _ in figures] if dot_available() else None
    pool.shutdown(wait=False)

    def draw() -> None:
        try:
            svgs = [f.result() for f in laid] if laid is not None else None
            reason = f"Graphviz `dot` is not installed on the server ({INSTALL_HINT})"
        except RenderError as exc:
            svgs, reason = None, str(exc)
        if svgs is None:
            with slot.container():
                for col, (dot, alt) in zip(st.columns(len(figures)), figures):
                    col.graphviz_chart(dot, width="stretch", alt=alt)
                st.caption(f"Laid out in your browser and fitted to the page: {reason}.")
            return
        items = "".join(f'<div role="figure" aria-label="{html.escape(alt)}">{svg}</div>'
                        for svg, (_, alt) in zip(svgs, figures))
        box = f'<div class="gallery-diagram" style="{BOX}"><div style="{ROW}">{items}</div></div>'
        if len(box) > LARGE:
            with slot.container():
                _FIGURE(data=box)
        else:
            markup.show(box, slot)

    return draw


def themed(key: str, stem: str, dot_of: Callable[[str], str]) -> str:
    """The DOT to draw, ``dot_of(theme)``, in the theme chosen in a panel "Theme and slide exports" that also
    offers it as SVG, PNG and PDF into ``<stem>-<theme>.<format>``; light while the panel is closed (``lazy_panel``).
    ``key`` is the theme's URL parameter: a URL that names a theme opens the panel."""
    panel = lazy_panel("Theme and slide exports", f"{key}-panel", ":material/palette:", [key])
    if panel is None:
        return dot_of("light")
    with panel:
        say_rejected(rejected(**{key: THEMES.__contains__}), "drawn in the light theme")
        theme = st.segmented_control("Diagram theme", list(THEMES), default="light", key=key,
                                     bind="query-params") or "light"
        dot = dot_of(theme)
        downloads(dot, f"{stem}-{theme}", key)
    return dot


@st.fragment
def downloads(dot: str, stem: str, key: str) -> None:
    """SVG, PNG (at the scale chosen beside them) and PDF download buttons for ``dot``, rendered when clicked
    (cached by DOT) into ``<stem>.<format>``; ``key`` keeps the buttons of one page apart. A fragment: choosing
    the PNG scale reruns these buttons only."""
    if not dot_available():
        st.info(f"Exports need Graphviz's `dot` on the server ({INSTALL_HINT}).")
        return
    cols = st.columns(len(FORMATS) + 2)  # the buttons, the PNG scale, room
    scale = cols[len(FORMATS)].selectbox("PNG scale", [2, 3, 4], key=f"{key}-scale", label_visibility="collapsed",
                                         format_func=lambda x: f"PNG at {x}×", help="PNG pixel density (× 96 dpi)")

    def data(fmt: str) -> bytes:
        try:
            return render(dot, fmt, scale)
        except RenderError as exc:
            return str(exc).encode()

    for col, (fmt, mime) in zip(cols, FORMATS.items()):
        col.download_button(f"Download {fmt.upper()}", data=lambda fmt=fmt: data(fmt), file_name=f"{stem}.{fmt}",
                            mime=mime, on_click="ignore", key=f"{key}-{fmt}", icon=":material/download:")
