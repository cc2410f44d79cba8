"""views/markup.py: the one module that sends HTML, and what it sends stays text."""

import xml.etree.ElementTree as ET

import pandas as pd
from streamlit.testing.v1 import AppTest

from .test_app import _app

EVIL = '<img src=x onerror=alert(1)> & "q" \n\n# not a heading'


def _sent_table(frame: pd.DataFrame, **options) -> str:
    def page(frame, options):
        from views import markup
        markup.table(frame, **options)

    at = AppTest.from_function(page, args=(frame, options)).run()
    assert not at.exception
    [sent] = [m.value for m in at.markdown]
    return sent


def test_a_table_is_sent_as_escaped_html_on_one_line():
    frame = pd.DataFrame([[EVIL, "8.03B"], ["rmsnorm", EVIL]], columns=["your-model", EVIL],
                         index=pd.MultiIndex.from_tuples([("Norms", EVIL), ("Norms", "eps")], names=["group", "field"]))
    sent = _sent_table(frame)
    assert "\n" not in sent  # a blank line would end Markdown's HTML block
    box = ET.fromstring(sent)
    assert {e.tag for e in box.iter()} == {"div", "style", "table", "thead", "tbody", "tr", "th", "td"}
    table = box.find("table")
    cells = ["".join(c.itertext()) for c in table.iter() if c.tag in ("th", "td")]
    shown = [c for c in cells if "onerror" in c]  # pandas writes a value's line breaks as \n, a header's as a space
    assert len(shown) == 4 and all(c.startswith('<img src=x onerror=alert(1)> & "q" ') for c in shown)
    assert all(c.endswith("# not a heading") for c in shown) and {"8.03B", "rmsnorm", "Norms"} <= set(cells)


def test_the_try_page_sends_its_comparison_as_an_html_table():
    at = _app("views/try.py", base="llama-2-7b-hf", **{"with": "gpt2"})
    assert not at.exception and not at.table
    [sent] = [m.value for m in at.markdown if "<table" in m.value]
    table = ET.fromstring(sent).find("table")
    header = ["".join(c.itertext()) for c in table.find("thead").find("tr")]
    assert header[-2:] == ["your-model", "GPT-2 (124M)"]
    rows = {tuple("".join(c.itertext()) for c in tr)[-3:] for tr in table.find("tbody")}
    assert ("total", "6.74B", "124M") in rows  # 6,738,415,616 and 124,439,808 (transformers, tests/test_counts.py)


def test_integer_columns_are_written_with_separators_and_aligned_right_and_shapes_kept_on_one_line():
    frame = pd.DataFrame({"op": ["q_proj", EVIL], "in": ["(16, 4096)", "(8, 16, 128)"], "params": [16777216, 0]})
    box = ET.fromstring(_sent_table(frame, index=False, one_line=["in"]))
    table = box.find("table")
    assert [c.text for c in table.find("thead").iter("th")] == ["op", "in", "params"]  # no row headers
    shown = EVIL.replace("\n", "\\n")  # as in the test above
    assert [[c.text for c in tr] for tr in table.find("tbody")] == [["q_proj", "(16, 4096)", "16,777,216"],
                                                                     [shown, "(8, 16, 128)", "0"]]
    name, style = box.get("class"), box.find("style").text  # the rules name this table's class, and its columns
    assert f".{name} td:nth-of-type(3){{white-space:nowrap;text-align:right;}}" in style
    assert f".{name} thead th:nth-of-type(3){{text-align:right;}}" in style
    assert f".{name} td:nth-of-type(2){{white-space:nowrap;}}" in style and "nth-of-type(1)" not in style
    assert style.count("{") == style.count(f".{name} ")  # every rule scoped to the table: none reaches the page


def test_a_matrix_of_numbers_keeps_its_decimals_and_every_cell_is_aligned_right_by_one_rule():
    frame = pd.DataFrame([[0.125, -1.5], [2.0, 0.0001]])  # a toy's values (views/trace.py rounds them to 4 places)
    box = ET.fromstring(_sent_table(frame))
    rows = [[c.text for c in tr] for tr in box.find("table").find("tbody")]
    assert rows == [["0", "0.125", "-1.5000"], ["1", "2.000", "0.0001"]]  # row header; pandas' decimals, a column each
    name, style = box.get("class"), box.find("style").text
    assert f".{name} td{{white-space:nowrap;text-align:right;}}" in style and "nth-of-type" not in style
