"""Gemma 3n (``gemma3n_text``, and ``gemma3n`` through its text_config): AltUp, LAuReL, per-layer inputs, KV-shared
layers and the Gaussian top-k of the first layers' MLPs (issue 15).

No published Gemma 3n config.json is vendored here, so the configs are transformers' own: ``Gemma3nTextConfig``'s
default (E4B-like: 35 layers, d_model 2,048, 4 AltUp streams, LAuReL rank 64, 15 KV-shared layers) and small
variants that change every size, serialised as a config.json. Expected values come from transformers (the model on
the meta device, ``kv_sharing_modes``, the cache a forward pass allocates, one ``Gemma3nTextDecoderLayer`` run on
the toy's weights in float64) or are derived by hand here from ``Gemma3nTextModel`` and ``Gemma3nTextDecoderLayer``.
"""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pytest

from gallery.counts import block_terms, breakdown, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import matmul_flops
from gallery.kinds.softmax import shared_kv_toy
from gallery.memory import kv_bytes_per_token, layer_caches
from gallery.spec import Arch
from gallery.toy import per_layer_toy, toy_trace
from gallery.trace import trace

from .conftest import page_tables
from .reference import reference_model, reference_param_count
from .test_gemma4_e import _app, cache_matches_allocation, drafted_folder, pasted_diagram
from .test_model_types import drafts_a_clean_spec, the_try_page_counts_it

SMALL = dict(hidden_size=64, num_hidden_layers=10, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
             head_dim=16, vocab_size=128, vocab_size_per_layer_input=64, hidden_size_per_layer_input=8,
             num_kv_shared_layers=5, laurel_rank=6, altup_num_inputs=3, sliding_window=8)
_TYPES = ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"] * 2
VARIANTS = {
    "small": {},
    "width": {"hidden_size": 48},
    "heads": {"num_attention_heads": 8, "num_key_value_heads": 4},
    "mha": {"num_key_value_heads": 4},
    "mqa": {"num_key_value_heads": 1},
    "head_dim": {"head_dim": 24},
    "vocab": {"vocab_size": 300},
    "per-layer vocab": {"vocab_size_per_layer_input": 40},
    "per-layer width": {"hidden_size_per_layer_input": 12},
    "untied": {"tie_word_embeddings": False},
    "window": {"sliding_window": 3},
    "12 layers": {"num_hidden_layers": 12, "num_kv_shared_layers": 2},  # more than ten: the default sparsity
    "layers 7": {"num_hidden_layers": 7, "num_kv_shared_layers": 2},
    "no sharing": {"num_kv_shared_layers": 0},
    "8 of 10 shared": {"num_kv_shared_layers": 8, "layer_types": ["sliding_attention", "full_attention"]
                       + ["sliding_attention"] * 8},
    "layer types": {"layer_types": _TYPES, "num_kv_shared_layers": 5},
    "widths per layer": {"intermediate_size": [96, 96, 80, 80, 64, 64, 48, 48, 32, 32]},
    "sparsity": {"activation_sparsity_pattern": [0.95, 0.9, 0.9] + [0.0] * 7},
    "2 streams": {"altup_num_inputs": 2},
    "1 stream": {"altup_num_inputs": 1},
    "5 streams active 3": {"altup_num_inputs": 5, "altup_active_idx": 3},
    "unscaled correction": {"altup_correct_scale": False},
    "laurel rank": {"laurel_rank": 1},
    "bias": {"attention_bias": True},
}


def _config(**kw) -> dict:
    """A config.json as transformers writes it for these settings."""
    from transformers import Gemma3nTextConfig

    return json.loads(Gemma3nTextConfig(**kw).to_json_string())


def _arch(config: dict) -> Arch:
    return Arch.model_validate(derive(config).arch, strict=False)


def test_default_config_is_exact():
    config = {"model_type": "gemma3n_text"}
    arch = _arch(config)
    assert total_params(arch) == reference_param_count(config) == 6_835_235_568
    assert arch.layer_counts() == {"sliding-sparse": 8, "full-sparse": 2, "sliding": 8, "full": 2,
                                   "sliding-shared": 12, "full-shared": 3}


