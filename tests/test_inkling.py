"""Inkling (``inkling_text``): relative-logit attention with short convolutions on K and V, a short convolution on
each sublayer's output, a normed embedding, and an MoE whose router scores the shared experts too.

The default config, variants that change every size the config has, and configs spelled with the config class's
attribute_map aliases are compared with the model transformers builds on the meta device, exactly. The attention
(full with log scaling, and sliding) is checked by the toy against ``InklingAttention`` in float64, the whole layer
(output convolutions, MoE, dense MLP) against ``InklingDecoderLayer``; the counts, cache and FLOPs are derived by hand
from the config numbers.
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

BF16 = 2
# Every width distinct: d_model 96; full layers 6 heads of 16 over 2 KV heads, sliding layers 4 heads of 12 over 4;
# d_rel 5 over 40 distances (sliding: the window of 20); convolutions of 3 taps; MLP 160; 5 experts of 24, top-2,
# 2 shared; layers 0 and 2 sliding.
SMALL = {"model_type": "inkling_text", "vocab_size": 500, "hidden_size": 96, "num_hidden_layers": 4,
         "num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 16, "swa_num_attention_heads": 4,
         "swa_num_key_value_heads": 4, "swa_head_dim": 12, "sliding_window_size": 20, "d_rel": 5, "rel_extent": 40,
         "conv_kernel_size": 3, "intermediate_size": 160, "moe_intermediate_size": 24, "n_routed_experts": 5,
         "num_experts_per_tok": 2, "n_shared_experts": 2, "local_layer_ids": [0, 2]}
VARIANTS = {
    "small": {},
    "default layer pattern": {"local_layer_ids": None, "num_hidden_layers": 7},  # full where (i + 1) % 6 == 0
    "layer_types": {"layer_types": ["hybrid", "hybrid_sliding", "hybrid", "hybrid"]},
    "mlp_layer_types": {"mlp_layer_types": ["dense", "sparse", "dense", "sparse"]},
    "dense_mlp_idx": {"dense_mlp_idx": 2},
    "dense_intermediate_size": {"dense_mlp_idx": 1, "dense_intermediate_size": 72},  # intermediate_size: experts'
    "widths": {"hidden_size": 64, "intermediate_size": 88, "moe_intermediate_size": 20},
    "heads": {"num_attention_heads": 8, "num_key_value_heads": 1, "swa_num_attention_heads": 6,
              "swa_num_key_value_heads": 3},
    "head dims": {"head_dim": 8, "swa_head_dim": 20},
    "relative bias": {"d_rel": 1, "rel_extent": 7},
    "window": {"sliding_window_size": 9},
    "conv taps": {"conv_kernel_size": 5},
    "experts": {"n_routed_experts": 8, "num_experts_per_tok": 3, "n_shared_experts": 1},
    "three shared": {"n_shared_experts": 3},
    "tie asked": {"tie_word_embeddings": True},  # InklingForCausalLM never ties
    "log scaling": {"log_scaling_n_floor": 16, "log_scaling_alpha": 0.5},
    "activation": {"hidden_act": "gelu_pytorch_tanh"},
    "vocab": {"vocab_size": 1000, "unpadded_vocab_size": 900},
    "logit divisor": {"logits_mup_width_multiplier": 3.0},
    "one layer": {"num_hidden_layers": 1, "local_layer_ids": []},
}


def test_default_config_is_exact():
    types.default_config_is_exact("inkling_text", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    types.exact_or_refused_alike(SMALL | VARIANTS[variant])


def test_configs_spelled_with_attribute_map_aliases_are_exact():
    config = {k: v for k, v in SMALL.items() if k not in ("sliding_window_size", "n_routed_experts",
                                                          "conv_kernel_size")}
    config |= {"sliding_window": 11, "num_local_experts": 7, "sconv_kernel_size": 2, "model_max_length": 4096,
               "embedding_multiplier": 2.0}
    arch = types._arch(config)
    sliding, full = arch.blocks["sliding"], arch.blocks["full"]
    assert (sliding.mixer.window, sliding.mixer.rel_extent, full.ffn.n_experts, full.mixer.conv_kernel) == (11, 11, 7, 2)
    assert (full.sublayer_conv, arch.context_length, arch.embedding.logit_scale) == (2, 4096, 0.5)
    assert total_params(arch) == reference_param_count(config)


def test_layer_patterns_read_by_hand():
    kinds = lambda change: types._arch(SMALL | change).layers  # noqa: E731
    assert kinds({"local_layer_ids": None, "num_hidden_layers": 13}) == ["sliding"] * 5 + ["full"] + [
        "sliding"] * 5 + ["full", "sliding"]
    assert kinds({"local_layer_ids": [1, 9]}) == ["full", "sliding", "full", "full"]  # ids beyond the layers: none
    assert kinds({"dense_mlp_idx": 1}) == ["sliding-dense", "full-moe", "sliding-moe", "full-moe"]
    arch = types._arch(SMALL | {"dense_mlp_idx": 1, "dense_intermediate_size": 72})
    assert (arch.blocks["sliding-dense"].ffn.d_ff, arch.blocks["full-moe"].ffn.d_expert) == (72, 160)


def test_configs_transformers_builds_but_could_never_run_are_refused():
    """A layer type InklingAttention and InklingTextModel read differently (a "full_attention" entry builds a full
    layer that the model masks as sliding), and no shared expert (the router's scores[..., :-0] is empty)."""
    with pytest.raises(DerivationError, match=r"layer_types\[1\].*accepted: 'hybrid', 'hybrid_sliding'"):
        derive(SMALL | {"layer_types": ["hybrid", "full_attention", "hybrid", "hybrid"]})
    with pytest.raises(DerivationError, match="n_shared_experts is 0"):
        derive(SMALL | {"n_shared_experts": 0})
    with pytest.raises(DerivationError, match="mlp_layer_types"):
        derive(SMALL | {"mlp_layer_types": ["dense", "moe", "dense", "dense"]})


def _attention(d: int, h: int, kv: int, hd: int, d_rel: int, extent: int, taps: int) -> int:
    """InklingAttention by hand: q, k, v, r, o; the K and V convolutions; q_norm, k_norm; the bias table."""
    return d * h * hd + 2 * d * kv * hd + d * h * d_rel + h * hd * d + 2 * kv * hd * taps + 2 * hd + d_rel * extent


def test_each_layer_by_hand():
    arch = types._arch(SMALL | {"dense_mlp_idx": 1})
    d, taps = 96, 3
    convs_norms = 2 * d * taps + 2 * d  # attn_sconv and mlp_sconv; input_layernorm and post_attention_layernorm
    moe = (5 + 2) * d + 1 + 5 * 3 * d * 24 + 2 * 3 * d * 24  # router over routed and shared, global_scale, experts
    mlp = 3 * d * 160 + 1  # gate, up, down, global_scale
    full, sliding = _attention(d, 6, 2, 16, 5, 40, taps), _attention(d, 4, 4, 12, 5, 20, taps)
    layer = lambda kind: sum(t.count for t in block_terms(arch, kind))  # noqa: E731
    assert layer("sliding-dense") == sliding + mlp + convs_norms
    assert layer("full-moe") == full + moe + convs_norms and layer("sliding-moe") == sliding + moe + convs_norms
    embed = 500 * d + d  # embed_tokens and embed_norm
    assert total_params(arch) == embed + (sliding + mlp) + 2 * full + sliding + 3 * moe + 4 * convs_norms + d + d * 500


def test_cache_and_flops_by_hand():
    arch = types._arch(SMALL)
    # per token: K and V of the KV heads (full: 2 × 2 × 16, sliding 2 × 4 × 12 within its window of 20)
    assert kv_bytes_per_token(arch) == (2 * 64 + 2 * 96) * BF16
    # fixed state: the K and V conv windows (kv × head_dim × taps each) and the two output convs (d_model × taps each)
    full_state, sliding_state = 2 * 32 * 3 + 2 * 96 * 3, 2 * 48 * 3 + 2 * 96 * 3
    assert state_bytes(arch) == (2 * full_state + 2 * sliding_state) * BF16
    assert kv_bytes(arch, 1000, batch=2) == 2 * (2 * (64 * 1000 + full_state) + 2 * (96 * 20 + sliding_state)) * BF16
    d = 96
    weights = lambda h, kv, hd: d * h * hd + 2 * d * kv * hd + d * h * 5 + h * hd * d + 2 * kv * hd * 3  # noqa: E731
    moe = (5 + 2) * d + 2 * 3 * d * 24 + 2 * 3 * d * 24  # router, the 2 chosen experts, the 2 shared ones
    layer = lambda h, kv, hd: weights(h, kv, hd) + 2 * d * 3 + moe  # noqa: E731  (+ the output convs)
    matmul = 2 * layer(6, 2, 16) + 2 * layer(4, 4, 12) + d * 500  # the head
    assert matmul_flops(arch) == 2 * matmul
    assert active_params(arch) == total_params(arch) - 4 * 3 * 3 * d * 24  # 3 of the 5 experts unused, per layer
    T = 1000  # QKᵀ and A·V over what a query sees, and each head's d_rel states × the table for the distances seen
    attend = 2 * (2 * 6 * 2 * 16 * T + 2 * 6 * 5 * 40) + 2 * (2 * 4 * 2 * 12 * 20 + 2 * 4 * 5 * 20)
    assert flops_per_token(arch, T) == 2 * matmul + attend


def _config(toy, **extra):
    from transformers import InklingTextConfig

    block = toy.arch.blocks[toy.arch.layers[0]]
    m = block.mixer
    f = block.ffn
    moe = dict(n_routed_experts=f.n_experts, num_experts_per_tok=f.top_k, moe_intermediate_size=f.d_expert,
               n_shared_experts=f.n_shared_experts, route_scale=f.router.weight_scale) if f.kind == "moe" else dict(
        intermediate_size=f.d_ff)
    heads = dict(swa_num_attention_heads=m.n_heads, swa_num_key_value_heads=m.n_kv_heads, swa_head_dim=m.head_dim,
                 sliding_window_size=m.window, layer_types=["hybrid_sliding"]) if m.window else dict(
        num_attention_heads=m.n_heads, num_key_value_heads=m.n_kv_heads, head_dim=m.head_dim,
        rel_extent=m.rel_extent, layer_types=["hybrid"])
    log = dict(log_scaling_n_floor=m.log_scaling.n_floor, log_scaling_alpha=m.log_scaling.alpha) if m.log_scaling else {}
    cfg = InklingTextConfig(vocab_size=32, hidden_size=toy.arch.d_model, num_hidden_layers=1, d_rel=m.d_rel,
                            conv_kernel_size=m.conv_kernel, rms_norm_eps=toy.arch.norm.eps,
                            mlp_layer_types=["sparse" if f.kind == "moe" else "dense"], **heads, **log, **moe, **extra)
    cfg._attn_implementation = "eager"
    return cfg


def _state(w: dict, prefix: str = "") -> dict:
    """The toy's attention weights as InklingAttention's state dict (weights stored (in, out): transposed)."""
    import torch

    t = {k: torch.from_numpy(v) for k, v in w.items()}
    state = {f"{prefix}{n}.weight": t[f"{n}.weight"].T for n in ("q_proj", "k_proj", "v_proj", "r_proj", "o_proj")}
    state |= {f"{prefix}{n}_sconv.conv1d.weight": t[f"{n}_sconv.conv1d.weight"][:, None, :] for n in "kv"}
    state |= {f"{prefix}{n}_norm.weight": t[f"{n}_norm.weight"] for n in "qk"}
    return state | {f"{prefix}rel_logits_proj.proj": t["rel_logits_proj.proj"]}


def _build(cls, cfg, layer: int = 0):
    """Layer ``layer`` of ``cls`` built in float64."""
    import torch

    torch.set_default_dtype(torch.float64)
    try:
        return cls(cfg, layer)
    finally:
        torch.set_default_dtype(torch.float32)


def _mask(T: int, window: int | None):
    import torch

    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    allowed = (j <= i) & ((i - j < window) if window else True)
    return torch.where(allowed, 0.0, float("-inf")).to(torch.float64)[None, None]


@pytest.mark.parametrize("kind", ["full", "sliding"])
def test_toy_attention_equals_transformers(kind):
    """InklingAttention in float64: the K and V convolutions, QK-norm, the relative bias (cut at rel_extent, which
    the toy's 6 tokens exceed), the window, and in full layers the log scaling (from position 2 in the toy)."""
    import torch
    from transformers.models.inkling.modeling_inkling import InklingAttention

    from gallery.toy import toy_trace

    arch = types._arch(SMALL | {"log_scaling_n_floor": 16, "rms_norm_eps": 1e-6})
    toy = toy_trace(arch, arch.layers.index(kind), 6, seed=2)
    m = toy.arch.blocks[kind].mixer
    assert (m.rel_extent, m.window, m.log_scaling and m.log_scaling.n_floor) == (
        (4, None, 2) if kind == "full" else (3, 3, None))
    layer = _build(InklingAttention, _config(toy))
    layer.load_state_dict(_state(toy.weights), strict=True)
    h = next(s for s in toy.steps if s.op == "attn norm (pre)").value
    with torch.no_grad():
        want = layer(torch.from_numpy(h)[None], attention_mask=_mask(6, m.window))[0][0].numpy()
    got = next(s for s in toy.steps if s.op == "o_proj").value
    # InklingShortConvolution computes in float32 whatever the model's dtype: K and V carry its rounding
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("change", [{}, {"dense_mlp_idx": 1}], ids=["moe", "dense"])
def test_toy_layer_equals_transformers(change):
    """InklingDecoderLayer: attention, its output convolution, the MoE (shared experts weighted by the router) or the
    dense MLP with its global scale, the MLP's output convolution."""
    import torch
    from transformers.models.inkling.modeling_inkling import InklingDecoderLayer

    from gallery.toy import toy_forward, toy_trace

    arch = types._arch(SMALL | change | {"rms_norm_eps": 1e-6, "route_scale": 2.5})
    toy = toy_trace(arch, 0, 6, seed=4)
    kind = toy.arch.layers[0]
    f = toy.arch.blocks[kind].ffn
    layer = _build(InklingDecoderLayer, _config(toy))
    t = {k: torch.from_numpy(v) for k, v in toy.weights.items()}
    state = _state(toy.weights, "self_attn.") | {
        "input_layernorm.weight": t["attn_norm.weight"], "post_attention_layernorm.weight": t["ffn_norm.weight"],
        "attn_sconv.conv1d.weight": t["attn_sconv.conv1d.weight"][:, None, :],
        "mlp_sconv.conv1d.weight": t["ffn_sconv.conv1d.weight"][:, None, :]}
    if f.kind == "moe":
        S, w = f.n_shared_experts, f.d_expert
        state |= {"mlp.gate.weight": t["router.weight"].T, "mlp.gate.global_scale": t["router.global_scale"],
                  "mlp.gate.e_score_correction_bias": t["router.correction_bias"],
                  "mlp.experts.gate_up_proj": torch.cat([t["experts.gate_proj.weight"], t["experts.up_proj.weight"]],
                                                        -1).transpose(1, 2),
                  "mlp.experts.down_proj": t["experts.down_proj.weight"].transpose(1, 2),
                  **{f"mlp.shared_experts.{n}": t[f"shared_expert.{n}.weight"].T.reshape(S, w, -1)
                     for n in ("gate_proj", "up_proj")},
                  "mlp.shared_experts.down_proj": t["shared_expert.down_proj.weight"].reshape(S, w, -1).transpose(1, 2)}
    else:
        state |= {f"mlp.{n}.weight": t[f"{n}.weight"].T for n in ("gate_proj", "up_proj", "down_proj")}
        state["mlp.global_scale"] = t["global_scale"]
    layer.load_state_dict(state, strict=True)
    x = np.random.default_rng(5).standard_normal((6, toy.arch.d_model))
    with torch.no_grad():
        want = layer(torch.from_numpy(x)[None], attention_mask=_mask(6, toy.arch.blocks[kind].mixer.window))[0].numpy()
    got = toy_forward(toy.arch, toy.weights, x)[-1].value
    # the router (logits, σ, weights) and the short convolutions run in float32 whatever the model's dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_diagram_and_trace():
    from gallery.diagram import to_dot
    from gallery.trace import trace
    from gallery.trial import spec_from_config

    arch = types._arch(SMALL)
    for layer in (0, 1):
        steps = trace(arch, layer, 5)
        counted = sum(t.count for t in block_terms(arch, arch.layers[layer]))
        assert sum(p.count for s in steps for p in s.params) == counted
        ops = [s.op for s in steps]
        assert ops.index("attn output + conv") < ops.index("residual add") < ops.index("ffn output + conv")
        assert ops.index("add relative bias") == ops.index("mask") - 1
    dot = to_dot(spec_from_config(SMALL))
    assert "Relative-logit attention (no RoPE)" in dot and "causal conv on the output" in dot
    assert "scores the shared experts too" in dot


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    types.drafts_a_clean_spec(tmp_path, {"model_type": "inkling_text"}, capsys)


def test_the_try_page_reads_it():
    types.the_try_page_counts_it(SMALL)
