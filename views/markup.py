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
(it reuses the HTML parser the diagram already loaded). The Trace page's steps (27-92 rows of nine columns) as a data
grid 1.69× / 2.25×, as this HTML 1.47× / 2.16× (9 loads each, one run); the grid also cut long formulas short. Its
toy's values (a table or two per step, ~40 in all): the page with the toy open 4.1 s cold / 2.5 s warm with grids,
3.6 s / 2.0 s as this HTML (7 loads each, one run).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype
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


def table(frame: pd.DataFrame, index: bool = True, one_line: Iterable[str] = ()) -> None:
    """``frame`` as a static HTML table, its (multi-)index as row headers unless not ``index``; every text escaped,
    on one line (a blank line would end Markdown's HTML block, and the rest would be read as Markdown), in a type a
    little smaller than the text's, long words broken rather than widening the page, in a box that scrolls sideways
    when the table is wider still.

    Number columns are aligned right, on one line (magnitudes line up), integers written with thousands separators;
    ``one_line``: text columns whose cells do not wrap either (shapes), so the others (formulas) take the wrapping.
    """
    numbers = [c for c in frame.columns if is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c])]
    markup = frame.to_html(border=0, escape=True, index=index, justify="left",
                           formatters={c: "{:,}".format for c in numbers if is_integer_dtype(frame[c])})
    rules = ["table{font-size:0.875em;}", "th{padding:0.25rem 0.5rem;}",
             "td{padding:0.25rem 0.5rem;overflow-wrap:anywhere;}"]
    if numbers and len(numbers) == len(frame.columns):  # a matrix of numbers: one rule for every cell
        rules += ["td{white-space:nowrap;text-align:right;}", "thead th{text-align:right;}"]
    else:
        for c in dict.fromkeys(numbers + list(one_line)):
            td = frame.columns.get_loc(c) + 1  # the column's place among a row's <td>s; its header's among <th>s:
            th = td + (frame.index.nlevels if index else 0)
            rules.append(f"td:nth-of-type({td}){{white-space:nowrap;{'text-align:right;' * (c in numbers)}}}")
            if c in numbers:
                rules.append(f"thead th:nth-of-type({th}){{text-align:right;}}")
    name = "gallery-table-" + hashlib.sha1("".join(rules).encode()).hexdigest()[:8]  # one class a layout, every run
    style = "".join(f".{name} {rule}" for rule in rules)
    show(f'<div class="{name}" style="overflow-x:auto;"><style>{style}</style>{markup}</div>'.replace("\n", " "))
