"""Ling 3.0's hybrid (``bailing_hybrid``): Kimi Delta Attention with full-rank gates and the safe forget gate, MLA
with a per-head output gate of its own projection, DeepSeek-V3's MoE.

The default config, variants that change every size the config has and configs spelled with each alias of the
config class's attribute_map are counted exactly against the model transformers builds on the meta device; the
layer pattern read by hand; ``new`` drafts a spec that lints clean and the Try page counts it. The toy against
transformers (float64): a KDA layer with the safe gate and without, an MLA layer with its gate. The state and cache
and the options' FLOPs by hand.
"""

from __future__ import annotations

import pytest

from gallery.derive import derive

from .reference import reference_param_count
from .test_model_types import (
    _arch, default_config_is_exact, drafts_a_clean_spec, exact_or_refused_alike, the_try_page_counts_it,
)

# every width distinct, so a width read into the wrong place shows; a group of 3 so 6 layers have two full ones
SMALL = {"model_type": "bailing_hybrid", "vocab_size": 500, "hidden_size": 96, "num_attention_heads": 6,
         "intermediate_size": 160, "moe_intermediate_size": 40, "num_hidden_layers": 6, "num_local_experts": 8,
         "num_experts_per_tok": 3, "n_group": 4, "topk_group": 2, "kv_lora_rank": 24, "qk_nope_head_dim": 12,
         "qk_rope_head_dim": 4, "v_head_dim": 20, "head_dim": 10, "short_conv_kernel_size": 3, "layer_group_size": 3,
         "pad_token_id": 0, "eos_token_id": 2}
