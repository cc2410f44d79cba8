"""Gemma 4's small E-models (E2B/E4B): per-layer input embeddings, KV-shared layers and the double-wide MLP (issue 14).

No published E-model config is reachable here, so every config is built with transformers' ``Gemma4TextConfig``
(E2B- and E4B-like sizes: d_model 1,536 / 2,560, 35 / 42 layers, 1 / 2 KV heads, 20 / 18 KV-shared layers, a
per-layer input of 256; and variants of the per-layer width, the shared layers, the double-wide MLP and the
sliding pattern) and serialised as a config.json. The expected values come from transformers (the model on the meta
device, ``kv_sharing_modes``, the cache a forward pass allocates, one decoder layer run on the toy's weights) or are
derived by hand here from ``Gemma4TextModel`` and ``Gemma4TextDecoderLayer``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gallery.changes import changes
from gallery.counts import block_terms, breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.diagram import to_dot
from gallery.flops import matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, layer_caches
from gallery.spec import Arch
from gallery.toy import per_layer_toy, toy_trace
from gallery.kinds.softmax import shared_kv_toy
from gallery.trace import trace

from .conftest import page_tables
from .dotgraph import parse
from .reference import reference_model, reference_param_count

E2B = dict(hidden_size=1536, num_hidden_layers=35, intermediate_size=6144, num_attention_heads=8,
           num_key_value_heads=1, head_dim=256, hidden_size_per_layer_input=256, num_kv_shared_layers=20,
           use_double_wide_mlp=True, sliding_window=512)
E4B = dict(hidden_size=2560, num_hidden_layers=42, intermediate_size=10240, num_attention_heads=8,
           num_key_value_heads=2, head_dim=256, hidden_size_per_layer_input=256, num_kv_shared_layers=18,
           use_double_wide_mlp=False, sliding_window=512)
SMALL = dict(hidden_size=64, num_hidden_layers=8, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
             head_dim=16, global_head_dim=32, vocab_size=128, vocab_size_per_layer_input=64,
             hidden_size_per_layer_input=8, num_kv_shared_layers=2, use_double_wide_mlp=True, sliding_window=4)
VARIANTS = {
    "e2b": E2B,
    "e4b": E4B,
    "e2b-no-ple": E2B | {"hidden_size_per_layer_input": 0},
    "e2b-ple-128-small-table": E2B | {"hidden_size_per_layer_input": 128, "vocab_size_per_layer_input": 4096},
    "e2b-no-sharing": E2B | {"num_kv_shared_layers": 0},
    "e2b-4-shared-single-wide": E2B | {"num_kv_shared_layers": 4, "use_double_wide_mlp": False},
    "e4b-double-wide": E4B | {"use_double_wide_mlp": True},
    "e4b-k-eq-v": E4B | {"attention_k_eq_v": True, "num_global_key_value_heads": 1},
    "small-pattern-3-1": SMALL | {"layer_types": ["sliding_attention"] * 3 + ["full_attention"]
                                  + ["sliding_attention"] * 3 + ["full_attention"], "num_kv_shared_layers": 3},
    "small-all-full": SMALL | {"layer_types": ["full_attention"] * 8, "num_kv_shared_layers": 5},
    "small-moe": SMALL | {"enable_moe_block": True, "num_experts": 4, "top_k_experts": 2, "moe_intermediate_size": 24},
}


def _config(**kw) -> dict:
    """A config.json as transformers writes it for these settings."""
    from transformers import Gemma4TextConfig
    from transformers.utils import logging

    logging.set_verbosity_error()  # the forced-full last layer is announced as a warning
    return json.loads(Gemma4TextConfig(**kw).to_json_string())


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


def _modes(config: dict) -> list:
    from transformers import Gemma4TextConfig

    return Gemma4TextConfig.from_dict(config).kv_sharing_modes


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_count_equals_transformers(name):
    config = _config(**VARIANTS[name])
    assert total_params(_arch(config)) == reference_param_count(config)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shared_layers_are_the_ones_transformers_makes_reuse(name):
    config = _config(**VARIANTS[name])
    arch = _arch(config)
    types = config["layer_types"]
    for i, (kind, mode) in enumerate(zip(arch.layers, _modes(config))):
        mixer, ffn = arch.blocks[kind].mixer, arch.blocks[kind].ffn
        assert mixer.kv_shared == (mode == "reuse"), i
        assert kind.removesuffix("-shared") == {"sliding_attention": "sliding", "full_attention": "full"}[types[i]]
        wide = 2 if config["use_double_wide_mlp"] and mode == "reuse" else 1  # Gemma4TextMLP.intermediate_size
        assert (ffn.d_dense if config["enable_moe_block"] else ffn.d_ff) == wide * config["intermediate_size"], i


def test_provenance_names_the_e_model_keys():
    provenance = derive(_config(**E2B)).provenance
    keys = lambda field: [r.key for r in provenance[field]]  # noqa: E731
    assert keys("arch.blocks.sliding-shared.mixer.kv_shared") == ["num_kv_shared_layers"]
    assert keys("arch.blocks.full-shared.ffn.d_ff") == ["enable_moe_block", "intermediate_size", "use_double_wide_mlp"]
    assert keys("arch.blocks.full.ffn.d_ff") == ["enable_moe_block", "intermediate_size"]
    assert keys("arch.per_layer_embedding.d_per_layer") == ["hidden_size_per_layer_input"]
    assert keys("arch.per_layer_embedding.vocab_size") == ["hidden_size_per_layer_input", "vocab_size_per_layer_input"]


def test_e2b_parts_against_the_modules_transformers_builds():
    config = _config(**E2B)
    arch, model = _arch(config), reference_model(config).model
    numel = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    n, d, w = 35, 1536, 256
    assert numel(model.embed_tokens_per_layer) == 262_144 * n * w
    assert numel(model.per_layer_model_projection) == d * n * w and numel(model.per_layer_projection_norm) == w
    per_layer = {"per_layer_input_gate", "per_layer_projection", "post_per_layer_input_norm"}
    assert sum(numel(m) for layer in model.layers for name, m in layer.named_children() if name in per_layer) \
        == n * (2 * d * w + d)
    parts = breakdown(arch)
    assert parts["per_layer_inputs"] == d * n * w + n * 2 * d * w
    assert parts["embeddings"] == 262_144 * d + 262_144 * n * w
    # a shared layer has q_proj, q_norm and o_proj only; the attention terms are what its self_attn holds
    for i, kind in enumerate(arch.layers):
        attention = sum(t.count for t in block_terms(arch, kind) if t.component == "attention")
        assert attention == numel(model.layers[i].self_attn), i
        assert hasattr(model.layers[i].self_attn, "k_proj") == (i < 15)


def test_cache_by_hand():
    """E2B-like: 15 layers keep K/V, 13 sliding (window 512) with one KV head of 256 and 2 full with one of 512;
    the 20 shared layers keep nothing."""
    arch = _arch(_config(**E2B))
    caches = {c.kind: c for c in layer_caches(arch)}
    assert {k: (c.n_layers, c.elements_per_token) for k, c in caches.items()} == {
        "sliding": (13, 2 * 256), "full": (2, 2 * 512), "sliding-shared": (16, 0), "full-shared": (4, 0)}
    assert all(caches[k].elements(100_000) == 0 for k in ("sliding-shared", "full-shared"))
    assert kv_bytes_per_token(arch) == (13 * 512 + 2 * 1024) * 2 == 17_408
    assert kv_bytes(arch, 32_768, batch=2) == 2 * (13 * 512 * 512 + 2 * 1024 * 32_768) * 2
    unshared = _arch(_config(**E2B | {"num_kv_shared_layers": 0}))
    assert kv_bytes_per_token(unshared) == (29 * 512 + 6 * 1024) * 2  # sharing saves the 20 layers' K/V


def test_cache_figures_match_the_tensors_transformers_allocates():
    config = _config(**SMALL | {"sliding_window": 16})
    ours = cache_matches_allocation(config, _arch(config))
    assert [c.elements_per_token for c in ours.values()] == [2 * 2 * 16, 2 * 2 * 32, 0, 0]


def cache_matches_allocation(config: dict, arch: Arch) -> dict:
    """Each layer's K/V elements after a forward pass of 2 × 7 tokens (the model built on the CPU) equal our cache per
    token × tokens; returns our caches by block kind."""
    import torch
    from transformers import AutoModelForCausalLM

    batch, tokens = 2, 7
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(reference_model(config).config).eval()
    with torch.no_grad():
        cache = model(torch.randint(0, 64, (batch, tokens)), use_cache=True).past_key_values
    ours = {c.kind: c for c in layer_caches(arch)}
    for i, (kind, layer) in enumerate(zip(arch.layers, cache.layers)):
        kv = [t for t in (layer.keys, layer.values) if t is not None]
        assert sum(t.numel() for t in kv) == batch * tokens * ours[kind].elements_per_token, i
    return ours


@pytest.mark.parametrize("settings", [
    {"num_kv_shared_layers": 8}, {"num_kv_shared_layers": 9},
    {"layer_types": ["sliding_attention"] * 7 + ["full_attention"], "num_kv_shared_layers": 1},
])
def test_sharing_without_a_producer_is_refused(settings):
    """transformers refuses a shared layer type no earlier layer produces; with more shared layers than layers it
    makes layer 0 reuse K/V that no layer before it has: both are one-line errors here."""
    config = {**_config(**SMALL), **settings}
    if settings["num_kv_shared_layers"] > 8:
        assert _modes(config)[0] == "reuse"
    else:
        with pytest.raises(ValueError):
            _modes(config)
    with pytest.raises(DerivationError) as err:
        derive(config)
    assert len(err.value.lines) == 1 and err.value.lines[0].startswith("num_kv_shared_layers: ")


def test_a_spec_s_shared_layer_needs_an_earlier_layer_to_share_from(drafted):
    from pydantic import ValidationError

    from gallery.spec import Spec

    data = drafted.model_dump()
    data["arch"]["layers"] = ["sliding-shared", *data["arch"]["layers"][1:]]
    with pytest.raises(ValidationError) as err:
        Spec.model_validate(data, strict=False)
    assert "layer 0 (sliding-shared) reuses K/V but no earlier layer keeps its own of that shape (1 KV heads of 256, " \
        "window 512)" in str(err.value)


def test_flops_count_the_per_layer_projections_and_not_the_table():
    arch = _arch(_config(**E2B))
    n, d, w = 35, 1536, 256
    without = _arch(_config(**E2B | {"hidden_size_per_layer_input": 0}))
    assert matmul_flops(arch) - matmul_flops(without) == 2 * (d * n * w + n * 2 * d * w)


@pytest.mark.parametrize("name", ["e2b", "small-moe", "e4b-k-eq-v"])
def test_trace_adds_up_and_the_toy_runs_its_steps(name):
    arch = _arch(_config(**VARIANTS[name]))
    for kind in arch.blocks:
        layer = arch.layers.index(kind)
        steps = trace(arch, layer, 5)
        assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, kind))
        seen = {(5, arch.d_model)}
        for step in steps:
            assert step.in_shape in seen, (kind, step.op)
            seen.add(step.out_shape)
        ops = [s.op for s in steps]
        assert ops[-6:] == ["per-layer gate", "activation (gelu_tanh)", "× per-layer input", "per-layer projection",
                            "per-layer norm", "residual add"]
        assert ("k_proj" in ops) == (not kind.endswith("-shared")) and ("shared K" in ops) == kind.endswith("-shared")
        assert [s.op for s in toy_trace(arch, layer, 5).steps] == ops


@pytest.mark.parametrize(("kind", "index"), [("sliding-shared", 2), ("full-shared", 3)])
def test_toy_shared_layer_with_per_layer_input_equals_transformers(kind, index):
    """A KV-shared layer at toy width: Gemma4TextDecoderLayer with the toy's weights, the toy's stand-in K/V as its
    shared_kv_states and the toy's per-layer input gives the toy's output (float64, eager attention). In a model of
    layers sliding, full, sliding, full whose last two share, layer 2 reuses layer 0's K/V and layer 3 layer 1's."""
    import torch
    from transformers import Gemma4TextConfig
    from transformers.models.gemma4.modeling_gemma4 import Gemma4TextDecoderLayer, Gemma4TextRotaryEmbedding

    arch = _arch(_config(**E2B))
    toy = toy_trace(arch, arch.layers.index(kind), 6)
    block = toy.arch.blocks[kind]
    m, T = block.mixer, 6
    cfg = Gemma4TextConfig(
        hidden_size=toy.arch.d_model, num_attention_heads=m.n_heads,
        intermediate_size=block.ffn.d_ff // 2,  # doubled in the shared layers
        num_key_value_heads=m.n_kv_heads, head_dim=m.head_dim, global_head_dim=m.head_dim, num_hidden_layers=4,
        num_kv_shared_layers=2, layer_types=["sliding_attention", "full_attention"] * 2,
        sliding_window=m.window or 3, use_double_wide_mlp=True,  # (a full layer has no window: 3 is unused)
        hidden_size_per_layer_input=toy.arch.per_layer_embedding.d_per_layer, rms_norm_eps=toy.arch.norm.eps,
        vocab_size=32, vocab_size_per_layer_input=32, attn_implementation="eager")
    layer = Gemma4TextDecoderLayer(cfg, index).double().eval()
    w = toy.weights
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "post_attn_norm",
             "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffn_norm",
             "self_attn.q_norm": "q_norm", "post_per_layer_input_norm": "post_per_layer_input_norm"}
    state = {f"{hf}.weight": w[f"{ours}.weight"] for hf, ours in names.items()}
    for hf, ours in (("self_attn.q_proj", "q_proj"), ("self_attn.o_proj", "o_proj"), ("mlp.gate_proj", "gate_proj"),
                     ("mlp.up_proj", "up_proj"), ("mlp.down_proj", "down_proj"),
                     ("per_layer_input_gate", "per_layer_input_gate"),
                     ("per_layer_projection", "per_layer_projection")):
        state[f"{hf}.weight"] = w[f"{ours}.weight"].T
    assert set(state) == {k for k, _ in layer.named_parameters()}
    layer.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    k, v = shared_kv_toy(m, T)
    x = torch.tensor(toy.x)[None]
    pos = torch.arange(T)[None]
    rotary = Gemma4TextRotaryEmbedding(cfg).double()
    i, j = np.arange(T)[:, None], np.arange(T)[None]
    mask = torch.tensor(np.where((j > i) | (i - j >= (m.window or T)), -np.inf, 0.0))[None, None]
    layer_type = "sliding_attention" if m.window else "full_attention"
    with torch.no_grad():
        out = layer(x, torch.tensor(per_layer_toy(toy.arch, T))[None],
                    shared_kv_states={layer_type: (torch.tensor(k)[None], torch.tensor(v)[None])},
                    position_embeddings=rotary(x, pos, layer_type), attention_mask=mask, position_ids=pos)
    np.testing.assert_allclose(out[0].numpy(), toy.out, atol=1e-6)


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    """A specs folder with the spec ``new`` drafts from the E2B-like config.json; it must lint clean."""
    return drafted_folder(tmp_path_factory.mktemp("e2b"), "gemma-4-e2b-like",
                          _config(**E2B) | {"architectures": ["Gemma4ForCausalLM"]}, "google/gemma-4-E2B")


def drafted_folder(folder, slug: str, config: dict, repo: str):
    """``folder``/specs holding the spec ``new`` drafts from ``config`` as ``slug``; it must lint clean."""
    from gallery.cli import main

    path = folder / f"{slug}.json"
    path.write_text(json.dumps(config))
    spec_path = folder / "specs" / f"{slug}.yaml"
    assert main(["new", str(path), "--hf-repo", repo, "-o", str(spec_path)]) == 0
    assert main(["lint", str(spec_path)]) == 0
    return spec_path.parent


@pytest.fixture(scope="module")
def drafted(specs):
    from gallery.loader import load_spec

    return load_spec(specs / "gemma-4-e2b-like.yaml").spec


def test_changes_from_gemma_4_31b_say_what_is_new(bundled, drafted):
    said = [c.phrase for c in changes(bundled["gemma-4-31b-it"][0], drafted)]
    assert "per-layer embeddings added (d_per_layer 256)" in said
    assert "K/V shared with an earlier layer added on 20 of 35 layers" in said
    assert "d_ff 21,504 → 12,288 on 20 of 35 layers, 6,144 on 15" in said  # the double-wide MLP of the shared layers


def test_diagram_draws_the_per_layer_embedding_and_the_shared_layers(drafted):
    dot = parse(to_dot(drafted))
    embed = dot.nodes["embed"]["label"]
    assert "+ per-layer embeddings (one slice per layer)" in embed and "262,144 × (35 × 256)" in embed
    labels = [a["label"] for a in dot.nodes.values()]
    assert sum(lab.startswith("Per-layer input\\ngate 1,536 → 256") for lab in labels) == 4  # one per block kind
    assert sum("K/V shared: reuses an earlier layer" in lab for lab in labels) == 2


def _app(page: str, **query):
    from streamlit.testing.v1 import AppTest

    from .conftest import ROOT

    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page)
    return at.run()


def pasted_diagram(config: dict) -> str:
    """The text of the diagram the Try page draws of a pasted ``config`` (no error, no exception)."""
    from .conftest import diagram_text, page_diagrams

    at = _app("views/try.py", mode="paste or upload")
    at.text_area(key="pasted").set_value(json.dumps(config)).run()
    assert not at.exception and not at.error
    return diagram_text(page_diagrams(at)[0])


def test_pages_show_an_e_model(specs, monkeypatch):
    text = pasted_diagram(_config(**E2B))
    assert "Per-layer input" in text and "K/V shared" in text
    monkeypatch.setenv("GALLERY_SPECS", str(specs))
    at = _app("views/model.py", model="gemma-4-e2b-like", ctx="32768", batch="2")
    assert not at.exception
    # by hand: 13 sliding layers keep 512 tokens and 2 full layers every token, of one KV head; the shared keep none
    expected = (13 * 2 * 256 * 512 + 2 * 2 * 512 * 32_768) * 2 * 2
    assert next(m for m in at.metric if m.label.startswith("Cache at this context")).value == \
        f"{expected / 2**30:,.2f} GiB"
    at = _app("views/trace.py", slug="gemma-4-e2b-like", layer="20", seq="8", toy="true")
    assert not at.exception
    ops = list(page_tables(at)[0]["op"])  # the steps: a static table
    assert "shared K" in ops and "k_proj" not in ops and ops[-6] == "per-layer gate"
    assert len(at.get("vega_lite_chart")) == 1  # the toy's attention heatmaps, over the stand-in keys
