"""How the pages show diagrams: laid out by Graphviz's ``dot`` on the server and sent as inline SVG.

The browser then only draws an SVG (no Graphviz-WASM layout, issue 17), its text stays text (selectable,
found by the page search), and the figure keeps its natural size (1 pt = 4/3 px, labels ≥ 12 px high)
in a box that scrolls when it is wider than the page, never shrunk to fit (issue 16). Where ``dot`` is
missing the browser lays the diagram out with ``st.graphviz_chart``, and a caption says why.
"""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor

import streamlit as st

from gallery.render import INSTALL_HINT, RenderError, dot_available, page_svg

BOX = "overflow:auto;max-height:92vh;"  # both scroll bars stay on screen for a tall, wide figure
ROW = "display:flex;gap:24px;align-items:flex-end;width:max-content;"  # bottoms (the embeddings) aligned


def show(dot: str, alt: str) -> None:
    """One diagram at its natural size."""
    show_row([(dot, alt)])


def show_row(figures: list[tuple[str, str]]) -> None:
    """Diagrams ``(dot, alt)`` side by side at the same scale, in one box that scrolls sideways."""
    try:
        with ThreadPoolExecutor(max_workers=len(figures)) as pool:  # one dot process per figure, in parallel
            svgs = list(pool.map(page_svg, [dot for dot, _ in figures])) if dot_available() else None
        reason = f"Graphviz `dot` is not installed on the server ({INSTALL_HINT})"
    except RenderError as exc:
        svgs, reason = None, str(exc)
    if svgs is None:
        for col, (dot, alt) in zip(st.columns(len(figures)), figures):
            col.graphviz_chart(dot, width="stretch", alt=alt)
        st.caption(f"Laid out in your browser and fitted to the page: {reason}.")
        return
    items = "".join(f'<div role="figure" aria-label="{html.escape(alt)}">{svg}</div>'
                    for svg, (_, alt) in zip(svgs, figures))
    st.markdown(f'<div class="gallery-diagram" style="{BOX}"><div style="{ROW}">{items}</div></div>',
                unsafe_allow_html=True)
