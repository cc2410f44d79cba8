"""ZAYA (``models/zaya``): compressed convolutional attention, learned residual scales and a router network over
Qwen3-MoE-style experts.

``ZayaDecoderLayer``: input RMSNorm → ``ZayaAttention`` (the ``cca`` mixer kind: convolved queries and keys, values
half from the previous token, L2 QK-norm with a key temperature, partial RoPE) → ``ZayaResidualScaling`` → RMSNorm →
``ZayaSparseMoeBlock`` (``ZayaRouter``: down_proj to router_hidden_size, from the second layer on plus the previous
layer's router state, an RMS norm, two GELU layers and out_proj to the experts and a skip class; top-1, not
renormalised; fused gate/up experts) → ``ZayaResidualScaling``. ``ZayaModel`` scales and shifts the embeddings before
the first layer; the head may have a bias (lm_head_bias). ``layer_types``: "hybrid" (full attention, the
``rope_parameters["hybrid"]`` RoPE) or "hybrid_sliding" (the window ``sliding_window``, ``rope_parameters
["hybrid_sliding"]``). Defaults are ``ZayaConfig``'s (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import Family, activation, const, per_layer, rope_from
from .llama import Llama

#: ZayaConfig.__post_init__'s rope_parameters when the config gives none
DEFAULT_ROPE = {"hybrid": {"rope_type": "default", "rope_theta": 5_000_000.0, "partial_rotary_factor": 0.5},
                "hybrid_sliding": {"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 0.5}}
TYPES = {"hybrid": "full", "hybrid_sliding": "sliding"}


def _types(c) -> list[str]:
    """``layer_types`` as attention words, "hybrid" on every layer when the config gives none (ZayaConfig)."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", TYPES, n)
    return ["full"] * n if types is None else types


def _layers(c, kind=None) -> list[str]:
    """One block kind per attention type; the first layer's router has no previous state to add (``use_eda``)."""
    if c["num_experts_per_tok"] != 1:
        raise DerivationError(f"num_experts_per_tok is {c['num_experts_per_tok']}: ZayaConfig accepts 1 only "
                              "(validate_architecture)")
    types = _types(c)
    if "sliding" in types and not c["sliding_window"]:
        raise DerivationError("sliding_window is null but layer_types has 'hybrid_sliding': ZayaConfig needs a "
                              "window for those layers")
    return [t + ("-first" if i == 0 else "") for i, t in enumerate(types)]


def _rope(c, kind) -> dict:
    """``ZayaRotaryEmbedding``: the layer type's entry of rope_parameters, its partial_rotary_factor (1 when
    absent: the top-level key is not read)."""
    layer_type = "hybrid_sliding" if kind.startswith("sliding") else "hybrid"
    params = c["rope_parameters"] or DEFAULT_ROPE
    entry = params.get(layer_type)
    if not isinstance(entry, dict) or entry.get("rope_theta") is None:
        raise DerivationError(f"rope_parameters.{layer_type}: ZayaRotaryEmbedding reads its rope_theta for the "
                              f"{layer_type} layers; give {{\"rope_theta\": ..., \"partial_rotary_factor\": ...}}")
    return rope_from(entry, c)


class Zaya(Family):
    """``models/zaya``: ZayaForCausalLM."""

    model_type = "zaya"
    transformers_class = "ZayaForCausalLM"
    defaults = {
        "vocab_size": 262272, "hidden_size": 2048, "num_hidden_layers": 40, "num_attention_heads": 8,
        "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True, "rope_parameters": None, "sliding_window": None, "moe_intermediate_size": 2048,
        "num_experts_per_tok": 1, "num_experts": 16, "layer_types": None, "head_dim": 128, "attention_bias": False,
        "lm_head_bias": False, "router_hidden_size": 256, "cca_time0": 2, "cca_time1": 2,
    }
    arch = Llama.arch | {"embedding.head_bias": "lm_head_bias", "embedding.input_scale": const(True)}
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": const("cca"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.head_dim": "head_dim",
        "mixer.conv_taps": "cca_time0",
        "mixer.grouped_taps": "cca_time1",
        "mixer.bias": "attention_bias",
        "mixer.rope": _rope,
        "mixer.window": lambda c, k: c["sliding_window"] if k.startswith("sliding") else None,
        "ffn.kind": const("moe"),
        "ffn.n_experts": "num_experts",
        "ffn.top_k": "num_experts_per_tok",
        "ffn.d_expert": "moe_intermediate_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(True),
        "ffn.router.normalize_topk": const(False),
        "ffn.router.mlp_width": "router_hidden_size",
        "ffn.router.carry": lambda c, k: not k.endswith("-first"),
        "learned_residual": const("scale_bias"),
    }
