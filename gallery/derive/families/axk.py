"""A.X (SK Telecom): DeepSeek-V3's multi-head latent attention and experts with one change of its own.

``models/axk1`` (A.X-K1): DeepSeek-V3 (MLA with a low-rank query, grouped sigmoid top-k with a selection-only
correction bias, one shared expert) whose MoE layers norm their whole output, routed plus shared, with an RMSNorm
(``AXK1MoE.post_mlp_layernorm``) before the residual add. Which layers are dense: ``mlp_layer_types``, else the
legacy ``first_k_dense_replace`` (default 1) and ``moe_layer_freq`` (default 1) that ``AXK1Config.__post_init__``
turns into it. Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import MLP_TYPES, const, layer_kinds, moe_only, per_layer
from .deepseek import DeepseekV3, DeepseekV32


def _legacy_mlp_layers(c, kind=None):
    """AXK1Config.__post_init__: ``mlp_layer_types``, else sparse where ``i >= first_k_dense_replace`` and
    ``i % moe_layer_freq == 0``."""
    n = c["num_hidden_layers"]
    first, freq = c.get("first_k_dense_replace", 1), c.get("moe_layer_freq", 1)
    types = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or [
        "moe" if i >= first and i % freq == 0 else "dense" for i in range(n)]
    return layer_kinds(["full"] * n, types)


class Axk1(DeepseekV3):
    """``models/axk1``: DeepSeek-V3 with a norm on the MoE output; the query always goes through ``q_lora_rank``
    (an int, never null), no MTP field (the checkpoint's ``num_nextn_predict_layers`` says what it stores)."""

    model_type = "axk1"
    transformers_class = "AXK1ForCausalLM"
    defaults = {k: v for k, v in DeepseekV3.defaults.items() if k not in ("first_k_dense_replace", "num_mtp_layers")} | {
        "vocab_size": 163840, "num_attention_heads": 64, "n_routed_experts": 192, "max_position_embeddings": 32768,
        "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts"}
    arch = DeepseekV32.arch
    layers = staticmethod(_legacy_mlp_layers)
    block = DeepseekV3.block | {
        "ffn.router.normalize_topk": moe_only(lambda c, k: bool(c["norm_topk_prob"])),  # bool | None: null is off
        "ffn.out_norm": moe_only(const(True)),
    }


__all__ = ["Axk1"]
