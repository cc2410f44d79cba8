"""Mixture-of-experts descendants of Mistral and Qwen2: Mixtral, Qwen2-MoE, Qwen3-MoE, gpt-oss.

The attention is the parent's; the feed-forward of (some) layers becomes a router plus experts.
Dense and MoE layers, and sliding and full ones, are told apart by block-kind names from
:func:`~gallery.derive.family.layer_kinds`. Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..family import (
    DROP, SLIDING_OR_FULL, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only, per_layer, rope_from, without,
)
from .llama import Mistral, Qwen2

_MOE_FFN = {
    "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
    "ffn.d_ff": dense_only("intermediate_size"),
    "ffn.gated": const(True),
    "ffn.bias": dense_only(const(False)),
}


class Mixtral(Mistral):
    """``models/mixtral``: Mistral with every MLP replaced by 8 SwiGLU experts, top-2 softmax routing."""

    model_type = "mixtral"
    transformers_class = "MixtralForCausalLM"
    defaults = Mistral.defaults | {
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "sliding_window": None, "rope_theta": 1e6,
        "num_local_experts": 8, "num_experts_per_tok": 2,
    }
    aliases = {"num_experts": "num_local_experts"}
    layers = staticmethod(lambda c: layer_kinds(
        ["sliding" if c["sliding_window"] else "full"] * c["num_hidden_layers"], ["moe"] * c["num_hidden_layers"]))
    block = without(Mistral.block | _MOE_FFN, "ffn.d_ff", "ffn.bias") | {
        "ffn.n_experts": "num_local_experts",
        "ffn.top_k": "num_experts_per_tok",
        "ffn.d_expert": "intermediate_size",
        "ffn.router.normalize_topk": const(True),
    }


def _qwen2_moe_ffn(c, i: int) -> str:
    """Qwen2MoeDecoderLayer: MoE unless in mlp_only_layers, or off the decoder_sparse_step grid."""
    sparse = c["num_experts"] > 0 and (i + 1) % c["decoder_sparse_step"] == 0
    return "moe" if sparse and i not in (c["mlp_only_layers"] or []) else "dense"


def _qwen2_moe_layers(c, kind=None):
    """``Qwen2MoeConfig.__post_init__``: odd layers below max_window_layers slide, if windows are used."""
    n = c["num_hidden_layers"]
    if c.has("layer_types"):
        attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n)
    else:
        window = c["use_sliding_window"]
        attention = ["sliding" if window and (i + 1) % 2 and i < c["max_window_layers"] else "full" for i in range(n)]
    return layer_kinds(attention, [_qwen2_moe_ffn(c, i) for i in range(n)])


class Qwen2Moe(Qwen2):
    """``models/qwen2_moe``: Qwen2 with fine-grained experts plus one sigmoid-gated shared expert."""

    model_type = "qwen2_moe"
    transformers_class = "Qwen2MoeForCausalLM"
    defaults = without(Qwen2.defaults, "attention_bias") | {
        "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "num_attention_heads": 16,
        "num_key_value_heads": 16, "rms_norm_eps": 1e-6, "sliding_window": 4096, "qkv_bias": True,
        "decoder_sparse_step": 1, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
        "num_experts_per_tok": 4, "num_experts": 60, "norm_topk_prob": False, "mlp_only_layers": None,
    }
    layers = staticmethod(_qwen2_moe_layers)
    block = Qwen2.block | _MOE_FFN | {
        "mixer.qkv_bias": "qkv_bias",
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.n_shared_experts": moe_only(lambda c, k: 1 if c["shared_expert_intermediate_size"] else 0),
        "ffn.d_shared": moe_only(lambda c, k: c["shared_expert_intermediate_size"] or DROP),
        "ffn.shared_gate": moe_only(const(True)),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
    }


class Qwen3Moe(Qwen2Moe):
    """``models/qwen3_moe``: Qwen3 attention (QK-norm, head_dim) with experts and no shared expert."""

    model_type = "qwen3_moe"
    transformers_class = "Qwen3MoeForCausalLM"
    defaults = without(Qwen2Moe.defaults, "qkv_bias", "layer_types", "max_window_layers",
                       "shared_expert_intermediate_size") | {
        "intermediate_size": 6144, "num_attention_heads": 32, "num_key_value_heads": 4, "attention_bias": False,
        "moe_intermediate_size": 768, "num_experts_per_tok": 8, "num_experts": 128,
    }
    layers = staticmethod(lambda c: layer_kinds(
        ["sliding" if c["use_sliding_window"] else "full"] * c["num_hidden_layers"],
        [_qwen2_moe_ffn(c, i) for i in range(c["num_hidden_layers"])]))
    block = without(Qwen2Moe.block, "ffn.n_shared_experts", "ffn.d_shared", "ffn.shared_gate") | {
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.qk_norm": const("per_head_shared"),
    }


def _gpt_oss_rope(c, kind=None):
    """``GptOssConfig.__post_init__``: YaRN ×32 from 4,096 positions unless the config says otherwise."""
    params = c.get("rope_parameters") or c.get("rope_scaling") or {
        "rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096}
    return rope_from(dict(params), c)


def _gpt_oss_layers(c, kind=None):
    """``GptOssConfig.__post_init__``: layer_types, else sliding and full attention alternating."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or ["sliding" if (i + 1) % 2 else "full" for i in range(n)]
    return layer_kinds(types, ["moe"] * n)


class GptOss(Mixtral):
    """``models/gpt_oss``: biased attention with learned sinks, alternating 128-token windows, biased experts."""

    model_type = "gpt_oss"
    transformers_class = "GptOssForCausalLM"
    defaults = without(Mixtral.defaults, "hidden_act") | {
        "vocab_size": 201088, "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 36,
        "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "sliding_window": 128,
        "rope_theta": 150000.0, "num_local_experts": 128, "num_experts_per_tok": 4, "attention_bias": True,
        "layer_types": None,
    }
    layers = staticmethod(_gpt_oss_layers)
    block = Mixtral.block | {
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.rope": _gpt_oss_rope,
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "mixer.sinks": const(True),
        "ffn.activation": const("swish_clamped"),
        "ffn.expert_bias": const(True),
        "ffn.router.bias": const(True),
    }





def _minimax_rope(c, kind=None):
    """``MiniMaxM2Config``: the checkpoints' legacy ``rotary_dim`` becomes partial_rotary_factor."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    rotary_dim = c.get("rotary_dim")
    partial = rotary_dim / c["head_dim"] if rotary_dim else c.get("partial_rotary_factor", 1.0)
    return rope_from(params, c, partial)


class MinimaxM2(Mixtral):
    """``models/minimax_m2``: Mixtral-style MoE with sigmoid routing and a selection-only correction bias,
    QK-norm over the whole projected queries and keys, RoPE on half of each head."""

    model_type = "minimax_m2"
    transformers_class = "MiniMaxM2ForCausalLM"
    defaults = without(Mixtral.defaults, "sliding_window") | {
        "vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 1536, "num_hidden_layers": 62,
        "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 196608,
        "rms_norm_eps": 1e-6, "rope_theta": 5_000_000.0, "num_local_experts": 256, "num_experts_per_tok": 8,
    }
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = without(Mixtral.block, "mixer.window") | {
        "mixer.qk_norm": const("whole_projection"),  # MiniMaxM2RMSNorm(n_heads × head_dim)
        "mixer.rope": _minimax_rope,
        "ffn.router.scoring": const("sigmoid"),
        "ffn.router.correction_bias": const(True),
    }

__all__ = ["Mixtral", "Qwen2Moe", "Qwen3Moe", "GptOss", "MinimaxM2"]