def test_e2b_like_config_is_exact():
    """E2B's sizes: 30 layers with one width each, 10 KV-shared layers."""
    config = _config(num_hidden_layers=30, intermediate_size=[8192] * 30, num_kv_shared_layers=10)
    arch = _arch(config)
    assert total_params(arch) == reference_param_count(config)
    assert arch.layer_counts() == {"sliding-sparse": 8, "full-sparse": 2, "sliding": 8, "full": 2,
                                   "sliding-shared": 8, "full-shared": 2}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_varied_configs_are_exact(name):
    config = _config(**SMALL | VARIANTS[name])
    arch = _arch(config)
    assert total_params(arch) == reference_param_count(config)
    layers = reference_model(config).model.layers
    from transformers import Gemma3nTextConfig

    cfg = Gemma3nTextConfig.from_dict(config)
    for i, kind in enumerate(arch.layers):  # layer by layer what transformers built
        block = arch.blocks[kind]
        assert block.mixer.kv_shared == (cfg.kv_sharing_modes[i] == "reuse") == (not hasattr(layers[i].self_attn,
                                                                                            "k_proj")), i
        assert block.mixer.window == (cfg.sliding_window if cfg.layer_types[i] == "sliding_attention" else None), i
        assert block.ffn.d_ff == layers[i].mlp.intermediate_size, i
        assert (block.ffn.activation_sparsity or 0.0) == layers[i].mlp.activation_sparsity, i


def test_the_wrapper_is_read_through_its_text_config():
    """gemma3n (Gemma3nForConditionalGeneration): the language model of its text_config; audio and vision towers are
    left out."""
    from transformers import Gemma3nConfig

    config = json.loads(Gemma3nConfig(text_config=SMALL).to_json_string())
    derived = derive(config)
    assert derived.text_config and derived.family.model_type == "gemma3n_text"
    assert total_params(_arch(config)) == reference_param_count(config)


def test_parts_against_the_modules_transformers_builds():
    """The default: AltUp's and LAuReL's parameters per layer and the model's AltUp projections, by hand."""
    config = {"model_type": "gemma3n_text"}
    arch, model = _arch(config), reference_model(config).model
    numel = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    n_layers, d, n, r = 35, 2048, 4, 64
    per_layer_altup = d + n * n + n * n * n + d * n + d  # correct_output_scale, correction, prediction, router, norm
    assert numel(model.layers[0].altup) == per_layer_altup
    assert numel(model.altup_projections) == numel(model.altup_unembed_projections) == (n - 1) * d * d
    assert breakdown(arch)["altup"] == n_layers * per_layer_altup + 2 * (n - 1) * d * d
    assert numel(model.layers[0].laurel) == 2 * d * r + d
    assert breakdown(arch)["laurel"] == n_layers * (2 * d * r + d)
    for i, kind in enumerate(arch.layers):  # a shared layer keeps q_proj, q_norm and o_proj only
        attention = sum(t.count for t in block_terms(arch, kind) if t.component == "attention")
        assert attention == numel(model.layers[i].self_attn), i


def test_shared_layers_cache_nothing_by_hand():
    """The default: of the 20 layers with K/V of their own, 16 sliding keep 512 tokens and 4 full every token, with
    2 KV heads of 256; the 15 shared layers keep nothing."""
    arch = _arch({"model_type": "gemma3n_text"})
    caches = {c.kind: c for c in layer_caches(arch)}
    kv = 2 * 2 * 256
    assert {k: (c.n_layers, c.elements_per_token, c.window) for k, c in caches.items()} == {
        "sliding-sparse": (8, kv, 512), "full-sparse": (2, kv, None), "sliding": (8, kv, 512), "full": (2, kv, None),
        "sliding-shared": (12, 0, None), "full-shared": (3, 0, None)}
    assert kv_bytes_per_token(arch) == 20 * kv * 2


