"""Cohere's later decoders: Cohere 2 MoE (``models/cohere2_moe``) and Cohere Compass's language model
(``models/cohere_compass``), both Cohere 2's parallel block (one norm feeding attention and MLP, their outputs
added to the residual together).

Cohere 2 MoE keeps Cohere 2's sliding/full pattern (RoPE in windowed layers only, and in the dense prefix) and
replaces the MLP after ``first_k_dense_replace`` dense layers by Mixtral-style experts, plus shared experts of
``num_shared_experts × intermediate_size``; its norm is an RMSNorm when ``rms_norm_eps`` is set. Cohere Compass is
Cohere 2 with a RoPE per layer type (null: NoPE in that type), Qwen3-VL's M-RoPE (for text, plain RoPE) and heads of
``hidden_size // num_attention_heads`` unless ``head_dim`` is given. Defaults are the config class defaults (checked
by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import (
    DROP, SLIDING_OR_FULL, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only, per_layer, rope, rope_from,
    without,
)
from .windowed import Cohere2, window


def _cohere2_moe_layers(c, kind=None):
    """``Cohere2MoeConfig.__post_init__``: the first ``first_k_dense_replace`` layers dense, sliding unless
    (i + 1) % prefix_dense_sliding_window_pattern == 0; the others sparse, sliding unless (i + 1) %
    sliding_window_pattern == 0 (counted from the first sparse layer); ``layer_types`` and ``mlp_layer_types``
    win."""
    n, first = c["num_hidden_layers"], c.get("first_k_dense_replace", 0)  # a key the config class pops
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "sliding" if (i + 1) % c["prefix_dense_sliding_window_pattern"] else "full" for i in range(first)] + [
        "sliding" if (i + 1) % c["sliding_window_pattern"] else "full" for i in range(n - first)]
    ffn = per_layer(c, "mlp_layer_types", {"dense": "dense", "sparse": "moe"}, n) or [
        "dense" if i < first else "moe" for i in range(n)]
    return layer_kinds(attention, ffn)


def _cohere2_moe_rope(c, kind):
    """Cohere2MoeAttention: RoPE where the layer has a window, and in dense layers when
    prefix_dense_sliding_window_pattern is 1 (force_rope); NoPE elsewhere."""
    forced = not is_moe(kind) and c["prefix_dense_sliding_window_pattern"] == 1
    return rope(c) if window(c, kind) is not None or forced else None


def _shared(c, kind=None) -> int:
    """Cohere2MoeSparseMoeBlock: shared experts added to the routed sum, or averaged with it ("average", the
    default), which the spec cannot say: such a config is refused rather than drawn as a sum."""
    n = c["num_shared_experts"]
    strategy = c["shared_expert_combination_strategy"]
    if strategy not in ("sum", "average"):
        raise DerivationError(f"shared_expert_combination_strategy {shown(strategy)}: transformers accepts 'sum' or "
                              "'average'")
    if n and strategy == "average":
        raise DerivationError("shared_expert_combination_strategy 'average' with shared experts: (routed + shared) / 2 "
                              "is not modelled yet; only 'sum' is read")
    return n


def _scoring(c, kind=None) -> str:
    """Cohere2MoeTopKRouter.expert_selection_fn: softmax or sigmoid over the top-k logits."""
    value = c["expert_selection_fn"]
    if value not in ("softmax", "sigmoid"):
        raise DerivationError(f"expert_selection_fn {shown(value)}: transformers accepts 'softmax' or 'sigmoid'")
    return value


class Cohere2Moe(Cohere2):
    """``models/cohere2_moe``: Cohere 2 with experts (softmax over the top-k logits, or sigmoid scores
    renormalised as ``norm_topk_prob`` says) after a dense prefix, and optional shared experts."""

    model_type = "cohere2_moe"
    transformers_class = "Cohere2MoeForCausalLM"
    defaults = without(Cohere2.defaults, "rope_parameters") | {
        "rope_scaling": None, "head_dim": 128, "num_experts_per_tok": 2, "num_experts": 8, "num_shared_experts": 0,
        "shared_expert_combination_strategy": "average", "expert_selection_fn": "softmax", "mlp_layer_types": None,
        "prefix_dense_sliding_window_pattern": 1, "norm_topk_prob": True, "prefix_dense_intermediate_size": None,
        "rms_norm_eps": None, "sliding_window_pattern": 4,
    }
    arch = Cohere2.arch | {
        "norm.kind": lambda c: "layernorm" if c["rms_norm_eps"] is None else "rmsnorm",
        "norm.eps": lambda c: c["layer_norm_eps"] if c["rms_norm_eps"] is None else c["rms_norm_eps"],
    }
    layers = staticmethod(_cohere2_moe_layers)
    block = without(Cohere2.block, "ffn.bias") | {
        "mixer.rope": _cohere2_moe_rope,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only(lambda c, k: c["prefix_dense_intermediate_size"] or c["intermediate_size"]),
        "ffn.bias": dense_only(const(False)),
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("intermediate_size"),
        "ffn.n_shared_experts": moe_only(lambda c, k: 1 if _shared(c) else 0),
        "ffn.d_shared": moe_only(lambda c, k: _shared(c) * c["intermediate_size"] or DROP),
        "ffn.router.scoring": moe_only(_scoring),
        "ffn.router.normalize_topk": moe_only(lambda c, k: _scoring(c) == "softmax" or c["norm_topk_prob"]),
    }


def _compass_rope(c, kind):
    """CohereCompassRotaryEmbedding: ``rope_parameters[layer type]`` (null: NoPE in that type); transformers cannot
    build a config without an entry for each layer type it uses (a flat mapping included)."""
    params = c["rope_parameters"]
    name = "sliding_attention" if is_sliding(kind) else "full_attention"
    if not isinstance(params, dict) or name not in params:
        raise DerivationError(f"rope_parameters has no '{name}' entry: Cohere Compass's rotary embedding looks one up "
                              "for each layer type ({'full_attention': {'rope_type': 'default', 'rope_theta': ...}}; "
                              "null for no RoPE)")
    return None if params[name] is None else rope_from(dict(params[name]), c)


class CohereCompassText(Cohere2):
    """``models/cohere_compass`` (CohereCompassForCausalLM): Cohere 2's parallel block, every layer full unless
    ``layer_types`` says otherwise, a RoPE (or none) per layer type; the logit scale defaults to 1."""

    model_type = "cohere_compass_text"
    transformers_class = "CohereCompassForCausalLM"
    defaults = without(Cohere2.defaults, "rope_theta") | {"logit_scale": None, "rope_parameters": None}
    arch = Cohere2.arch | {"embedding.logit_scale": lambda c: 1.0 if c["logit_scale"] is None else c["logit_scale"]}
    layers = staticmethod(lambda c: per_layer(c, "layer_types", SLIDING_OR_FULL, c["num_hidden_layers"]) or [
        "full"] * c["num_hidden_layers"])
    block = Cohere2.block | {
        "mixer.rope": _compass_rope,
    }


__all__ = ["Cohere2Moe", "CohereCompassText"]
