"""Inkling 2 (``inkling2_text``): Inkling's relative-logit attention with L2 clips, an output gate, a sink logit per
head and token, scaled (sliding) or dynamic (full) K/V convolutions and three inputs in full layers; soft-capped
SwiGLU experts; block attention residuals.

The default config, variants that change every size the config has, and configs spelled with the config class's
attribute_map aliases are compared with the model transformers builds on the meta device, exactly. The attention
(sliding, and full with its three inputs and dynamic convolutions) is checked by the toy against
``Inkling2SlidingAttention`` / ``Inkling2FullAttention`` in float64, the whole decoder layer (its block attention
residuals over the same block states, the output convolutions, the MoE) against ``Inkling2SlidingDecoderLayer`` /
``Inkling2FullDecoderLayer``; the counts, cache and FLOPs are derived by hand from the config numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from gallery.counts import active_params, block_terms, total_params
from gallery.derive import DerivationError, derive
from gallery.flops import flops_per_token, matmul_flops
from gallery.memory import kv_bytes, kv_bytes_per_token, state_bytes

from . import test_model_types as types
from .reference import reference_param_count
from .test_inkling import _build, _mask

BF16 = 2
# Every width distinct: d_model 96; full layers 6 heads of 16 over 2 KV heads, sliding layers 4 heads of 12 over 4;
# d_rel 5 over 40 distances (sliding: the window of 20); convolutions of 3 taps; 5 experts of 24, top-2; layers 0 and
# 2 sliding; blocks of 2 layers.
SMALL = {"model_type": "inkling2_text", "vocab_size": 500, "hidden_size": 96, "num_hidden_layers": 4,
         "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 16, "swa_num_attention_heads": 4,
         "swa_num_key_value_heads": 4, "swa_head_dim": 12, "sliding_window_size": 20, "d_rel": 5, "rel_extent": 40,
         "conv_kernel_size": 3, "moe_intermediate_size": 24, "n_routed_experts": 5, "num_experts_per_tok": 2,
         "layer_types": ["hybrid_sliding", "hybrid", "hybrid_sliding", "hybrid"], "n_layers_per_attn_res_block": 2}
VARIANTS = {
    "small": {},
    "default layer pattern": {"layer_types": None, "num_hidden_layers": 7},  # full where (i + 1) % 6 == 0
    "first layer full": {"layer_types": ["hybrid", "hybrid_sliding", "hybrid", "hybrid"]},
    "all sliding": {"layer_types": ["hybrid_sliding"] * 4},
    "widths": {"hidden_size": 64, "moe_intermediate_size": 20},
    "heads": {"num_attention_heads": 8, "num_key_value_heads": 1, "swa_num_attention_heads": 6,
              "swa_num_key_value_heads": 3},
    "head dims": {"head_dim": 8, "swa_head_dim": 20},
    "relative bias": {"d_rel": 1, "rel_extent": 7},
    "window": {"sliding_window_size": 9},
    "conv taps": {"conv_kernel_size": 5},
    "experts": {"n_routed_experts": 8, "num_experts_per_tok": 3},
    "blocks of one": {"n_layers_per_attn_res_block": 1},
    "blocks of six": {"n_layers_per_attn_res_block": 6},
    "tie asked": {"tie_word_embeddings": True},  # Inkling2ForCausalLM never ties
    "activation": {"hidden_act": "gelu_pytorch_tanh"},  # the experts' soft-capped SwiGLU ignores it
    "vocab": {"vocab_size": 1000, "unpadded_vocab_size": 900},
    "one layer": {"num_hidden_layers": 1, "layer_types": ["hybrid_sliding"]},
}


def test_default_config_is_exact():
    types.default_config_is_exact("inkling2_text", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike(SMALL | VARIANTS[variant])


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    config = {k: v for k, v in SMALL.items() if k not in ("sliding_window_size", "n_routed_experts",
                                                          "conv_kernel_size", "moe_intermediate_size")}
    config |= {"sliding_window": 11, "num_local_experts": 7, "sconv_kernel_size": 2, "model_max_length": 4096,
               "intermediate_size": 30, "routed_scaling_factor": 3.0}
    arch = types._arch(config)
    sliding, full = arch.blocks["sliding"], arch.blocks["full"]
    assert (sliding.mixer.window, sliding.mixer.rel_extent, full.ffn.n_experts, full.mixer.conv_kernel) == (11, 11, 7, 2)
    assert (full.sublayer_conv, arch.context_length, full.ffn.d_expert, full.ffn.router.weight_scale) == (
        2, 4096, 30, 3.0)
    assert total_params(arch) == reference_param_count(config)


def test_layer_kinds_and_queries_read_by_hand():
    arch = types._arch(SMALL | {"layer_types": None, "num_hidden_layers": 13})
    assert arch.layers == ["first-sliding"] + ["sliding"] * 4 + ["full"] + ["sliding"] * 5 + ["full", "sliding"]
    assert arch.block_attn_residual.queries == {"first-sliding": 0, "full": 3}
    assert types._arch(SMALL | VARIANTS["first layer full"]).block_attn_residual.queries == {"first-full": 0,
                                                                                           "full": 3}


def test_configs_the_gallery_cannot_read_are_refused():
    """scoring_func through ACT2FN: only a sigmoid gives the scores the router picks by (ACT2FN has no softmax)."""
    with pytest.raises(DerivationError, match="scoring_func.*accepted: 'sigmoid'"):
        derive(SMALL | {"scoring_func": "relu"})
    with pytest.raises(DerivationError, match=r"layer_types\[1\].*accepted: 'hybrid', 'hybrid_sliding'"):
        derive(SMALL | {"layer_types": ["hybrid", "full_attention", "hybrid", "hybrid"]})


def _attention(d: int, h: int, kv: int, hd: int, d_rel: int, extent: int, taps: int, full: bool) -> int:
    """Inkling2*Attention by hand: q, k, v, r, o; the K and V convolutions (full: static taps and weight_proj); the
    bias table; gate_proj, sink_proj; the clips' scales."""
    convs = 2 * (taps * kv * hd + d * kv * taps) if full else 2 * kv * hd * taps
    return (d * h * hd + 2 * d * kv * hd + d * h * d_rel + h * hd * d + convs + d_rel * extent + d * h * hd + d * h
            + h * hd + h * d_rel)


