"""views/markup.py: the one module that sends HTML, and what it sends stays text."""

import xml.etree.ElementTree as ET

import pandas as pd
from streamlit.testing.v1 import AppTest

from .test_app import _app

EVIL = '<img src=x onerror=alert(1)> & "q" \n\n# not a heading'


def _sent_table(frame: pd.DataFrame) -> str:
    def page(frame):
        from views import markup
        markup.table(frame)

    at = AppTest.from_function(page, args=(frame,)).run()
    assert not at.exception
    [sent] = [m.value for m in at.markdown]
    return sent


def test_a_table_is_sent_as_escaped_html_on_one_line():
    frame = pd.DataFrame([[EVIL, "8.03B"], ["rmsnorm", EVIL]], columns=["your-model", EVIL],
                         index=pd.MultiIndex.from_tuples([("Norms", EVIL), ("Norms", "eps")], names=["group", "field"]))
    sent = _sent_table(frame)
    assert "\n" not in sent  # a blank line would end Markdown's HTML block
    table = ET.fromstring(sent)
    assert {e.tag for e in table.iter()} == {"table", "thead", "tbody", "tr", "th", "td"}
    cells = ["".join(c.itertext()) for c in table.iter() if c.tag in ("th", "td")]
    shown = [c for c in cells if "onerror" in c]  # pandas writes a value's line breaks as \n, a header's as a space
    assert len(shown) == 4 and all(c.startswith('<img src=x onerror=alert(1)> & "q" ') for c in shown)
    assert all(c.endswith("# not a heading") for c in shown) and {"8.03B", "rmsnorm", "Norms"} <= set(cells)


def test_the_try_page_sends_its_comparison_as_an_html_table():
    at = _app("views/try.py", base="llama-2-7b-hf", **{"with": "gpt2"})
    assert not at.exception and not at.table
    [sent] = [m.value for m in at.markdown if m.value.startswith("<table")]
    table = ET.fromstring(sent)
    header = ["".join(c.itertext()) for c in table.find("thead").find("tr")]
    assert header[-2:] == ["your-model", "GPT-2 (124M)"]
    rows = {tuple("".join(c.itertext()) for c in tr)[-3:] for tr in table.find("tbody")}
    assert ("total", "6.74B", "124M") in rows  # 6,738,415,616 and 124,439,808 (transformers, tests/test_counts.py)
