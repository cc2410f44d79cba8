"""A.X (SK Telecom): DeepSeek-V3's multi-head latent attention and experts with changes of its own.

``models/axk1`` (A.X-K1): DeepSeek-V3 (MLA with a low-rank query, grouped sigmoid top-k with a selection-only
correction bias, one shared expert) whose MoE layers norm their whole output, routed plus shared, with an RMSNorm
(``AXK1MoE.post_mlp_layernorm``) before the residual add. Which layers are dense: ``mlp_layer_types``, else the
legacy ``first_k_dense_replace`` (default 1) and ``moe_layer_freq`` (default 1) that ``AXK1Config.__post_init__``
turns into it. ``models/axk2`` (A.X-K2): see :class:`Axk2`. Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import MLP_TYPES, const, is_moe, layer_kinds, moe_only, per_layer
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


def _axk2_layers(c, kind=None):
    """A.X-K1's dense and sparse layers, after AXK2Config.validate_architecture's routing checks: ``n_group`` and
    ``topk_group`` set together (both null: ungrouped), the experts divisible by ``n_group``, ``topk_group`` at most
    ``n_group``."""
    groups, top = c["n_group"], c["topk_group"]
    if (groups is None) != (top is None):
        raise DerivationError(f"n_group {shown(groups)} and topk_group {shown(top)}: A.X-K2 needs both or neither "
                              "(null routes over all experts)")
    if groups is not None and c["n_routed_experts"] % groups:
        raise DerivationError(f"n_routed_experts {c['n_routed_experts']} is not a multiple of n_group {groups}")
    if groups is not None and top > groups:
        raise DerivationError(f"topk_group {top} exceeds n_group {groups}")
    return _legacy_mlp_layers(c)


class Axk2(Axk1):
    """``models/axk2`` (A.X-K2): A.X-K1 without the MoE output norm, plus DeepSeek-V3.2's indexer in every layer, the
    fused query-and-gate projection (``q_gate_proj`` instead of ``q_b_proj``, the output × σ(gate) before o_proj), and
    gated RMSNorms (``AXK2GatedRMSNorm``, rank ``gated_norm_rank``) as ``input_layernorm`` everywhere and as
    ``post_attention_layernorm`` on the sparse layers; ``n_group`` null (the default) routes over all experts.
    ``layer_types`` ("indexed_attention") changes nothing the model builds."""

    model_type = "axk2"
    transformers_class = "AXK2ForCausalLM"
    defaults = Axk1.defaults | {
        "hidden_size": 2048, "intermediate_size": 5120, "moe_intermediate_size": 512, "num_hidden_layers": 48,
        "num_attention_heads": 32, "n_routed_experts": 128, "kv_lora_rank": 128, "q_lora_rank": 384,
        "qk_rope_head_dim": 32, "v_head_dim": 64, "qk_nope_head_dim": 64, "n_group": None, "topk_group": None,
        "max_position_embeddings": 131072, "index_topk": 2048, "index_head_dim": 128, "index_n_heads": 16,
        "gated_norm_rank": 16,
    }
    layers = staticmethod(_axk2_layers)
    block = {k: v for k, v in Axk1.block.items() if k != "ffn.out_norm"} | {
        k: v for k, v in DeepseekV32.block.items() if k.startswith("mixer.indexer.")} | {
        "mixer.q_gate": const(True),
        "gated_norm.rank": "gated_norm_rank",
        "gated_norm.ffn": lambda c, k: is_moe(k),
    }


__all__ = ["Axk1", "Axk2"]
