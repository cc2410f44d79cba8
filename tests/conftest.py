"""Shared fixtures: the bundled specs, and the folders of real configs (all inside the repository)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "arch_specs"
SPEC_FILES = sorted(SPEC_DIR.glob("*.yaml"))
BASE = "smollm2-135m-instruct"  # the spec the lint and hostile-input tests break, line by line
SVG = "{http://www.w3.org/2000/svg}"
CONFIGS = SPEC_DIR / "configs"  # each bundled spec's vendored config.json, named by its slug
FIXTURES = ROOT / "tests" / "fixtures"  # what the tests need that no spec bundles (its README says where from)


def spec_ids():
    return [p.stem for p in SPEC_FILES]


def _raw():
    from gallery.loader import load_spec

    out = {}
    for path in SPEC_FILES:
        loaded = load_spec(path)
        assert loaded.spec is not None, loaded.problems
        out[loaded.spec.slug] = (loaded.spec, json.loads((path.parent / loaded.spec.source.config).read_text()))
    return out


def language_model_config(config: dict) -> dict:
    """The language model's config: itself, or for a multimodal wrapper (Gemma 3, Kimi K2.5) the
    text config as transformers resolves it (every default filled in by the text config class), with the wrapper keys
    its family reads."""
    if "text_config" not in config:
        return config
    import transformers

    wrapper = transformers.CONFIG_MAPPING[config["model_type"]].from_dict(config)
    # The head is the wrapper's (Qwen3VLForConditionalGeneration.lm_head): tied as the wrapper's own
    # tie_word_embeddings says (get_expanded_tied_weights_keys reads the wrapper model's config); MllamaConfig has no
    # such flag (nothing ties in Mllama's classes). The wrapper's keys the text family reads go along (Mllama's
    # vision_config, for the image tokens).
    from gallery.derive import family_for

    text = wrapper.get_text_config().to_dict()
    along = {k: config[k] for k in family_for(text).wrapper_keys if k in config}
    return text | along | {"tie_word_embeddings": getattr(wrapper, "tie_word_embeddings", False)}


@pytest.fixture(scope="session")
def bundled_raw():
    """slug → (Spec, vendored config.json exactly as stored) for every bundled spec."""
    return _raw()


@pytest.fixture(scope="session")
def bundled(bundled_raw):
    """slug → (Spec, the language model's config) for every bundled spec (see language_model_config)."""
    return {slug: (spec, language_model_config(config)) for slug, (spec, config) in bundled_raw.items()}


@pytest.fixture
def folder(tmp_path):
    """A spec folder holding a copy of the BASE spec and its vendored config."""
    shutil.copy(SPEC_DIR / f"{BASE}.yaml", tmp_path / f"{BASE}.yaml")
    (tmp_path / "configs").mkdir()
    shutil.copy(SPEC_DIR / "configs" / f"{BASE}.json", tmp_path / "configs" / f"{BASE}.json")
    return tmp_path


def page_figures(at) -> list[str]:
    """The markup of the diagrams an AppTest page sent (drawn on the server; views/diagrams.py sends a small one as
    Markdown, mounts a large one)."""
    return [m.value for m in at.markdown if m.value.startswith('<div class="gallery-diagram"')] + [
        json.loads(c.proto.json) for c in at.get("bidi_component") if c.proto.component_name == "gallery.figure"]


def page_diagrams(at) -> list[ET.Element]:
    """The diagrams an AppTest page sent as inline SVG, parsed as XML."""
    boxes = [ET.fromstring(markup) for markup in page_figures(at)]
    return [svg for box in boxes for svg in box.iter(f"{SVG}svg")]


def diagram_text(svg: ET.Element) -> str:
    """Every text of a diagram, one line each."""
    return "\n".join("".join(t.itertext()) for t in svg.iter(f"{SVG}text"))


def page_facts(at) -> dict[str, tuple[str, str, str]]:
    """The headline figures an AppTest page sent (views/facts.py): label → (value, exact figure, what it counts)."""
    [row] = [ET.fromstring(m.value) for m in at.markdown if m.value.startswith('<div class="gallery-facts"')]
    return {cell[0].text: (cell[1].text, cell[2].text or "", cell.get("title")) for cell in row[0]}


def page_tables(at) -> list[pd.DataFrame]:
    """The static tables with one header row an AppTest page sent (views/markup.py), parsed as XML: each cell's text
    as shown, under its column's header (a row header under ""). Try's comparison, with two levels of row headers,
    is read by its own test."""
    frames = []
    for m in at.markdown:
        if not m.value.startswith(("<table", '<div class="gallery-table-')):
            continue
        table = next(ET.fromstring(m.value).iter("table"))
        header, *rows = [["".join(c.itertext()) for c in tr] for tr in table.iter("tr")]
        frames.append(pd.DataFrame(rows, columns=header))
    return frames
