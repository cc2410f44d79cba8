"""Ling 3.0's hybrid (``models/bailing_hybrid``), read as ``BailingHybridConfig`` and ``BailingHybridForCausalLM``
build it.

Its difference from Kimi Linear (Kimi Delta Attention in most layers, MLA in the others, DeepSeek-V3's MoE):

- the KDA layers (``BailingHybridDeltaAttention``) project the forget and output gates at full rank, f_proj and
  g_proj (d_model → n_heads × head_dim), and with ``kda_safe_gate`` bound the log-decay:
  g = kda_lower_bound · σ(exp(A_log) · (f + dt_bias)); heads, head_dim and kernel are ``num_attention_heads``,
  ``head_dim`` and ``short_conv_kernel_size``;
- every ``layer_group_size``-th layer is MLA (``BailingHybridAttention``) without query compression, with RoPE
  (θ ``rope_theta``, 6,000,000) and a per-head σ output gate of its own projection, g_proj (d_model → n_heads);
- the first ``first_k_dense_replace`` layers are dense (``mlp_layer_types`` wins); the checkpoint's spellings are
  the config class's attribute_map (``num_experts``, ``num_shared_experts``, ``num_expert_group`` ...);
- ``num_mtp_layers`` multi-token-prediction modules are not built by transformers: recorded as ``mtp_layers``.

The head is never tied (``_tied_weights_keys = {}``). Defaults are the config class defaults (checked by
``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import (
    MLP_TYPES, activation, attention_only, const, layer_kinds, linear_only, per_layer, required, without,
)
from .deepseek import DeepseekV3
from .kimi_linear import KimiLinear


def _layers(c, kind=None) -> list[str]:
    """``BailingHybridConfig.__post_init__``: full attention where (i + 1) % layer_group_size == 0, KDA elsewhere;
    dense below ``first_k_dense_replace``; ``layer_types`` and ``mlp_layer_types`` win."""
    n, group = c["num_hidden_layers"], required("layer_group_size", "layer pattern")(c)
    attention = per_layer(c, "layer_types", {"linear_attention": "linear", "full_attention": "full"}, n) or [
        "full" if (i + 1) % group == 0 else "linear" for i in range(n)]
    first = c["first_k_dense_replace"]
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense" if i < first else "moe" for i in range(n)]
    return layer_kinds(attention, ffn)


class BailingHybrid(KimiLinear):
    """``models/bailing_hybrid``: full-rank-gated KDA and gated MLA with RoPE over DeepSeek-V3's MoE."""

    model_type = "bailing_hybrid"
    transformers_class = "BailingHybridForCausalLM"
    defaults = without(KimiLinear.defaults, "q_lora_rank", "layer_types", "linear_head_dim", "linear_num_heads",
                       "linear_conv_kernel_dim") | {
        "vocab_size": 157184, "hidden_size": 2560, "intermediate_size": 6144, "moe_intermediate_size": 768,
        "num_hidden_layers": 42, "num_attention_heads": 32, "num_local_experts": 512, "n_shared_experts": 1,
        "routed_scaling_factor": 2.5, "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
        "first_k_dense_replace": 2, "norm_topk_prob": True, "max_position_embeddings": 262144, "rms_norm_eps": 1e-6,
        "kv_lora_rank": 512, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
        "rope_parameters": None, "rope_theta": 6_000_000.0, "head_dim": 128, "short_conv_kernel_size": 4,
        "layer_group_size": 6, "kda_safe_gate": True, "kda_lower_bound": -5.0, "layer_types": None,
        "num_mtp_layers": 1,
    }
    aliases = KimiLinear.aliases | {"num_nextn_predict_layers": "num_mtp_layers"}
    arch = KimiLinear.arch | {"mtp_layers": "num_mtp_layers"}
    layers = staticmethod(_layers)
    block = KimiLinear.block | {
        "mixer.q_lora_rank": attention_only(const(None)),  # BailingHybridAttention: a full q_proj
        "mixer.rope": attention_only(DeepseekV3.block["mixer.rope"]),
        "mixer.scale": attention_only(DeepseekV3.block["mixer.scale"]),
        "mixer.gate": attention_only(const({"activation": "sigmoid", "per": "head"})),
        "mixer.n_heads": "num_attention_heads",
        "mixer.head_dim": linear_only("head_dim"),
        "mixer.conv_kernel": linear_only("short_conv_kernel_size"),
        "mixer.activation": linear_only(activation("hidden_act")),
        "mixer.full_rank_gates": linear_only(const(True)),
        "mixer.safe_gate": linear_only(lambda c, k: c["kda_lower_bound"] if c["kda_safe_gate"] else None),
    }


__all__ = ["BailingHybrid"]