def test_each_layer_by_hand():
    arch = types._arch(SMALL)
    d, taps = 96, 3
    convs = 2 * d * taps  # post_attention_convolution, post_mlp_convolution
    moe = 5 * d + 5 * 3 * d * 24  # the router, the experts
    full, sliding = _attention(d, 6, 2, 16, 5, 40, taps, True), _attention(d, 4, 4, 12, 5, 20, taps, False)
    layer = lambda kind: sum(t.count for t in block_terms(arch, kind))  # noqa: E731
    # sliding: input_layernorm and post_attention_layernorm; full: q/k/v_input_layernorm and post_attention_layernorm;
    # the attention-residual queries: mlp_input's, and attention_input's (one; three in full layers; none in layer 0)
    assert layer("first-sliding") == sliding + moe + convs + 2 * d + d
    assert layer("sliding") == sliding + moe + convs + 2 * d + 2 * d
    assert layer("full") == full + moe + convs + 4 * d + 4 * d
    embed = 500 * d + d  # embed_tokens and embed_norm
    assert total_params(arch) == embed + layer("first-sliding") + layer("sliding") + 2 * layer("full") + d + d + d * 500


def test_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    # per token: K and V of the KV heads (full: 2 × 2 × 16, sliding 2 × 4 × 12 within its window of 20); the block
    # attention residuals add nothing (they attend over depth, at one position)
    assert kv_bytes_per_token(arch) == (2 * 64 + 2 * 96) * BF16
    # fixed state: the K and V conv windows (kv × head_dim × taps each) and the two output convs (d_model × taps each)
    full_state, sliding_state = 2 * 32 * 3 + 2 * 96 * 3, 2 * 48 * 3 + 2 * 96 * 3
    assert state_bytes(arch) == (2 * full_state + 2 * sliding_state) * BF16
    assert kv_bytes(arch, 1000, batch=2) == 2 * (2 * (64 * 1000 + full_state) + 2 * (96 * 20 + sliding_state)) * BF16
    d = 96
    proj = lambda h, kv, hd: d * h * hd + 2 * d * kv * hd + d * h * 5 + h * hd * d + d * h * hd + d * h  # noqa: E731
    full = proj(6, 2, 16) + 2 * (3 * 32 + d * 2 * 3)  # the dynamic convs' static taps and weight_proj
    sliding = proj(4, 4, 12) + 2 * 48 * 3
    moe = 5 * d + 2 * 3 * d * 24  # the router, the 2 chosen experts
    matmul = 2 * full + 2 * sliding + 4 * (2 * d * 3 + moe) + d * 500  # + the output convs; the head
    assert matmul_flops(arch) == 2 * matmul
    assert active_params(arch) == total_params(arch) - 4 * 3 * 3 * d * 24  # 3 of the 5 experts unused, per layer
    T = 1000  # QKᵀ and A·V over what a query sees, and each head's d_rel states × the table for the distances seen
    attend = 2 * (2 * 6 * 2 * 16 * T + 2 * 6 * 5 * 40) + 2 * (2 * 4 * 2 * 12 * 20 + 2 * 4 * 5 * 20)
    # block attention residuals, 4 × queries × sources × d_model each: blocks of 2, so layers 0–3 see 0, 1, 1, 2
    # block states; the mixer's input attends over them and the block so far (layer 0: no attention input; full
    # layers 1 and 3: three queries), the ffn's over them, the layer's input when it starts a block (0, 2), and the
    # block so far; the final query over the 2 block states and the last block
    sources = (0 + 3 * 2 + 1 * 2 + 3 * 3) + (2 + 2 + 3 + 3) + 3
    assert flops_per_token(arch, T) == 2 * matmul + attend + 4 * sources * d


