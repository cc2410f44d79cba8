"""MiniMax-M3's language model (``models/minimax_m3_vl``, ``MiniMaxM3VLForCausalLM``): MiniMax-M2's attention with
QK-norm per head (Gemma-style RMSNorm) and RoPE on every dim of each head; per layer a dense MLP or
experts (``mlp_layer_types``); experts chosen by sigmoid scores plus a correction-bias buffer, renormalised and
scaled by ``routed_scaling_factor``, beside one shared MLP of ``shared_intermediate_size``; every MLP is gpt-oss's
clamped SwiGLU ((up + 1) · gate · σ(1.702 · gate), gate ≤ 7, up within ±7), its gate and up fused in one matrix.

``rotary_dim`` (64 of 128 in the checkpoints) is kept by ``MiniMaxM3VLTextConfig`` but, unlike MiniMax-M2's
config class, never turned into a partial rotary factor: transformers rotates whole heads unless ``rope_parameters``
(or ``partial_rotary_factor``) says otherwise, and so does the spec. Layers of type ``minimax_m3_sparse`` attend through a block lightning indexer (``MiniMaxM3VLIndexer``) that no kind
models yet: such configs are refused in one line. The legacy keys ``sparse_attention_config.sparse_attention_freq``
and ``moe_layer_freq`` spell the layer lists as the config class reads them. Defaults are the
``MiniMaxM3VLTextConfig`` defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import MLP_TYPES, const, dense_only, is_moe, layer_kinds, moe_only, per_layer, rope, without
from .moe import MinimaxM2


def _layers(c, kind=None):
    """``MiniMaxM3VLTextConfig.__post_init__``: layer_types (else sparse_attention_config's sparse_attention_freq,
    else all full) and mlp_layer_types (else moe_layer_freq, else all sparse)."""
    n = c["num_hidden_layers"]
    sparse = (c.get("sparse_attention_config") or {}).get("sparse_attention_freq")
    attention = per_layer(c, "layer_types", {"full_attention": "full", "minimax_m3_sparse": "sparse"}, n) or (
        ["sparse" if f else "full" for f in sparse] if isinstance(sparse, list) else ["full"] * n)
    if "sparse" in attention:
        raise DerivationError(f"layer {attention.index('sparse')} is minimax_m3_sparse: attention through MiniMax-M3's "
                              "block lightning indexer is not modelled yet; only full_attention layers are read")
    freq = c.get("moe_layer_freq")
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or (
        ["moe" if f else "dense" for f in freq] if isinstance(freq, list) else ["moe"] * n)
    if len(attention) != n or len(ffn) != n:
        raise DerivationError(f"sparse_attention_freq or moe_layer_freq: {n} entries needed (num_hidden_layers)")
    return layer_kinds(attention, ffn)


def _clamped_swiglu(c, kind=None) -> str:
    """The spec's swish_clamped is gpt-oss's: α 1.702, limit 7; other values are not modelled."""
    alpha, limit = c["swiglu_alpha"], c["swiglu_limit"]
    if (alpha, limit) != (1.702, 7.0):
        raise DerivationError(f"swiglu_alpha {shown(alpha)}, swiglu_limit {shown(limit)}: the clamped SwiGLU is read "
                              "with gpt-oss's α 1.702 and limit 7 only")
    return "swish_clamped"


class MinimaxM3VLText(MinimaxM2):
    """``models/minimax_m3_vl``: M2 attention with per-head QK-norm; dense or MoE layers with clamped SwiGLU MLPs,
    a shared expert and scaled, renormalised sigmoid routing."""

    model_type = "minimax_m3_vl_text"
    transformers_class = "MiniMaxM3VLForCausalLM"
    defaults = without(MinimaxM2.defaults, "hidden_act") | {
        "hidden_size": 6144, "intermediate_size": 3072, "num_hidden_layers": 60, "num_attention_heads": 64,
        "num_key_value_heads": 4, "max_position_embeddings": 524288, "num_experts_per_tok": 4,
        "num_local_experts": 128, "dense_intermediate_size": 12288, "shared_intermediate_size": 3072,
        "routed_scaling_factor": 2.0, "rotary_dim": 64, "swiglu_alpha": 1.702, "swiglu_limit": 7.0,
        "mlp_layer_types": None, "layer_types": None,
    }
    layers = staticmethod(_layers)
    block = without(MinimaxM2.block, "ffn.d_ff", "ffn.bias") | {
        "mixer.qk_norm": const("per_head_shared"),  # MiniMaxM3VLRMSNorm(head_dim) on each head
        "mixer.rope": rope,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.activation": _clamped_swiglu,
        "ffn.d_ff": dense_only("dense_intermediate_size"),
        "ffn.n_experts": moe_only("num_local_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("intermediate_size"),
        "ffn.n_shared_experts": moe_only(const(1)),
        "ffn.d_shared": moe_only("shared_intermediate_size"),
        "ffn.router.normalize_topk": moe_only(const(True)),
        "ffn.router.weight_scale": moe_only("routed_scaling_factor"),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
    }


__all__ = ["MinimaxM3VLText"]
