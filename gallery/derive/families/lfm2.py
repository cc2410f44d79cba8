"""Liquid AI's LFM2, LFM2-MoE and LFM3: gated short-convolution layers with a few GQA layers among them.

Every layer is pre-norm (``operator_norm`` before the mixer, ``ffn_norm`` before the SwiGLU MLP);
the mixer is ``Lfm2ShortConv`` in "conv" layers and GQA with QK-norm in attention layers. The final
norm is ``Lfm2Model.embedding_norm``, applied after the last layer despite its name. LFM2-MoE
(``models/lfm2_moe``) routes the feed-forward of the layers after ``num_dense_layers`` among experts;
LFM3 (``models/lfm3``) adds sliding-window layers, a sigmoid gate per head and sandwich norms. Defaults
are the transformers config defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import (
    DROP, const, dense_only, either, head_layout_kind, is_moe, is_sliding, moe_only, per_layer, without,
)
from .llama import Llama
from .windowed import per_type_rope


def _lfm2_layers(c, kind=None) -> list[str]:
    """``Lfm2Config.__post_init__``: layer_types, else attention at ``full_attn_idxs`` (every layer if absent)."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", {"full_attention": "attention", "conv": "conv"}, n)
    if types is None:
        idxs = c["full_attn_idxs"]
        idxs = range(n) if idxs is None else idxs
        types = ["attention" if i in idxs else "conv" for i in range(n)]
    return types


def _only(mixer: str, rule):
    """``rule`` in blocks whose mixer is ``mixer`` ("conv", or "attention": every other block kind, whatever its
    window); the field is left out of the others. A block kind names its mixer first (``conv-moe``)."""
    def chosen(k):
        return (k.split("-")[0] == "conv") == (mixer == "conv")

    return lambda c, k: (rule(c, k) if callable(rule) else c[rule]) if chosen(k) else DROP


