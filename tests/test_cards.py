"""views/cards.py: the Gallery's cards as one HTML element. A stranger's text stays text; the facts are the
config's; the links open the model's page and Compare in the same tab."""

import xml.etree.ElementTree as ET
from dataclasses import replace

from gallery.catalog import cards as make_cards
from views import cards

EVIL = '<img src=x onerror=alert(1)> & "q" :material/home: [x](javascript:alert(1)) \n\n# not a heading'


def test_a_strangers_text_on_a_card_stays_text(bundled):
    [k] = make_cards([bundled["gpt-oss-20b"][0]])
    sent = cards.grid([replace(k, name=EVIL, organisation=EVIL, pattern=EVIL, published=EVIL)])
    assert "\n" not in sent  # a blank line would end Markdown's HTML block: the rest would be read as Markdown
    assert ":material/" not in sent  # Streamlit would turn it into an icon, even inside HTML
    grid = ET.fromstring(sent)
    assert {e.tag for e in grid.iter()} == {"div", "strong", "br", "p", "span", "a"}  # no <em>: see cards.PATTERN
    shown = "".join(grid.itertext())
    assert shown.count(" ".join(EVIL.split())) == 4  # name, organisation, pattern, published: each as written
    assert [a.get("href") for a in grid.iter("a")] == ["model?model=gpt-oss-20b", "compare?models=gpt-oss-20b"]


def test_a_card_says_the_configs_facts_and_links_its_model(bundled):
    spec, config = bundled["qwen3-8b"]
    [card] = ET.fromstring(cards.grid(make_cards([spec])))
    shown = " ".join(card.itertext())
    assert card.find("strong").text == spec.name and f"{spec.organisation} · {spec.release_date}" in shown
    assert f"{config['num_hidden_layers']} layers · d_model {config['hidden_size']:,}" in shown
    links = {a.text: (a.get("href"), a.get("target")) for a in card.iter("a")}
    assert links == {"Open →": ("model?model=qwen3-8b", "_self"),
                     "Compare with…": ("compare?models=qwen3-8b", "_self")}


def test_cards_fill_the_rows_of_one_grid(bundled):
    specs = [s for s, _ in bundled.values()][:7]
    grid = ET.fromstring(cards.grid(make_cards(specs)))
    assert grid.get("class") == "gallery-cards" and "grid-template-columns" in grid.get("style")
    assert [c.find("strong").text for c in grid] == [s.name for s in specs]