def _config(toy, layer: int, **extra):
    """Inkling2TextConfig of the toy: ``layer`` + 1 layers of the toy's block kind, in float64."""
    from transformers import Inkling2TextConfig

    arch = toy.arch
    block = arch.blocks[arch.layers[-1]]
    m, f = block.mixer, block.ffn
    heads = dict(swa_num_attention_heads=m.n_heads, swa_num_key_value_heads=m.n_kv_heads, swa_head_dim=m.head_dim,
                 sliding_window_size=m.window) if m.window else dict(
        num_attention_heads=m.n_heads, num_key_value_heads=m.n_kv_heads, head_dim=m.head_dim, rel_extent=m.rel_extent,
        log_scaling_n_floor=m.log_scaling.n_floor, log_scaling_alpha=m.log_scaling.alpha)
    cfg = Inkling2TextConfig(
        vocab_size=32, hidden_size=arch.d_model, num_hidden_layers=layer + 1, d_rel=m.d_rel,
        layer_types=["hybrid_sliding" if m.window else "hybrid"] * (layer + 1), conv_kernel_size=m.conv_kernel,
        rms_norm_eps=arch.norm.eps, qk_l2_clip_threshold=m.clip.qk, rel_l2_clip_threshold=m.clip.rel,
        n_routed_experts=f.n_experts, num_experts_per_tok=f.top_k, moe_intermediate_size=f.d_expert,
        route_scale=f.router.weight_scale, mlp_gate_softcap=f.softcap.gate, mlp_up_softcap=f.softcap.up,
        n_layers_per_attn_res_block=arch.block_attn_residual.block_layers, **heads, **extra)
    cfg._attn_implementation = "eager"
    return cfg


