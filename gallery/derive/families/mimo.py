"""MiMo-V2-Flash (``models/mimo_v2_flash``): a hybrid of 128-token sliding-window layers and full layers
with their own KV heads and sinks, wider query/key heads than value heads, and DeepSeek-V3-style MoE.

``MiMoV2FlashConfig.__post_init__``: layer 0 and every 6th layer attend fully, the rest slide;
``sliding_window_size`` N becomes a window of N + 1 (the query plus N previous tokens); sliding
layers have twice the KV heads and learned sink logits; layer 0 keeps a dense MLP, the others are
MoE without a shared expert. RoPE comes from ``rope_parameters`` per layer type (the config's
top-level ``rope_theta`` is not read by transformers).
"""

from __future__ import annotations

from ...spec import attention_kind
from ..family import (
    MLP_TYPES, SLIDING_OR_FULL, Family, activation, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only,
    per_layer, rope_from,
)
from .llama import Llama

_DEFAULT_ROPE = {
    "full_attention": {"rope_type": "default", "rope_theta": 5_000_000.0, "partial_rotary_factor": 0.334},
    "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 0.334},
}


def _layers(c, kind=None):
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "full" if (i == 0 or not (i + 1) % 6) else "sliding" for i in range(n)]
    mlp = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] + ["moe"] * (n - 1)
    return layer_kinds(types, mlp)


def _kv_heads(c, kind):
    """MiMoV2FlashAttention: sliding layers double the KV heads."""
    return c["num_key_value_heads"] * (2 if is_sliding(kind) else 1)


def _rope(c, kind):
    params = c.get("rope_parameters") or _DEFAULT_ROPE
    return rope_from(dict(params["sliding_attention" if is_sliding(kind) else "full_attention"]), c)


def _window(c, kind):
    """``sliding_window_size`` N (the Hub's name) becomes N + 1; else ``sliding_window``."""
    if not is_sliding(kind):
        return None
    size = c.get("sliding_window_size")
    return size + 1 if size is not None else c["sliding_window"]


class MimoV2Flash(Family):
    """``models/mimo_v2_flash``: MiMoV2FlashDecoderLayer (attention with optional sinks, MLP or MoE)."""

    model_type = "mimo_v2_flash"
    transformers_class = "MiMoV2FlashForCausalLM"
    defaults = {
        "vocab_size": 152576, "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 48,
        "num_attention_heads": 64, "num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "rope_parameters": None, "attention_bias": False,
        "moe_intermediate_size": 2048, "num_experts_per_tok": 8, "n_routed_experts": 256,
        "routed_scaling_factor": 1.0, "n_group": 1, "topk_group": 1, "norm_topk_prob": True, "head_dim": 192,
        "v_head_dim": 128, "sliding_window": 129, "layer_types": None, "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = Llama.arch
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _kv_heads(c, k)),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": _kv_heads,
        "mixer.head_dim": "head_dim",
        "mixer.v_head_dim": "v_head_dim",
        "mixer.qkv_bias": "attention_bias",
        "mixer.rope": _rope,
        "mixer.window": _window,
        "mixer.sinks": lambda c, k: is_sliding(k),
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.n_experts": moe_only("n_routed_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.n_groups": moe_only("n_group"),
        "ffn.router.topk_groups": moe_only("topk_group"),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
        "ffn.router.weight_scale": moe_only(lambda c, k: c["routed_scaling_factor"] or 1.0),
    }


__all__ = ["MimoV2Flash"]