def _d_ff(c, kind=None) -> int:
    """``Lfm2MLP.__init__``: the SwiGLU width from ``intermediate_size`` (``block_ff_dim`` in LFM2's own
    configs, which ``Lfm2Config`` reads first).

    With ``block_auto_adjust_ff_dim``: ``int(2 × width / 3)``; then, if ``block_ffn_dim_multiplier`` is
    set, ``int(multiplier × width)`` rounded up to a multiple of ``block_multiple_of``.
    LFM2-1.2B: 12,288 → 8,192 → × 1.0 → 8,192 (already a multiple of 256).
    """
    width = either("block_ff_dim", "intermediate_size")(c)
    if not c["block_auto_adjust_ff_dim"]:
        return width
    width = int(2 * width / 3)
    multiplier = c["block_ffn_dim_multiplier"]
    if multiplier is not None:
        if not isinstance(multiplier, (int, float)):  # a text × a number would repeat the text
            raise DerivationError(f"block_ffn_dim_multiplier ({multiplier!r}) must be a number")
        width = int(multiplier * width)
        multiple = c["block_multiple_of"]
        width = multiple * ((width + multiple - 1) // multiple)
    return width


class Lfm2(Llama):
    """``models/lfm2``: Llama's attention (QK-norm per head_dim, no biases) in a few layers, a gated short
    convolution in the others; SwiGLU width auto-adjusted; tied embeddings."""

    model_type = "lfm2"
    transformers_class = "Lfm2ForCausalLM"
    defaults = without(Llama.defaults, "head_dim", "hidden_act", "rms_norm_eps", "attention_bias", "mlp_bias") | {
        "vocab_size": 65536, "hidden_size": 2560, "intermediate_size": 12288, "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 128_000, "norm_eps": 1e-5, "tie_word_embeddings": True,
        "rope_theta": 1_000_000.0, "conv_bias": False, "conv_L_cache": 3, "block_multiple_of": 256,
        "block_ffn_dim_multiplier": 1.0, "block_auto_adjust_ff_dim": True, "full_attn_idxs": None,
        "layer_types": None,
    }
    arch = Llama.arch | {"norm.eps": "norm_eps", "embedding.tied": either("tie_embedding", "tie_word_embeddings")}
    layers = staticmethod(_lfm2_layers)
    block = {k: _only("attention", rule) for k, rule in Llama.block.items()
             if k.startswith("mixer.") and k not in ("mixer.kind", "mixer.qkv_bias", "mixer.out_bias")} | {
        "mixer.kind": lambda c, k: "short_conv" if k.split("-")[0] == "conv" else head_layout_kind(c),
        "mixer.qk_norm": _only("attention", const("per_head_shared")),  # q_layernorm, k_layernorm: RMSNorm(head_dim)
        "mixer.conv_kernel": _only("conv", "conv_L_cache"),
        "mixer.bias": _only("conv", "conv_bias"),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _d_ff,
        "ffn.activation": const("silu"),
        "ffn.gated": const(True),
    }


def _required_layer_types(accepted: dict):
    """``layer_types``, which the config class leaves null but the decoder layers index (``config.layer_types[i]``):
    without it transformers cannot build the model."""
    def rule(c, kind=None):
        types = per_layer(c, "layer_types", accepted, c["num_hidden_layers"])
        if types is None:
            raise DerivationError(f"layer_types is null: {c.model_type}'s decoder layers read their kind from it and "
                                  "cannot be built without it; list 'conv' or 'full_attention' for every layer")
        return types

    return rule


def _lfm2_moe_layers(c, kind=None) -> list[str]:
    """Lfm2MoeDecoderLayer: the mixer from ``layer_types``; a dense MLP below ``num_dense_layers``, experts above."""
    mixers = _required_layer_types({"full_attention": "attention", "conv": "conv"})(c)
    return [f"{m}-{'dense' if i < c['num_dense_layers'] else 'moe'}" for i, m in enumerate(mixers)]


class Lfm2Moe(Lfm2):
    """``models/lfm2_moe``: LFM2's mixers; after ``num_dense_layers`` dense layers (an MLP of
    ``intermediate_size``, not auto-adjusted), experts chosen by sigmoid scores (plus an expert-bias buffer when
    ``use_expert_bias``), renormalised as ``norm_topk_prob`` says and scaled by ``routed_scaling_factor``."""

    model_type = "lfm2_moe"
    transformers_class = "Lfm2MoeForCausalLM"
    defaults = without(Lfm2.defaults, "block_multiple_of", "block_ffn_dim_multiplier", "block_auto_adjust_ff_dim",
                       "full_attn_idxs") | {
        "hidden_size": 2048, "intermediate_size": 7168, "moe_intermediate_size": 1792, "num_hidden_layers": 32,
        "num_dense_layers": 2, "num_experts_per_tok": 4, "num_experts": 32, "use_expert_bias": True,
        "routed_scaling_factor": 1.0, "norm_topk_prob": True,
    }
    layers = staticmethod(_lfm2_moe_layers)
    block = without(Lfm2.block, "ffn.d_ff") | {
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only("use_expert_bias"),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
        "ffn.router.weight_scale": moe_only("routed_scaling_factor"),
    }


_LFM3_TYPES = {"conv": "conv", "full_attention": "attention", "sliding_attention": "sliding"}


def _lfm3_layers(c, kind=None) -> list[str]:
    """``Lfm3Config.__post_init__``: layer_types, else full attention where i % 4 == 2, sliding where i % 4 == 0
    (from layer 4 on), the short convolution elsewhere."""
    n = c["num_hidden_layers"]
    return per_layer(c, "layer_types", _LFM3_TYPES, n) or [
        "attention" if i % 4 == 2 else "sliding" if i % 4 == 0 and i > 0 else "conv" for i in range(n)]


_LFM3_ROPE = {"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
              "full_attention": {"rope_type": "proportional", "rope_theta": 1_000_000.0, "partial_rotary_factor": 0.5}}


class Lfm3(Lfm2):
    """``models/lfm3``: LFM2's short convolutions (7 taps) and Qwen3 attention, some layers in a sliding window with
    their own RoPE, each head's output × a sigmoid gate (``g_proj``, ``use_attention_gate``), and norms after the
    mixer and the MLP too (``use_sandwich_norm``); the MLP is ``intermediate_size`` wide as given."""

    model_type = "lfm3"
    transformers_class = "Lfm3ForCausalLM"
    defaults = without(Lfm2.defaults, "block_multiple_of", "block_ffn_dim_multiplier", "block_auto_adjust_ff_dim",
                       "full_attn_idxs", "rope_theta") | {
        "vocab_size": 128_000, "hidden_size": 2048, "intermediate_size": 7680, "num_hidden_layers": 24,
        "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 128, "conv_L_cache": 7,
        "sliding_window": 256, "use_sandwich_norm": True, "use_attention_gate": True, "attention_bias": False,
    }
    aliases = {"rms_norm_eps": "norm_eps"}
    layers = staticmethod(_lfm3_layers)
    block = without(Lfm2.block, "ffn.d_ff") | {
        "mixer.qkv_bias": _only("attention", "attention_bias"),
        "mixer.out_bias": _only("attention", "attention_bias"),
        "mixer.rope": _only("attention", per_type_rope(_LFM3_ROPE)),
        "mixer.window": _only("attention", lambda c, k: c["sliding_window"] if is_sliding(k) else None),
        "mixer.gate": _only("attention", lambda c, k: {"activation": "sigmoid", "per": "head"}
                            if c["use_attention_gate"] else None),
        "ffn.d_ff": "intermediate_size",
        "norm_placement": lambda c, k: "sandwich" if c["use_sandwich_norm"] else "pre",
    }


__all__ = ["Lfm2", "Lfm2Moe", "Lfm3"]
