"""Arcee's AFMoE (``models/afmoe``, Trinity): Llama attention with QK-norm per head, a sigmoid gate on every
output dim, RoPE only in its sliding-window layers (the global ones are NoPE), sandwich norms, and after
``num_dense_layers`` dense layers, DeepSeek-V3-style experts: sigmoid scores, a correction bias for choosing (a
frozen parameter, ``expert_bias``), top-k renormalised and scaled by ``route_scale``, plus one shared SwiGLU MLP of
``num_shared_experts × moe_intermediate_size``.

The output gate is its own ``gate_proj`` (d_model → n_heads × head_dim, σ on every element): the spec's ``gate``
(:mod:`gallery.kinds.gate`). ``mup_enabled`` scales the embeddings by √d_model.
Defaults are the ``AfmoeConfig`` defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import (
    DROP, SLIDING_OR_FULL, const, dense_only, is_moe, is_sliding, layer_kinds, moe_only, per_layer, required, rope,
    without,
)
from .llama import Llama


def _layers(c, kind=None):
    """``AfmoeConfig.__post_init__``: layer_types, else every ``global_attn_every_n_layers``-th layer full and the
    others sliding; AfmoeDecoderLayer: dense below ``num_dense_layers``, experts from there on."""
    n, dense = c["num_hidden_layers"], required("num_dense_layers", "decoder layers")(c)
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "sliding" if (i + 1) % required("global_attn_every_n_layers", "layer pattern")(c) else "full" for i in range(n)]
    return layer_kinds(attention, ["dense" if i < dense else "moe" for i in range(n)])


class Afmoe(Llama):
    """``models/afmoe``: gated attention (NoPE in global layers), sandwich norms, sigmoid-routed experts with a
    shared MLP after dense layers."""

    model_type = "afmoe"
    transformers_class = "AfmoeForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {
        "vocab_size": 200192, "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 1408,
        "num_dense_layers": 1, "num_attention_heads": 16, "head_dim": 128, "max_position_embeddings": 16384,
        "rms_norm_eps": 1e-5, "num_experts": 64, "num_experts_per_tok": 6, "num_shared_experts": 2,
        "route_scale": 1.0, "global_attn_every_n_layers": 4, "sliding_window": 1024, "layer_types": None,
        "mup_enabled": False,
    }
    arch = Llama.arch | {"embedding.scaled": lambda c: bool(c["mup_enabled"])}
    layers = staticmethod(_layers)
    block = without(Llama.block, "ffn.bias") | {
        "mixer.qk_norm": const("per_head_shared"),
        "mixer.gate": const({"activation": "sigmoid", "per": "element"}),  # AfmoeAttention.gate_proj
        "mixer.rope": lambda c, k: rope(c) if is_sliding(k) else None,
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "norm_placement": const("sandwich"),
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.bias": dense_only(const(False)),
        "ffn.n_experts": moe_only(required("num_experts", "experts")),
        "ffn.top_k": moe_only(required("num_experts_per_tok", "router")),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.n_shared_experts": moe_only(lambda c, k: 1 if required("num_shared_experts", "experts")(c) else 0),
        "ffn.d_shared": moe_only(lambda c, k: c["num_shared_experts"] * c["moe_intermediate_size"] or DROP),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.correction_bias_param": moe_only(const(True)),
        "ffn.router.normalize_topk": moe_only(const(True)),
        "ffn.router.weight_scale": moe_only(required("route_scale", "router")),
    }


__all__ = ["Afmoe"]