def _attention_state(toy, prefix: str = "") -> dict:
    """The toy's attention weights as Inkling2*Attention's state dict (weights stored (in, out): transposed)."""
    import torch

    m = toy.arch.blocks[toy.arch.layers[-1]].mixer
    t = {k: torch.from_numpy(v) for k, v in toy.weights.items()}
    names = {"q_proj": "q_proj", "k_proj": "k_proj", "v_proj": "v_proj", "r_proj": "r_proj", "o_proj": "o_proj",
             "gate_proj": "g_proj", "sink_proj": "sink_proj"}
    state = {f"{prefix}{theirs}.weight": t[f"{ours}.weight"].T for theirs, ours in names.items()}
    for n in "kv":
        if m.conv_form == "dynamic":
            state |= {f"{prefix}{n}_sconv.static_weight": t[f"{n}_sconv.static_weight"],
                      f"{prefix}{n}_sconv.weight_proj.weight": t[f"{n}_sconv.weight_proj.weight"].T}
        else:
            state[f"{prefix}{n}_sconv.conv1d.weight"] = t[f"{n}_sconv.conv1d.weight"][:, None, :]
    return state | {f"{prefix}{n}": t[n] for n in ("rel_logits_proj.proj", "q_l2_clip.scale", "rel_l2_clip.scale")}


def _value(toy, op: str):
    return next(s for s in toy.steps if s.op == op).value


@pytest.mark.parametrize("layer", [1, 2], ids=["full", "sliding"])
def test_toy_attention_equals_transformers(layer):
    """Inkling2FullAttention (three inputs, dynamic K/V convolutions, log scaling from position 2 in the toy) and
    Inkling2SlidingAttention (scaled convolutions, the window): the clips (cut so they bite), the V norm, the relative
    bias, the sink logit per token, the output gate."""
    import torch
    from transformers.models.inkling2.modeling_inkling2 import Inkling2FullAttention, Inkling2SlidingAttention

    from gallery.toy import toy_trace

    arch = types._arch(SMALL | {"rms_norm_eps": 1e-6})
    toy = toy_trace(arch, layer, 6, seed=2)
    m = toy.arch.blocks[toy.arch.layers[-1]].mixer
    assert (m.conv_form, m.three_inputs, m.window) == (("dynamic", True, None) if layer == 1 else ("scaled", False, 3))
    full = m.three_inputs
    attn = _build(Inkling2FullAttention if full else Inkling2SlidingAttention, _config(toy, layer), layer)
    attn.load_state_dict(_attention_state(toy), strict=True)
    inputs = {"hidden_states": torch.from_numpy(_value(toy, "q input norm" if full else "attn norm (pre)"))[None]}
    if full:
        inputs |= {f"{t}_hidden_states": torch.from_numpy(_value(toy, f"{t[0]} input norm"))[None]
                   for t in ("key", "value")}
    with torch.no_grad():
        want = attn(**inputs, attention_mask=_mask(6, m.window), position_ids=torch.arange(6)[None])[0][0].numpy()
    # the convolutions, clips, V norm, sinks and gate run in float32 whatever the model's dtype; within 1e-6 still
    np.testing.assert_allclose(_value(toy, "o_proj"), want, rtol=1e-6, atol=1e-6)
    clip = _value(toy, "clip Q")
    assert np.isclose(np.linalg.norm(clip, axis=-1).max(), m.clip.qk)  # the clip bites on some query


@pytest.mark.parametrize("change, layer", [({}, 0), ({}, 1), ({}, 2), ({"layer_types": ["hybrid"] * 4}, 0),
                                           ({"layer_types": ["hybrid"] * 4}, 2)],
                         ids=["first sliding", "full", "sliding starting a block", "first full", "full starting a block"])
