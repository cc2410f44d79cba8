"""The one place a page sends HTML instead of Markdown: markup the server built, every text in it escaped.

Streamlit shows HTML in Markdown as text unless a page opts in (``unsafe_allow_html``). The markup that opts in,
all through :func:`show`: Graphviz's SVG (every text XML-escaped by ``dot``; ``views/diagrams.py``), a small static
table (:func:`table`, every text HTML-escaped by pandas), the Gallery's cards (``views/cards.py``) and a model's
headline figures (``views/facts.py``), their texts escaped by :func:`text`. ``tests/test_app.py`` checks that no other
module opts in; it and ``tests/test_markup.py`` check that a stranger's text stays text in both.

Why a table as HTML: ``st.table`` draws each cell as a React element after loading ~1 MB of Arrow formatting code,
and ``st.dataframe`` loads the data grid (~1.2 MB). The Try page's two-column comparison (~70 rows) measured in
headless Chromium against the floor app, 5 loads each in one run, every element drawn: ``st.table`` 1.96× cold /
3.44× warm, ``st.dataframe`` 1.98× / 2.79×, a Markdown pipe table 1.79× / 2.38×, this HTML 1.60× / 2.19×
(it reuses the HTML parser the diagram already loaded).
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator


def show(markup: str, where: DeltaGenerator | None = None) -> None:
    """``markup`` (built by the server, every text in it escaped) as HTML, in ``where`` or the page."""
    (where or st).markdown(markup, unsafe_allow_html=True)


def text(value: object) -> str:
    """``value`` as HTML text: on one line (a blank line would end Markdown's HTML block, and the rest would be
    read as Markdown), escaped, and ``:`` written as a character reference (Streamlit rewrites ``:material/…:`` in
    a Markdown element's whole source, HTML included)."""
    return html.escape(" ".join(str(value).split())).replace(":", "&#58;")


QUIET = "opacity:0.65;font-size:0.875em;overflow-wrap:anywhere;"  # a caption's look, for a line under a figure


def link(label: str, page: str, **query: str) -> str:
    """A link to the app's ``page`` (its URL path, relative to the app's root, where the Gallery is served) with
    ``query``, opened in the same tab: Streamlit opens a link in Markdown in a new tab unless it names its target."""
    return f'<a href="{html.escape(page + "?" + urlencode(query))}" target="_self">{text(label)}</a>'


def table(frame: pd.DataFrame) -> None:
    """``frame`` as a static HTML table, its (multi-)index as row headers; every text escaped, on one line (a
    blank line would end Markdown's HTML block, and the rest would be read as Markdown)."""
    show(frame.to_html(border=0, escape=True).replace("\n", " "))