def test_cache_figures_match_the_tensors_transformers_allocates():
    config = _config(**SMALL | {"sliding_window": 16})
    ours = cache_matches_allocation(config, _arch(config))
    assert {k: c.elements_per_token for k, c in ours.items()} == {"sliding": 2 * 2 * 16, "full": 2 * 2 * 16,
                                                                 "sliding-shared": 0, "full-shared": 0}


def test_flops_count_altup_and_laurel_matmuls_by_hand():
    """Per token, 2 FLOPs per weight multiplied: per layer the router (d × n) and both coefficient maps (n × n², n ×
    n), not correct_output_scale or the norms; per model the 2 (n − 1) stream projections of d × d; LAuReL's two
    d × r per layer. Three streams against one, rank 6 against rank 1:"""
    d, n, r, layers = 64, 3, 6, 10
    flops = lambda **kw: matmul_flops(_arch(_config(**SMALL | kw)))  # noqa: E731
    per_layer = lambda n: d * n + n ** 3 + n * n  # noqa: E731
    assert flops() - flops(altup_num_inputs=1) == 2 * (layers * (per_layer(n) - per_layer(1)) + 2 * (n - 1) * d * d)
    assert flops() - flops(laurel_rank=1) == 2 * layers * 2 * d * (r - 1)


@pytest.mark.parametrize("name", ["small", "5 streams active 3", "unscaled correction", "sparsity"])
def test_trace_adds_up_and_the_toy_runs_its_steps(name):
    arch = _arch(_config(**SMALL | VARIANTS[name]))
    n = arch.altup.streams
    for kind in arch.blocks:
        layer = arch.layers.index(kind)
        steps = trace(arch, layer, 5)
        assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, kind))
        seen = {(5, n, arch.d_model)}
        for step in steps:
            assert step.in_shape in seen, (kind, step.op)
            seen.add(step.out_shape)
        ops = [s.op for s in steps]
        assert ops[0] == "altup: active stream" and steps[-1].out_shape == (5, n, arch.d_model)
        assert ops.index("laurel: linear_left") == ops.index("attn norm (pre)") + 1
        assert ops.index("laurel: merge") == ops.index("residual add") + 1
        assert ("gaussian top-k" in ops) == bool(arch.blocks[kind].ffn.activation_sparsity)
        assert [s.op for s in toy_trace(arch, layer, 5).steps] == ops


_NAMES = {"attn_norm": "input_layernorm", "post_attn_norm": "post_attention_layernorm",
          "ffn_norm": "pre_feedforward_layernorm", "post_ffn_norm": "post_feedforward_layernorm",
          "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm", "q_proj": "self_attn.q_proj",
          "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj", "o_proj": "self_attn.o_proj",
          "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj", "down_proj": "mlp.down_proj"}


def _state(weights: dict) -> dict:
    """The toy's weights under Gemma3nTextDecoderLayer's names, matrices as nn.Linear stores them (out, in)."""
    import torch

    state = {}
    for name, value in weights.items():
        stem = name.removesuffix(".weight")
        hf = _NAMES.get(stem, stem) + (".weight" if name.endswith(".weight") else "")
        state[hf] = torch.tensor(value.T if value.ndim == 2 else value)
    return state


@pytest.mark.parametrize(("kind", "index"), [("sliding-sparse", 0), ("full", 1), ("sliding-shared", 2),
                                             ("full-shared", 3)])