VARIANTS = {
    "small": {}, "7 layers": {"num_hidden_layers": 7}, "group of 2": {"layer_group_size": 2},
    "heads": {"num_attention_heads": 4}, "head_dim": {"head_dim": 14}, "kernel": {"short_conv_kernel_size": 5},
    "width": {"hidden_size": 72}, "vocab": {"vocab_size": 777}, "biases": {"attention_bias": True},
    "tied (never tied)": {"tie_word_embeddings": True}, "no safe gate": {"kda_safe_gate": False},
    "lower bound": {"kda_lower_bound": -3.0}, "latent": {"kv_lora_rank": 16, "qk_rope_head_dim": 8},
    "value width": {"v_head_dim": 8}, "query rank given (not read)": {"q_lora_rank": 32},
    "experts": {"num_local_experts": 12, "num_experts_per_tok": 2, "n_group": 3, "topk_group": 1},
    "two shared": {"n_shared_experts": 2}, "no shared": {"n_shared_experts": 0},
    "first 3 dense": {"first_k_dense_replace": 3}, "d_ff": {"intermediate_size": 72},
    "mlp_layer_types": {"mlp_layer_types": ["sparse", "dense", "sparse", "dense", "sparse", "sparse"]},
    "layer_types": {"layer_types": ["full_attention", "linear_attention"] * 3},
    "rope_theta": {"rope_theta": 10000.0},
    "yarn": {"rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                 "original_max_position_embeddings": 4096, "mscale_all_dim": 1.0}},
    "activation": {"hidden_act": "gelu_pytorch_tanh"}, "MTP modules": {"num_mtp_layers": 2},
}


def test_default_config_is_exact():
    default_config_is_exact("bailing_hybrid", None, "")


@pytest.mark.parametrize("variant", VARIANTS)
def test_varied_configs_are_exact(variant):
    built = exact_or_refused_alike(SMALL | VARIANTS[variant])
    if built:
        arch, model = built
        for i, layer in enumerate(model.model.layers):
            m, attn = arch.blocks[arch.layers[i]].mixer, layer.self_attn
            if m.kind == "kda":
                assert attn.forget_gate.f_proj.out_features == attn.g_proj.out_features == m.n_heads * m.head_dim
                assert (m.safe_gate is not None) == attn.forget_gate.safe_gate
                assert m.safe_gate is None or m.safe_gate == attn.forget_gate.lower_bound
            else:
                assert attn.g_proj.out_features == m.n_heads and m.gate.per == "head" and m.q_lora_rank is None
                assert (m.scale or (m.qk_nope_head_dim + m.qk_rope_head_dim) ** -0.5) == pytest.approx(attn.scaling)


def test_configs_spelled_as_the_checkpoint_spells_them_are_exact():
    """BailingHybridConfig.attribute_map: num_experts, num_experts_per_token, num_shared_experts, num_expert_group,
    moe_renormalize, model_max_length, num_nextn_predict_layers, each instead of its attribute, not the default."""
    import transformers

    config = dict(SMALL)
    for alias, key in transformers.CONFIG_MAPPING["bailing_hybrid"].attribute_map.items():
        config.pop(key, None)
        config.pop(alias, None)
    config |= {"num_experts": 6, "num_experts_per_token": 2, "num_shared_experts": 2, "num_expert_group": 3,
               "topk_group": 1, "moe_renormalize": False, "model_max_length": 4096, "num_nextn_predict_layers": 3}
    arch = _arch(config)
    assert total(arch) == reference_param_count(config)
    moe = arch.blocks["full-moe"].ffn
    assert (moe.n_experts, moe.top_k, moe.n_shared_experts, moe.router.n_groups, moe.router.normalize_topk) == (
        6, 2, 2, 3, False)
    assert (arch.context_length, arch.mtp_layers) == (4096, 3)


def total(arch) -> int:
    from gallery.counts import total_params

    return total_params(arch)


def test_the_default_layout_is_read_by_hand():
    """42 layers, MLA at every sixth (7 of them), the first two dense; KDA: 32 heads of 128, kernel 4, full-rank gates,
    the safe gate bounded at −5; MLA: RoPE θ 6,000,000 on 64 dims, a σ gate per head, no query compression."""
    arch = _arch({"model_type": "bailing_hybrid"})
    assert [i for i, k in enumerate(arch.layers) if k.startswith("full")] == [5, 11, 17, 23, 29, 35, 41]
    assert arch.layers[:3] == ["linear-dense", "linear-dense", "linear-moe"]
    kda, mla = arch.blocks["linear-moe"].mixer, arch.blocks["full-moe"].mixer
    assert (kda.n_heads, kda.head_dim, kda.conv_kernel, kda.full_rank_gates, kda.safe_gate) == (32, 128, 4, True, -5.0)
    assert (mla.rope.theta, mla.qk_rope_head_dim, mla.gate.activation, mla.gate.per, mla.q_lora_rank) == (
        6e6, 64, "sigmoid", "head", None)
    assert arch.mtp_layers == 1 and arch.embedding.tied is False


def test_new_drafts_a_spec_that_lints_clean(tmp_path, capsys):
    drafts_a_clean_spec(tmp_path, {"model_type": "bailing_hybrid"}, capsys)


def test_the_try_page_reads_it():
    the_try_page_counts_it(SMALL)


# --- the toy against transformers (float64) ----------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "safe"), [(0, True), (0, False), (2, True)])  # KDA (dense); MLA (MoE)
def test_toy_layer_equals_transformers(layer, safe):
    """KDA with full-rank f_proj and g_proj, with the safe gate (log-decay −5 · σ(exp(A_log) · (f + dt_bias))) and
    without; MLA with RoPE and its per-head σ(g_proj) gate, on DeepSeek-V3's MoE with a shared expert."""
    from gallery.toy import toy_trace

    from .test_model_types_hybrid import _toy_equals_transformers
    from .test_toy import SEQ, _hf_state

    change = {"kda_safe_gate": safe}
    toy = toy_trace(_arch(SMALL | change), layer, SEQ, seed=3)
    block = toy.arch.blocks[toy.arch.layers[0]]
    m, f = block.mixer, block.ffn
    cfg = {"model_type": "bailing_hybrid", "vocab_size": 32, "hidden_size": toy.arch.d_model,
           "num_hidden_layers": layer + 1, "layer_group_size": 3, "pad_token_id": 0, "eos_token_id": 2,
           "first_k_dense_replace": 2, **change}
    if m.kind == "kda":
        assert m.full_rank_gates and (m.safe_gate is not None) == safe
        cfg |= {"num_attention_heads": m.n_heads, "head_dim": m.head_dim, "short_conv_kernel_size": m.conv_kernel}
    else:
        assert m.gate.per == "head" and m.rope
        cfg |= {"num_attention_heads": m.n_heads, "kv_lora_rank": m.kv_lora_rank, "qk_nope_head_dim":
                m.qk_nope_head_dim, "qk_rope_head_dim": m.qk_rope_head_dim, "v_head_dim": m.v_head_dim,
                "rope_theta": m.rope.theta, "head_dim": 8, "layer_types": ["linear_attention"] * 2 + ["full_attention"],
                "num_key_value_heads": m.n_heads}  # DeepseekV3Attention repeats the KV heads heads // kv_heads times
    cfg |= {"intermediate_size": f.d_ff} if f.kind == "mlp" else {
        "intermediate_size": 12, "moe_intermediate_size": f.d_expert, "num_local_experts": f.n_experts,
        "num_experts_per_tok": f.top_k, "n_shared_experts": f.n_shared_experts, "n_group": f.router.n_groups or 1,
        "topk_group": f.router.topk_groups or 1, "routed_scaling_factor": f.router.weight_scale}
    state = _hf_state("bailing_hybrid", toy.arch, toy.weights, layer)
    key = f"model.layers.{layer}.self_attn.forget_gate.A_log"
    if key in state:  # BailingHybridForgetGate keeps A_log as (n_heads,), not Kimi's (1, 1, n_heads, 1)
        state[key] = state[key].reshape(-1)
    _toy_equals_transformers(toy, cfg, layer, state)


# --- state, cache and FLOPs by hand --------------------------------------------------------------------------------


def test_default_state_and_cache_by_hand():
    """35 KDA layers: a recurrent state of 32 × 128 × 128 (float32) and a conv window 3 × 4,096 × 4 each; 7 MLA
    layers: the latent 512 plus the RoPE key 64 per token (bf16)."""
    from gallery.memory import kv_bytes, kv_bytes_per_token, state_bytes

    arch = _arch({"model_type": "bailing_hybrid"})
    assert kv_bytes_per_token(arch) == 7 * (512 + 64) * 2
    recurrent, window = 32 * 128 * 128, 3 * 4096 * 4
    assert state_bytes(arch) == 35 * (recurrent + window) * 2
    assert kv_bytes(arch, 1000) == 7 * 576 * 1000 * 2 + state_bytes(arch)


def test_the_options_flops_by_hand():
    """Full-rank gates: f_proj and g_proj 2 × T × d_model × (n_heads × head_dim) each; the MLA gate: g_proj
    2 × T × d_model × n_heads, then σ per head (3) and a product per output element."""
    from gallery.trace import trace

    arch, T = _arch(SMALL), 10
    kda = {s.op: s for s in trace(arch, 0, T)}
    assert kda["f_proj"].flops == kda["g_proj"].flops == 2 * T * 96 * 6 * 10
    assert "f_a_proj" not in kda and kda["g = lower · σ(exp(A_log) · (f + dt_bias))"].flops == 6 * T * 60
    mla = {s.op: s for s in trace(arch, 2, T)}
    assert mla["g_proj"].flops == 2 * T * 96 * 6 and mla["gate"].flops == T * 6 * 3 + T * 6 * 20
    assert derive(SMALL | {"kda_safe_gate": False}).arch["blocks"]["linear-dense"]["mixer"]["safe_gate"] is None