def test_toy_layer_equals_transformers(change, layer):
    """Inkling2SlidingDecoderLayer / Inkling2FullDecoderLayer over the same block states: the attention residuals
    (none before the first layer's attention; three queries in a full layer), a block's first layer restarting the
    residual, the scaled output convolutions, the router with its correction bias and the soft-capped experts."""
    import torch
    from transformers.models.inkling2.modeling_inkling2 import Inkling2FullDecoderLayer, Inkling2SlidingDecoderLayer

    from gallery.block_attn_residual import stand_in, states
    from gallery.toy import toy_trace

    arch = types._arch(SMALL | change | {"rms_norm_eps": 1e-6, "route_scale": 2.5})
    toy = toy_trace(arch, layer, 6, seed=4)
    block = toy.arch.blocks[toy.arch.layers[-1]]
    full, d = block.mixer.three_inputs, toy.arch.d_model
    cls = Inkling2FullDecoderLayer if full else Inkling2SlidingDecoderLayer
    dec = _build(cls, _config(toy, layer), layer)
    t = {k: torch.from_numpy(v) for k, v in toy.weights.items()}
    norms = {f"{n}_input_layernorm.weight": t[f"{n}_input_layernorm.weight"] for n in "qkv"} if full else {
        "input_layernorm.weight": t["attn_norm.weight"]}
    state = _attention_state(toy, "self_attn.") | norms | {
        "post_attention_layernorm.weight": t["ffn_norm.weight"], "mlp_input.query": t["mlp_input.query"],
        "post_attention_convolution.conv1d.weight": t["attn_sconv.conv1d.weight"][:, None, :],
        "post_mlp_convolution.conv1d.weight": t["ffn_sconv.conv1d.weight"][:, None, :],
        "mlp.gate.weight": t["router.weight"].T, "mlp.gate.e_score_correction_bias": t["router.correction_bias"],
        "mlp.experts.gate_up_proj": torch.cat([t["experts.gate_proj.weight"], t["experts.up_proj.weight"]],
                                              -1).transpose(1, 2),
        "mlp.experts.down_proj": t["experts.down_proj.weight"].transpose(1, 2)}
    if layer:
        state["attention_input.query"] = t["attention_input.query"]
    dec.load_state_dict(state, strict=True)
    dec.mlp.gate.float()  # _keep_in_fp32_modules_strict: the router's weight and bias stay float32
    blocks = torch.from_numpy(stand_in(6, states(toy.arch, layer), d))[None]
    with torch.no_grad():
        want = dec(torch.from_numpy(toy.x)[None], blocks, attention_mask=_mask(6, block.mixer.window),
                   position_ids=torch.arange(6)[None])[0].numpy()
    # the attention residuals, convolutions, clips, router and experts run in float32 whatever the model's dtype (the
    # router's weight stored so too); within 1e-6 still
    np.testing.assert_allclose(toy.out, want, rtol=1e-6, atol=1e-6)


def test_trace_diagram_and_names():
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    for layer in range(4):
        steps = trace(arch, layer, 5)
        assert sum(p.count for s in steps for p in s.params) == sum(t.count for t in block_terms(arch, arch.layers[layer]))
        names = [p.name for s in steps for p in s.params]
        assert len(names) == len(set(names))
        ops = [s.op for s in steps]
        assert ("attention_input: mix" in ops) == (layer > 0)
        assert ("start a new block" in ops) == (layer % 2 == 0) and ops.count("residual add") == 1 + layer % 2
        assert ops.index("add relative bias") == ops.index("mask") - 1 < ops.index("append sink logit")
    full = trace(arch, 3, 5)  # layer 3: 2 block states and the block so far; three queries for Q, K, V
    assert next(s for s in full if s.op == "attention_input: scores").out_shape == (5, 3, 3)
    assert next(s for s in full if s.op == "mlp_input: scores").out_shape == (5, 1, 3)
    dot = to_dot(spec_from_config(SMALL))
    assert "Block attention residuals" in dot and "(y + conv(y)) / √4" in dot and "L2-clipped" in dot
    assert "SwiGLU soft-capped" in dot


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": "inkling2_text"}, capsys)


def test_the_try_page_reads_it():
    types.the_try_page_counts_it(SMALL)


@pytest.mark.parametrize("change, message", [
    ({"qk_l2_clip_threshold": "x"}, 'qk_l2_clip_threshold is "x", a string: expected a float above 0'),
    ({"n_layers_per_attn_res_block": 0}, "n_layers_per_attn_res_block is 0: expected a positive integer"),
    ({"mlp_up_softcap": -1.0}, "mlp_up_softcap is -1.0: expected a float above 0"),
    ({"scoring_func": "softmax"}, "scoring_func: 'softmax' is not read"),
])
def test_hostile_configs_are_one_line(change, message):
    from gallery.trial import TrialError, spec_from_config

    with pytest.raises(TrialError) as err:
        spec_from_config(SMALL | change)
    [line] = err.value.lines
    assert line.startswith(message)