def test_toy_layer_equals_transformers(kind, index):
    """One layer at toy width: Gemma3nTextDecoderLayer with the toy's weights, run on the toy's streams (and for a
    KV-shared layer the toy's stand-in K/V as shared_kv_states) with the toy's per-layer input, gives the toy's
    streams (float64, eager attention). The toy model: layers sliding (sparse), full, then their KV-shared twins."""
    import torch
    from transformers import Gemma3nTextConfig
    from transformers.models.gemma3n.modeling_gemma3n import Gemma3nRotaryEmbedding, Gemma3nTextDecoderLayer

    arch = _arch(_config(**SMALL | {"num_hidden_layers": 4, "num_kv_shared_layers": 2,
                                    "layer_types": ["sliding_attention", "full_attention"] * 2,
                                    "activation_sparsity_pattern": [0.9, 0.0, 0.0, 0.0],
                                    "altup_num_inputs": 4, "altup_active_idx": 1}))
    assert arch.layers == ["sliding-sparse", "full", "sliding-shared", "full-shared"]
    T = 6
    toy = toy_trace(arch, index, T)
    block = toy.arch.blocks[kind]
    m, f, a = block.mixer, block.ffn, toy.arch.altup
    cfg = Gemma3nTextConfig(
        hidden_size=toy.arch.d_model, num_attention_heads=m.n_heads, num_key_value_heads=m.n_kv_heads,
        head_dim=m.head_dim, intermediate_size=f.d_ff, num_hidden_layers=4, num_kv_shared_layers=2,
        layer_types=["sliding_attention", "full_attention"] * 2, sliding_window=m.window or 3,
        activation_sparsity_pattern=[f.activation_sparsity or 0.0] * 4, altup_num_inputs=a.streams,
        altup_active_idx=a.active, laurel_rank=toy.arch.laurel.rank, rms_norm_eps=toy.arch.norm.eps,
        hidden_size_per_layer_input=toy.arch.per_layer_embedding.d_per_layer, vocab_size=32,
        vocab_size_per_layer_input=32, attn_implementation="eager")
    layer = Gemma3nTextDecoderLayer(cfg, index).double().eval()
    state = _state(toy.weights)
    assert set(state) == {k for k, _ in layer.named_parameters()}
    layer.load_state_dict(state, strict=True)
    x = torch.tensor(toy.x.transpose(1, 0, 2))[:, None]  # (streams, batch, T, d)
    pos = torch.arange(T)[None]
    layer_type = "sliding_attention" if m.window else "full_attention"
    rotary = Gemma3nRotaryEmbedding(cfg).double()
    i, j = np.arange(T)[:, None], np.arange(T)[None]
    mask = torch.tensor(np.where((j > i) | (i - j >= (m.window or T)), -np.inf, 0.0))[None, None]
    shared = {}
    if m.kv_shared:
        k, v = shared_kv_toy(m, T)
        shared = {layer_type: (torch.tensor(k)[None], torch.tensor(v)[None])}
    with torch.no_grad():
        out = layer(x, rotary(x[0], pos, layer_type), torch.tensor(per_layer_toy(toy.arch, T))[None],
                    shared_kv_states=shared, attention_mask=mask, position_ids=pos)
    np.testing.assert_allclose(out[:, 0].numpy().transpose(1, 0, 2), toy.out, atol=1e-6)


def test_gaussian_top_k_keeps_what_the_normal_quantile_says():
    """By hand: with s = 0.95 the gate is cut at mean + 1.6449 std; on a large normal sample about 5 % stay."""
    from gallery.kinds import gaussian_topk

    g = np.random.default_rng(0).standard_normal((4, 20_000))
    cut = gaussian_topk.apply(g, 0.95)
    assert abs(NormalDist().inv_cdf(0.95) - 1.6448536) < 1e-6
    assert 0.04 < (cut > 0).mean() < 0.06
    np.testing.assert_allclose(cut, np.maximum(g - (g.mean(-1, keepdims=True) + 1.6448536269514722 * g.std(
        -1, keepdims=True)), 0))


