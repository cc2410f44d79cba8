"""The comparison figure: one cluster per model, rows aligned by the real ``dot`` layout, changes outlined exactly
where the two configs differ, and real SVG/PNG/PDF renders."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET

import pytest

from gallery.changes import STAGES, changes
from gallery.comparefig import STAGE_MARK, compare_dot
from gallery.diagram import THEMES
from gallery.loader import load_spec
from gallery.render import page_svg, render

from .conftest import SPEC_DIR, SVG
from .dotgraph import parse

FOUR = ["llama-3.1-8b-instruct", "qwen3-8b", "gemma-3-27b-it", "deepseek-v3"]
DEFAULTS = {"rope_theta": 10000.0}  # LlamaConfig's default where a config leaves the key out


def _expected(x: dict, y: dict) -> set[str]:
    """The components a reader outlines going from config ``x`` to ``y`` (Llama-style keys), by hand: the
    embedding (vocab, width), the layer count, attention (heads, positions, window, context, QK-norm: Qwen3's
    attention always has it, Llama's and Mistral's never), norms (eps), feed-forward (width, activation), head."""
    def differ(*keys: str) -> bool:
        return any(x.get(k, DEFAULTS.get(k)) != y.get(k, DEFAULTS.get(k)) for k in keys)

    qk_norm = lambda c: c["model_type"] == "qwen3"  # noqa: E731
    marks = {"embedding": differ("vocab_size", "hidden_size"), "pattern": differ("num_hidden_layers"),
             "mixer": differ("num_attention_heads", "num_key_value_heads", "rope_theta", "rope_scaling",
                             "sliding_window", "max_position_embeddings") or qk_norm(x) != qk_norm(y),
             "norm": differ("rms_norm_eps"), "ffn": differ("intermediate_size", "hidden_act"),
             "head": differ("tie_word_embeddings")}
    return {mark for mark, yes in marks.items() if yes}


def _layout(dot: str) -> dict[str, float]:
    """Node name → its y in the real ``dot`` layout."""
    out = json.loads(subprocess.run(["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True).stdout)
    return {o["name"]: float(o["pos"].split(",")[1]) for o in out["objects"] if "pos" in o and "nodes" not in o}


def test_every_stage_of_the_change_list_has_a_place_in_the_figure():
    assert set(STAGE_MARK) == set(STAGES)


def test_one_cluster_per_model_with_its_rows_aligned(bundled):
    specs = [bundled[s][0] for s in FOUR]
    dot = compare_dot(specs)
    graph = parse(dot)
    assert [k for k in graph.clusters if "." not in k] == ["m0", "m1", "m2", "m3"]
    for i, spec in enumerate(specs):
        assert f"<B>{spec.name}</B>" in graph.clusters[f"m{i}"].attrs["label"]
        assert spec.name in graph.attrs["label"]  # the title row names every model
    y = _layout(dot)
    for row in ("tokens", "embed", "final_norm", "head", "logits"):
        assert len({y[f"m{i}.{row}"] for i in range(4)}) == 1, row
    entries = [name for name, a in graph.nodes.items() if a["label"] == "block input"]
    assert len(entries) == 4  # a frame each: Gemma 3's sliding and full layers share one, DeepSeek's dense and MoE too
    assert len({y[e] for e in entries}) == 1  # every block frame starts on one row


@pytest.mark.parametrize(("a", "b"), [("llama-3.1-8b-instruct", "qwen3-8b"), ("llama-2-7b-hf", "mistral-7b-v0.1")])
def test_changes_are_outlined_exactly_where_the_configs_differ(bundled, a, b):
    (x, cx), (y, cy) = bundled[a], bundled[b]
    expected = _expected(cx, cy)
    assert expected  # the pair differs somewhere
    graph = parse(compare_dot([x, y]))
    reference, other = graph.clusters["m0"], graph.clusters["m1"]
    classes = [a["class"].split() for a in other.nodes.values() if "class" in a]
    outlined = {mark for what, mark in classes if what == "changed"}
    written = {mark for what, mark in classes if what == "change"}
    assert outlined == written == expected
    assert {STAGE_MARK[c.stage] for c in changes(x, y)} == expected  # the change list says the same stages
    labels = " ".join(other.labels())
    for c in changes(x, y):
        assert c.phrase.split()[0] in labels  # each change is written beside its component
    # the reference: not marked
    assert not any("class" in a or THEMES["light"].highlight in a.values() for a in reference.nodes.values())


def test_what_equals_the_reference_is_faded(bundled):
    x, y = bundled["llama-2-7b-hf"][0], bundled["mistral-7b-v0.1"][0]
    graph = parse(compare_dot([x, y]))
    fill = THEMES["light"].fills["embedding"]  # the embedding is the same (vocab 32,000, d_model 4,096)
    reference = graph.nodes["m0.embed"]
    assert (reference["label"], reference["shape"], reference["style"], reference["fillcolor"]) == \
        ("Token embedding\\n32,000 × 4,096", "box", "rounded,filled", fill)
    faded = graph.nodes["m1.embed"]["fillcolor"]
    assert faded != fill and int(faded[1:3], 16) > int(fill[1:3], 16)  # nearer the white background


def test_two_to_four_models():
    with pytest.raises(ValueError, match="2 to 4 models, got 1"):
        compare_dot([None])


def test_a_selection_draws_the_same_figure_after_others_were_drawn(bundled):
    """Each model's cluster is kept per spec object (a selection that adds a model draws only the new one):
    the figure is still exactly the one drawn from spec objects never drawn before."""
    slugs = ["llama-3.1-8b-instruct", "qwen3-8b", "gemma-3-27b-it", "deepseek-v3", "gpt2"]
    specs = [bundled[s][0] for s in slugs]
    for theme in ("light", "dark"):
        compare_dot(specs[:4], theme)
        compare_dot([specs[1], specs[0], specs[4]], theme)  # the same models at other places, another reference
    for chosen in ([0, 1, 2, 4], [1, 0, 4], [4, 2]):
        fresh = [load_spec(SPEC_DIR / f"{slugs[i]}.yaml").spec for i in chosen]
        assert compare_dot([specs[i] for i in chosen], "dark") == compare_dot(fresh, "dark")


@pytest.mark.parametrize("theme", ["light", "dark", "transparent"])
def test_renders_to_real_svg_png_and_pdf(bundled, theme):
    dot = compare_dot([bundled[s][0] for s in FOUR], theme)
    assert parse(dot).attrs["bgcolor"] == THEMES[theme].background
    assert ET.fromstring(render(dot, "svg")).tag == f"{SVG}svg"
    if theme == "dark":  # the raster and the PDF once (cairo draws every theme alike; ~4 s each)
        assert render(dot, "png")[:8] == b"\x89PNG\r\n\x1a\n"
        pdf = render(dot, "pdf")
        assert pdf[:5] == b"%PDF-" and b"DejaVu" in pdf and b"/FontFile" in pdf  # fonts embedded


def test_names_from_data_are_drawn_literally(bundled):
    odd = 'Qwen3 <B>"8B"</B> & {co} \\ "quoted"'
    spec = bundled["qwen3-8b"][0].model_copy(update={"name": odd})
    svg = ET.fromstring(render(compare_dot([bundled["llama-3.1-8b-instruct"][0], spec]), "svg"))
    assert svg.tag == f"{SVG}svg"
    page = ET.fromstring(page_svg(compare_dot([spec, spec])))
    text = " ".join("".join(t.itertext()) for t in page.iter(f"{SVG}text"))
    assert odd in text  # in the title row and the model's frame, as written
