"""Reflection's Beam (``models/beam``), read as ``BeamConfig`` and ``BeamForCausalLM`` build it.

Its difference from Laguna (GQA with QK-norm per head and an output gate of its own projection, sliding and full
layers with a RoPE per type, dense or sparse MLP layers from ``mlp_layer_types``):

- the gate is σ on every head dim, ``gate_proj`` (d_model → n_heads × head_dim, no bias) plus ``gate_bias``, one
  learned bias per head (BeamAttention);
- one head count on every layer; by default every sixth layer, and the last, is full attention, the others slide;
- RoPE only in the sliding layers by default (``rope_parameters`` keyed by type, null: NoPE);
- the first three layers dense by default; the experts are routed as DeepSeek-V3 routes (σ scores with a correction
  bias for choosing, a buffer here; grouped top-k; ``norm_topk_prob``; ``routed_scaling_factor``), no shared expert;
- a norm before and after each sublayer (input, post-attention, pre- and post-feed-forward: sandwich norms); the
  final logits soft-capped by ``final_logit_softcapping``.

Not modelled (no parameters): the residual adds are depth-scaled (BeamDecoderLayer: the sublayer × 1/√i plus the
residual × √((i − 1)/i), i = 2 · (layer + 1) for attention, one more for the MLP), and the NoPE layers scale their
queries by (1 + (position + 1)/2048)^0.1 (compute_attention_scaling). Defaults are the ``BeamConfig`` defaults
(checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import (
    MLP_TYPES, SLIDING_OR_FULL, const, head_layout_kind, is_sliding, layer_kinds, moe_only, per_layer, without,
)
from .laguna import Laguna, typed_rope


def _layers(c, kind=None):
    """``BeamConfig.__post_init__``: sliding unless (i + 1) % 6 == 0, the last layer full; the first min(3, n) layers
    dense; ``layer_types`` and ``mlp_layer_types`` win. ``validate_architecture``: heads a multiple of the KV heads."""
    n, heads, kv = c["num_hidden_layers"], c["num_attention_heads"], c["num_key_value_heads"]
    if heads % kv:
        raise DerivationError(f"num_attention_heads: {heads} is not a multiple of num_key_value_heads {kv} "
                              "(BeamConfig refuses it); accepted: a multiple")
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "sliding" if (i + 1) % 6 and i < n - 1 else "full" for i in range(n)]
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] * min(3, n) + ["moe"] * (n - 3)
    return layer_kinds(attention, ffn)


class Beam(Laguna):
    """``models/beam``: gated GQA (σ per dim with a per-head bias), NoPE full layers, sandwich norms, dense layers
    then DeepSeek-V3-routed experts without a shared expert, soft-capped logits."""

    model_type = "beam"
    transformers_class = "BeamForCausalLM"
    defaults = without(Laguna.defaults, "shared_expert_intermediate_size", "gating", "num_attention_heads_per_layer",
                       "moe_routed_scaling_factor", "moe_router_logit_softcapping") | {
        "vocab_size": 151936, "hidden_size": 5120, "intermediate_size": 20480, "num_hidden_layers": 52,
        "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 8192,
        "sliding_window": 512, "moe_intermediate_size": 2560, "num_experts": 256, "num_experts_per_tok": 8,
        "norm_topk_prob": True, "n_group": 8, "topk_group": 4, "routed_scaling_factor": 2.5,
        "final_logit_softcapping": 30.0,
    }
    arch = Laguna.arch | {"embedding.logit_softcap": "final_logit_softcapping"}
    layers = staticmethod(_layers)
    block = without(Laguna.block, "ffn.n_shared_experts", "ffn.d_shared", "ffn.router.correction_bias_param") | {
        "mixer.kind": head_layout_kind,
        "mixer.n_heads": "num_attention_heads",
        "mixer.rope": typed_rope({"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                  "full_attention": None}, nope=True),
        "mixer.window": lambda c, k: (c["sliding_window"] or None) if is_sliding(k) else None,
        "mixer.gate": const({"activation": "sigmoid", "per": "element", "bias": True}),
        "norm_placement": const("sandwich"),
        "ffn.router.n_groups": moe_only("n_group"),
        "ffn.router.topk_groups": moe_only("topk_group"),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
        "ffn.router.weight_scale": moe_only("routed_scaling_factor"),
    }


__all__ = ["Beam"]
