"""Liquid AI's LFM2: gated short-convolution layers with a few GQA layers among them.

Every layer is pre-norm (``operator_norm`` before the mixer, ``ffn_norm`` before the SwiGLU MLP);
the mixer is ``Lfm2ShortConv`` in "conv" layers and GQA with QK-norm in attention layers. The final
norm is ``Lfm2Model.embedding_norm``, applied after the last layer despite its name. Defaults are
the transformers config defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, const, either, head_layout_kind, per_layer, without
from .llama import Llama


def _lfm2_layers(c, kind=None) -> list[str]:
    """``Lfm2Config.__post_init__``: layer_types, else attention at ``full_attn_idxs`` (every layer if absent)."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", {"full_attention": "attention", "conv": "conv"}, n)
    if types is None:
        idxs = c["full_attn_idxs"]
        idxs = range(n) if idxs is None else idxs
        types = ["attention" if i in idxs else "conv" for i in range(n)]
    return types


def _only(kind: str, rule):
    """``rule`` in blocks of ``kind``; the field is left out of the others."""
    return lambda c, k: (rule(c, k) if callable(rule) else c[rule]) if k == kind else DROP


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
        "mixer.kind": lambda c, k: "short_conv" if k == "conv" else head_layout_kind(c),
        "mixer.qk_norm": _only("attention", const("per_head_shared")),  # q_layernorm, k_layernorm: RMSNorm(head_dim)
        "mixer.conv_kernel": _only("conv", "conv_L_cache"),
        "mixer.bias": _only("conv", "conv_bias"),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _d_ff,
        "ffn.activation": const("silu"),
        "ffn.gated": const(True),
    }


__all__ = ["Lfm2"]