@pytest.mark.parametrize(("change", "message"), [
    ({"activation_sparsity_pattern": 0.9}, "activation_sparsity_pattern: one number (0.9) for 10 layers"),
    ({"activation_sparsity_pattern": [0.5] * 3}, "activation_sparsity_pattern: 3 entries for 10 layers"),
    ({"activation_sparsity_pattern": [1.0] * 10}, "holds a sparsity of 1 or more"),
    ({"activation_sparsity_pattern": [1] * 10}, "activation_sparsity_pattern[0]: 1 at layer 0 is an integer"),
    ({"intermediate_size": [96, 96]}, "intermediate_size: 2 widths for 10 layers"),
    ({"intermediate_size": [96] * 9 + [0]}, "intermediate_size: [96, 96"),
    ({"intermediate_size": "96"}, "intermediate_size is \"96\", a string: expected an integer or a list of"),
    ({"altup_active_idx": 3}, "altup_active_idx: 3 is not one of the 3 AltUp streams"),
    ({"altup_num_inputs": 0}, "altup_num_inputs is 0: expected a positive integer"),
    ({"laurel_rank": 0}, "laurel_rank is 0: expected a positive integer"),
    ({"hidden_size_per_layer_input": 0}, "hidden_size_per_layer_input: 0: Gemma3nTextModel builds"),
    ({"num_kv_shared_layers": 10}, "num_kv_shared_layers: 10 of 10 layers share K/V"),
    ({"altup_correct_scale": 1}, "altup_correct_scale is 1, an integer: expected a boolean"),
])
def test_hostile_configs_are_one_line_errors(change, message):
    config = {"model_type": "gemma3n_text", **SMALL, **change}
    with pytest.raises(DerivationError) as err:
        derive(config)
    assert len(err.value.lines) == 1 and message in err.value.lines[0], err.value.lines


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "gemma3n_text"}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(_config(**SMALL))


def test_diagram_draws_altup_laurel_and_the_sparse_gate():
    from gallery.diagram import to_dot
    from gallery.trial import spec_from_config

    from .dotgraph import parse

    dot = parse(to_dot(spec_from_config({"model_type": "gemma3n_text"})))
    labels = [a["label"] for a in dot.nodes.values()]
    assert "AltUp: 4 streams, 3 of them projected 2,048 → 2,048, RMS-matched" in dot.nodes["embed"]["label"]
    assert sum(lab.startswith("AltUp: 4 residual streams, stream 0 computed") for lab in labels) == 6  # per frame
    assert sum(lab.startswith("correct: router on the output") for lab in labels) == 6
    assert sum(lab.startswith("LAuReL (learned low-rank residual)\\nh → 2,048 → 64 → 2,048") for lab in labels) == 6
    assert sum("Gaussian top-k keeps ~5% (sparsity 0.95)" in lab for lab in labels) == 2  # the two sparse kinds
    assert any(lab.startswith("AltUp unembed") for lab in labels)


def test_compare_rows_name_the_streams_and_the_rank():
    from gallery.compare import rows
    from gallery.trial import spec_from_config

    spec = spec_from_config({"model_type": "gemma3n_text"})
    found = {(r.group, r.field): r.values[0] for r in rows([spec, spec])}
    assert found[("Norms", "AltUp")] == "4 streams" and found[("Norms", "LAuReL")] == "rank 64"
    assert found[("Parameters", "altup")] == 35 * (2 * 2048 + 4 * 4 + 4 ** 3 + 2048 * 4) + 2 * 3 * 2048 * 2048


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    """A specs folder with the spec ``new`` drafts from a small 12-layer config.json (the first ten layers sparse)."""
    config = _config(**SMALL | {"num_hidden_layers": 12, "num_kv_shared_layers": 2})
    return drafted_folder(tmp_path_factory.mktemp("g3n"), "gemma-3n-small",
                          config | {"architectures": ["Gemma3nForCausalLM"]}, "google/gemma-3n-E4B")


def test_pages_show_gemma_3n(specs, monkeypatch):
    text = pasted_diagram(_config(**SMALL))
    assert "AltUp" in text and "LAuReL" in text
    monkeypatch.setenv("GALLERY_SPECS", str(specs))
    at = _app("views/trace.py", slug="gemma-3n-small", layer="0", seq="6", toy="true")
    assert not at.exception
    ops = list(page_tables(at)[0]["op"])  # the steps: a static table
    assert ops[0] == "altup: active stream" and "laurel: merge" in ops and "gaussian top-k" in ops
