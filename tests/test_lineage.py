"""Where each model comes from: nearest relatives on cases a reader knows, a distance that ignores scale,
and the family tree's structure, rendered to real SVG, PNG and PDF."""

from __future__ import annotations

import pytest

from gallery.lineage import architectural, distance, facts, lineage, relatives, tree
from gallery.render import render

from .dotgraph import parse


@pytest.fixture(scope="module")
def specs(bundled):
    return [spec for spec, _ in bundled.values()]


@pytest.fixture(scope="module")
def earlier(specs):
    return relatives(specs)


def test_readers_cases(earlier, bundled):
    # DeepSeek-V3.2 is DeepSeek-V3 (R1 is the same architecture) with the sparse-attention indexer
    assert earlier["deepseek-v3.2"].slug in {"deepseek-v3", "deepseek-r1"}
    _, config = bundled["deepseek-v3.2"]
    assert [c.phrase for c in earlier["deepseek-v3.2"].headline] == [
        f"sparse indexer {config['index_n_heads']} × {config['index_head_dim']}, top-{config['index_topk']:,}"]
    # Qwen3-Next swaps three layers in four of a Qwen3 MoE for Gated DeltaNet
    assert earlier["qwen3-next-80b-a3b-instruct"].slug in {"qwen3-30b-a3b", "qwen3-235b-a22b"}
    assert earlier["qwen3-next-80b-a3b-instruct"].headline[0].phrase.startswith("Gated DeltaNet on ")
    # Kimi K2 is DeepSeek-V3's template at another scale; V3 is the original of that architecture (R1 copies it)
    assert earlier["kimi-k2-instruct"].slug == "deepseek-v3"
    assert earlier["kimi-k2-instruct"].distance == 0 and earlier["kimi-k2-instruct"].changes


def test_relatives_are_released_before(earlier, bundled):
    for slug, rel in earlier.items():
        spec = bundled[slug][0]
        older = [s for s, (o, _) in bundled.items() if o.release_date and spec.release_date
                 and o.release_date < spec.release_date]
        assert (rel.slug is None) == (not older)
        if rel.slug:
            assert bundled[rel.slug][0].release_date < spec.release_date


def test_closest_of_all_may_be_later(specs):
    closest = relatives(specs, earlier=False)
    assert closest["deepseek-v3"].slug == "deepseek-r1" and closest["deepseek-v3"].distance == 0


@pytest.mark.parametrize(("x", "y", "d"), [
    ("llama-3.1-8b-instruct", "llama-3.3-70b-instruct", 0),  # the same architecture at another scale
    ("gemma-2-2b", "gemma-2-9b", 0),
    ("deepseek-v3", "deepseek-v3.2", 1),  # + the indexer
    ("qwen3-8b", "qwen2.5-7b", 2),  # QK-norm instead of the QKV bias
])
def test_distance_counts_architecture_not_scale(bundled, x, y, d):
    assert distance(facts(bundled[x][0]), facts(bundled[y][0])) == d


def test_every_relative_is_the_closest_earlier_model_pair_by_pair(specs, earlier):
    """The coded search finds what comparing every pair of fact dictionaries finds: the least distance among the
    models released before, ties to fewer differing values; the changes are those from that model."""
    from gallery.changes import changes

    known = {s.slug: facts(s) for s in specs}
    by_slug = {s.slug: s for s in specs}
    for spec in specs:
        older = [o for o in specs if o.release_date and spec.release_date and o.release_date < spec.release_date]
        rel = earlier[spec.slug]
        if not older:
            assert rel.slug is None
            continue
        key = lambda o: (distance(known[spec.slug], known[o.slug]),  # noqa: E731
                         sum(known[spec.slug].exact.get(f) != known[o.slug].exact.get(f)
                             for f in known[spec.slug].exact.keys() | known[o.slug].exact.keys()))
        assert key(by_slug[rel.slug]) == min(map(key, older)) and rel.distance == key(by_slug[rel.slug])[0]
        assert rel.changes == tuple(changes(by_slug[rel.slug], spec))


def test_architectural_changes_leave_sizes_out(earlier):
    rel = earlier["llama-3.2-1b-instruct"]
    assert rel.slug == "llama-3.1-8b-instruct"
    assert [c.phrase for c in rel.headline] == ["tied embeddings added"]
    assert {c.fields[0] for c in rel.changes if not architectural(c)} >= {"d_model", "layers", "d_ff"}


def test_tree_structure(specs, earlier):
    graph = parse(tree(specs, found=earlier).source)
    assert set(graph.nodes) == {s.slug for s in specs}
    assert sorted((t, h) for t, h, _ in graph.edges) == sorted((r.slug, s) for s, r in earlier.items() if r.slug)
    assert sorted(c.attrs["label"] for c in graph.clusters.values()) == sorted({lineage(s) for s in specs})
    assert any("sparse indexer" in label for label in graph.labels())
    assert all(a["URL"].startswith("compare?models=") for _, _, a in graph.edges)


def test_the_deepseek_template_holds_the_latent_and_compressed_attention_models_only(bundled):
    """By the mixer tags each spec's YAML says: MLA (``mla``) and DeepSeek-V4's compressed attention make the DeepSeek
    template; other attention kinds (cross-attention, mixture of attention heads, CCA, …) keep the organisation."""
    for slug, (spec, _) in bundled.items():
        tags = {m.kind for b in spec.arch.blocks.values() for m in b.mixers}
        if lineage(spec).startswith("Fixed-state"):
            continue
        expected = "DeepSeek template (MLA and its successors)" if tags & {"mla", "compressed"} else spec.organisation
        assert lineage(spec) == expected, (slug, tags)


@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF-")])
def test_tree_renders(specs, earlier, fmt, magic):
    assert render(tree(specs, "dark", found=earlier).source, fmt, scale=1).startswith(magic)
