"""The attention output gate from its own projection (``gallery/kinds/gate.py``) and the model types read with it:
Laguna (softplus, per head or per element, per-layer query heads, a RoPE per layer type, sigmoid-routed experts
with a frozen correction bias and a shared expert) and Beam (σ per element plus a bias per head, NoPE full layers,
sandwich norms, DeepSeek-V3 routing). AFMoE's gate, the same option, is tested with its family
(tests/test_model_types_moe.py).

Each type: the default config, variants that change every size the config has, and configs transformers refuses,
compared with the model transformers builds on the meta device, exactly, and layer by layer (heads, the gate's
width and bias, window, RoPE); neither config class has an attribute_map, so there are no aliases to spell. ``new``
drafts a spec that lints clean and the Try page counts it. The toy against transformers (float64): a Laguna layer
of each gate width, dense and MoE; Beam's attention (its decoder layer scales the residual adds by depth, which the
spec does not model). The gate's FLOPs and the types' caches by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.derive import DerivationError, derive

from .reference import reference_model
from .test_model_types import (
    _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it,
)

TYPES = ["laguna", "beam"]
_COMMON = {"vocab_size": 100, "hidden_size": 48, "intermediate_size": 40, "num_hidden_layers": 5,
           "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 16, "moe_intermediate_size": 24,
           "num_experts": 8, "num_experts_per_tok": 2, "sliding_window": 32}
_SMALL = {
    "laguna": _COMMON | {"shared_expert_intermediate_size": 20, "layer_types": [
        "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"]},
    "beam": _COMMON | {"n_group": 4, "topk_group": 2},
}
_SIZES = {  # each size of the config changed
    "small": {}, "mha": {"num_key_value_heads": 6}, "mqa": {"num_key_value_heads": 1}, "head_dim": {"head_dim": 24},
    "width": {"hidden_size": 40}, "vocab": {"vocab_size": 777}, "7 layers": {"num_hidden_layers": 7},
    "tied": {"tie_word_embeddings": True}, "biases": {"attention_bias": True}, "window": {"sliding_window": 5},
    "experts": {"num_experts": 12, "num_experts_per_tok": 3, "moe_intermediate_size": 28},
    "d_ff": {"intermediate_size": 72},
    "mlp_layer_types": {"mlp_layer_types": ["sparse", "dense", "sparse", "dense", "sparse"]},
}
_LAGUNA_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 1e6, "partial_rotary_factor": 0.25},
                "sliding_attention": {"rope_type": "default", "rope_theta": 5e4}}
VARIANTS = {
    "laguna": _SIZES | {
        "7 layers": {"num_hidden_layers": 7, "layer_types": None},  # all full by default
        "per-element gate": {"gating": "per-element"}, "per-head gate": {"gating": "per-head"},
        "gating false": {"gating": False},  # LagunaAttention: not per head, so per element
        "heads per layer": {"num_attention_heads_per_layer": [6, 4, 2, 8, 6]},
        "rope per type": {"rope_parameters": _LAGUNA_ROPE},
        "shared width": {"shared_expert_intermediate_size": 36},
        "routed scaling": {"moe_routed_scaling_factor": 2.5},
        "all full": {"layer_types": None},
        "rope flat": {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}},  # transformers: KeyError
        "rope without theta": {"rope_parameters": {"full_attention": {"rope_type": "default"},
                                                   "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}},
    },
    "beam": _SIZES | {
        "7 layers": {"num_hidden_layers": 7},  # full at layer 5 and the last
        "2 layers": {"num_hidden_layers": 2},  # both dense; the last full
        "layer_types": {"layer_types": ["full_attention", "sliding_attention"] * 2 + ["full_attention"]},
        "rope in full layers": {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5e5},
                                                    "sliding_attention": {"rope_type": "default", "rope_theta": 1e4,
                                                                          "partial_rotary_factor": 0.5}}},
        "no window": {"sliding_window": None},
        "groups": {"n_group": 2, "topk_group": 1}, "no groups": {"n_group": None, "topk_group": None},
        "unnormalised": {"norm_topk_prob": False}, "scaling": {"routed_scaling_factor": 1.0},
        "no soft-cap": {"final_logit_softcapping": None},
        "heads do not divide": {"num_attention_heads": 5},  # BeamConfig refuses it
        "rope flat": {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}},  # transformers: KeyError
    },
}
# configs transformers builds that the gallery refuses in one line: an attention that could never run, or a
# router soft-cap the spec has no field for
_REFUSED = {
    ("laguna", "heads per layer not a multiple"): ({"num_attention_heads_per_layer": [6, 3, 2, 8, 6]},
                                                    "num_attention_heads_per_layer\\[1\\]: 3 query heads"),
    ("laguna", "router soft-cap"): ({"moe_router_logit_softcapping": 30.0}, "moe_router_logit_softcapping"),
    ("laguna", "unknown gating"): ({"gating": "per_head"}, r'gating: "per_head"'),
    ("laguna", "heads per layer short"): ({"num_attention_heads_per_layer": [6, 6]}, "one positive integer per layer"),
}


def _config(model_type: str, change: dict) -> dict:
    return {"model_type": model_type} | _SMALL[model_type] | change


def _check_layers(arch, model) -> None:
    """Layer by layer: heads, the gate's width and bias, the window and the RoPE each layer gets."""
    hf = model.config
    for i, layer in enumerate(model.model.layers):
        m, attn = arch.blocks[arch.layers[i]].mixer, layer.self_attn
        assert (m.n_heads, m.n_kv_heads, m.head_dim) == (attn.q_proj.out_features // attn.head_dim,
                                                          attn.k_proj.out_features // attn.head_dim, attn.head_dim)
        g = attn.g_proj if hf.model_type == "laguna" else attn.gate_proj
        assert g.out_features == m.n_heads * (m.head_dim if m.gate.per == "element" else 1) and g.bias is None
        assert m.gate.bias == hasattr(attn, "gate_bias")
        assert m.window == attn.sliding_window
        params = hf.rope_parameters[hf.layer_types[i]]
        if params is None:
            assert m.rope is None
        else:
            # Beam's rotary embedding (Olmo3's) turns the whole head whatever partial_rotary_factor says
            partial = params.get("partial_rotary_factor", 1.0) if hf.model_type == "laguna" else 1.0
            assert (m.rope.theta, m.rope.partial) == (params["rope_theta"], partial)
            assert 2 * getattr(model.model.rotary_emb, f"{hf.layer_types[i]}_inv_freq").shape[0] == int(
                m.rope.partial * m.head_dim)
        assert (arch.blocks[arch.layers[i]].ffn.kind == "moe") == hasattr(layer.mlp, "experts")


@pytest.mark.parametrize("model_type", TYPES)
def test_default_config_is_exact(model_type):
    default_config_is_exact(model_type, None, "")


@pytest.mark.parametrize(("model_type", "variant"), [(t, v) for t in TYPES for v in VARIANTS[t]])
def test_varied_configs_are_exact(model_type, variant):
    """Each size changed: the count equals transformers', and so does each layer; a config transformers refuses is
    refused too, with a clear error."""
    built = exact_or_refused_alike(_config(model_type, VARIANTS[model_type][variant]))
    if built:
        _check_layers(*built)


@pytest.mark.parametrize(("model_type", "case"), list(_REFUSED), ids=[c for _, c in _REFUSED])
def test_configs_the_gallery_cannot_draw_are_refused_in_one_line(model_type, case):
    change, why = _REFUSED[model_type, case]
    config = _config(model_type, change)
    if "short" not in case:  # a list of the wrong length transformers refuses too
        assert reference_model(config) is not None
    with pytest.raises(DerivationError, match=why):
        derive(config)


def test_the_default_layouts_are_read_by_hand():
    """Laguna: 40 full layers (layer_types null), the first dense, 48 heads with a gate each; Beam: every sixth layer
    and the last full (9 of 52) without RoPE, the others in a 512-token window with θ 10,000; three dense layers."""
    laguna = _arch({"model_type": "laguna"})
    assert laguna.layers == ["dense"] + ["moe"] * 39
    m = laguna.blocks["moe"].mixer
    assert (m.gate.activation, m.gate.per, m.gate.bias, m.rope.theta, m.rope.partial) == ("softplus", "head", False,
                                                                                         500000.0, 0.5)
    assert laguna.blocks["moe"].ffn.router.correction_bias_param and laguna.blocks["moe"].ffn.d_shared == 512
    beam = _arch({"model_type": "beam"})
    full = [i for i, k in enumerate(beam.layers) if k.startswith("full")]
    assert full == [5, 11, 17, 23, 29, 35, 41, 47, 51] and beam.layers[:4] == ["sliding-dense"] * 3 + ["sliding-moe"]
    assert beam.blocks["full-moe"].mixer.rope is None and beam.blocks["sliding-moe"].mixer.rope.theta == 10000.0
    assert beam.blocks["full-moe"].mixer.gate.bias and beam.embedding.logit_softcap == 30.0
    assert not beam.blocks["full-moe"].ffn.router.correction_bias_param  # a buffer (BeamTopKRouter)


@pytest.mark.parametrize("model_type", TYPES)
def test_new_drafts_a_spec_that_lints_clean(tmp_path, model_type, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": model_type}, capsys)


@pytest.mark.parametrize("model_type", TYPES)
def test_the_try_page_reads_it(model_type):
    the_try_page_counts_it(_config(model_type, {}))


# --- the toy against transformers (float64) --------------------------------------------------------------------


def _toy(model_type: str, change: dict, layer: int):
    from gallery.toy import toy_trace

    from .test_toy import SEQ

    return toy_trace(_arch(_config(model_type, change)), layer, SEQ, seed=3)


def _toy_config(model_type: str, toy, layer: int, types: list[str], mlp: list[str], change: dict) -> dict:
    """The toy's widths as a config of the type, ``layer + 1`` layers of ``types`` and ``mlp``."""
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    rope = {"rope_type": "default", "rope_theta": m.rope.theta, "partial_rotary_factor": m.rope.partial} if m.rope \
        else None
    cfg = {"model_type": model_type, "vocab_size": 32, "hidden_size": toy.arch.d_model, "num_hidden_layers": layer + 1,
           "num_attention_heads": m.n_heads, "num_key_value_heads": m.n_kv_heads, "head_dim": m.head_dim,
           "layer_types": types, "mlp_layer_types": mlp, "sliding_window": m.window or 32,
           "rope_parameters": {t: rope for t in ("full_attention", "sliding_attention")}, **change}
    cfg |= {"intermediate_size": f.d_ff} if f.kind == "mlp" else {
        "intermediate_size": 12, "moe_intermediate_size": f.d_expert, "num_experts": f.n_experts,
        "num_experts_per_tok": f.top_k}
    if model_type == "laguna" and f.kind == "moe":
        cfg |= {"shared_expert_intermediate_size": f.d_shared, "moe_routed_scaling_factor": f.router.weight_scale}
    if model_type == "beam" and f.kind == "moe":
        cfg |= {"n_group": f.router.n_groups, "topk_group": f.router.topk_groups,
                "routed_scaling_factor": f.router.weight_scale}
    return cfg


@pytest.mark.parametrize(("gating", "layer"), [(True, 0), ("per-element", 0), (True, 1), ("per-element", 2)])
def test_laguna_toy_layer_equals_transformers(gating, layer):
    """A dense sliding layer and MoE layers (full: θ 500,000 on half of each head), with the softplus gate per head
    and per element: the gate, QK-norm, σ routing with the correction bias, routed scaling and the shared expert."""
    from .test_model_types_hybrid import _toy_equals_transformers
    from .test_toy import _hf_state

    change = {"gating": gating, "moe_routed_scaling_factor": 1.5}
    toy = _toy("laguna", change, layer)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    assert m.gate.per == ("head" if gating is True else "element") and m.gate.activation == "softplus"
    types, mlp = _SMALL["laguna"]["layer_types"][:layer + 1], ["dense"] + ["sparse"] * layer
    cfg = _toy_config("laguna", toy, layer, types, mlp, change)
    _toy_equals_transformers(toy, cfg, layer, _hf_state("laguna", toy.arch, toy.weights, layer))


@pytest.mark.parametrize("layer", [0, 4])  # sliding with RoPE, dense; full without, MoE
def test_beam_attention_equals_transformers(layer, monkeypatch):
    """BeamAttention against the toy's attention: q/k/v, QK-norm, RoPE or none, the window, σ(gate_proj + gate_bias)
    per element, o_proj; compared at the attention's output, as the decoder layer scales its residual adds by depth.
    NoPE layers also scale their queries by (1 + (pos + 1)/2048)^0.1, which the spec leaves out: switched off here
    (BeamModel then passes no scaling)."""
    import torch
    import transformers
    from transformers.models.beam import modeling_beam

    from gallery.toy import toy_forward

    from .test_toy import SEQ, _hf_state, _layer_io, _model_with_toy_layer

    toy = _toy("beam", {}, layer)
    m = toy.arch.blocks[toy.arch.layers[0]].mixer
    assert m.gate.bias and m.gate.per == "element" and (m.rope is None) == (layer == 4)
    types = (["sliding_attention"] * 4 + ["full_attention"])[:layer + 1]
    cfg = _toy_config("beam", toy, layer, types, (["dense"] * 3 + ["sparse"] * 2)[:layer + 1], {})
    cfg["rope_parameters"]["full_attention"] = None
    derived = derive(cfg).arch
    assert type(m).model_validate(derived["blocks"][derived["layers"][layer]]["mixer"], strict=False) == m
    p = f"model.layers.{layer}."
    state = {k.replace("self_attn.g_proj", "self_attn.gate_proj"): v
             for k, v in _hf_state("beam", toy.arch, toy.weights, layer).items()}
    state[p + "self_attn.gate_bias"] = toy.weights["gate_bias"]
    model = _model_with_toy_layer(transformers.CONFIG_MAPPING["beam"].from_dict(cfg), state, p)
    monkeypatch.setattr(modeling_beam, "compute_attention_scaling", lambda position_ids: None)
    seen = {}
    model.model.layers[layer].self_attn.register_forward_hook(lambda mod, args, out: seen.update(out=out[0]))
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((1, SEQ, toy.arch.d_model)))
    hidden_in, _ = _layer_io(model, "beam", layer, x)
    steps = toy_forward(toy.arch, toy.weights, hidden_in)
    ops = [s.op for s in steps]
    assert ops.index("g_proj") < ops.index("gate") == ops.index("o_proj") - 1
    np.testing.assert_allclose(steps[ops.index("o_proj")].value, seen["out"][0].numpy(), rtol=1e-6, atol=1e-6)


# --- FLOPs and cache by hand -------------------------------------------------------------------------------------


def test_the_gate_steps_flops_by_hand():
    """g_proj: 2 × T × d_model × its width; the gate: the activation (3 FLOPs) and Beam's bias (1) per gate, then a
    product per output element (T × n_heads × head_dim)."""
    from gallery.trace import trace

    T = 10
    for model_type, change, per_gate, gates_per_head in (
            ("laguna", {}, 3, 1), ("laguna", {"gating": "per-element"}, 3, 16), ("beam", {}, 4, 16)):
        arch = _arch(_config(model_type, change))
        steps = {s.op: s for s in trace(arch, 1, T)}
        h = arch.blocks[arch.layers[1]].mixer.n_heads
        assert steps["g_proj"].flops == 2 * T * 48 * h * gates_per_head
        assert steps["gate"].flops == T * h * gates_per_head * per_gate + T * h * 16


def test_default_caches_by_hand():
    """Laguna: 40 full layers, 8 KV heads of 128; Beam: 9 full layers and 43 in a 512-token window, 8 KV heads of
    128; K and V in bf16."""
    from gallery.memory import kv_bytes, kv_bytes_per_token

    per_token = 2 * 8 * 128 * 2
    laguna, beam = _arch({"model_type": "laguna"}), _arch({"model_type": "beam"})
    assert kv_bytes_per_token(laguna) == 40 * per_token and kv_bytes(laguna, 4096) == 40 * per_token * 4096
    assert kv_bytes_per_token(beam) == 52 * per_token
    assert kv_bytes(beam, 4096) == (9 * 4096 + 43 * 512) * per_token
