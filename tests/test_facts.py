"""views/facts.py: a model's headline figures as one HTML element. The exact figures are transformers' and the
config's; what each counts is said in a tooltip and in a disclosure under them; text stays text."""

import xml.etree.ElementTree as ET

from gallery.published import CONVENTIONS
from views import facts, markup

from .conftest import page_facts
from .test_app import _app


def test_the_model_page_opens_with_the_exact_figures(bundled):
    spec, config = bundled["llama-2-7b-hf"]
    shown = page_facts(_app("views/model.py", model="llama-2-7b-hf"))
    assert shown["Total parameters"][:2] == ("6.74B", "6,738,415,616")  # transformers' count (tests/test_counts.py)
    assert shown["Total parameters"][2] == CONVENTIONS["total"]
    assert shown["Layers"][0] == str(config["num_hidden_layers"])
    # By hand: 32 layers × 2 (K and V) × 32 KV heads × 128 dims × 2 bytes = 524,288 bytes a token.
    assert shown["KV cache / token (bf16)"][:2] == ("512 KiB", "524,288 bytes")
    assert shown["Context"][:2] == (f"{config['max_position_embeddings']:,}", "max_position_embeddings")


def test_what_each_figure_counts_is_in_a_disclosure_too():
    row = ET.fromstring(facts.row([facts.Fact("Total parameters", "1B", "1,000,000,000", "Every parameter.")],
                                  (markup.link("Trace →", "trace", slug="x"),)))
    details = row.find("details")
    assert details.find("summary").text == "What these figures count"
    assert "".join(details.find("ul").itertext()) == "Total parameters: Every parameter."
    [link] = row.iter("a")
    assert (link.get("href"), link.get("target"), link.text) == ("trace?slug=x", "_self", "Trace →")


def test_a_strangers_text_in_a_figure_stays_text():
    evil = '<img src=x onerror=alert(1)> "q" :material/home: \n\n# not a heading'
    sent = facts.row([facts.Fact("Model type", evil, evil, evil)])
    assert "\n" not in sent and ":material/" not in sent
    row = ET.fromstring(sent)
    assert "img" not in {e.tag for e in row.iter()}
    cell = row[0][0]
    assert cell.get("title") == cell[1].text == cell[2].text == " ".join(evil.split())
