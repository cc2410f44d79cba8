"""Google's RecurrentGemma (Griffin): RG-LRU recurrent blocks with a local-attention block every third layer.

``models/recurrent_gemma``: every layer is ``temporal_pre_norm`` → temporal block → residual, ``channel_pre_norm`` →
GeGLU MLP (biases on, half of ``intermediate_size`` wide) → residual. The temporal block cycles through
``block_types`` (recurrent, recurrent, attention): an RG-LRU recurrent block, or multi-query attention within
``attention_window_size`` tokens with RoPE on half of each head and a bias on o_proj only. Embeddings scaled by
√d_model and tied, final logits soft-capped; no position limit (``RecurrentGemmaConfig`` has no
max_position_embeddings). Defaults are the transformers config defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, activation, const, head_dim, head_layout_kind, per_layer, rope_from
from .gemma import Gemma

BLOCK_TYPES = {"recurrent": "recurrent", "attention": "sliding"}  # block_types entry → block kind


def _layers(c, kind=None) -> list[str]:
    """``RecurrentGemmaConfig.layers_block_type``: ``block_types`` repeated to num_hidden_layers.

    The modeling code builds attention for any entry but "recurrent"; an entry other than the two names is refused
    here rather than read as attention. Checkpoints saved by older transformers spell the key ``_block_types``,
    which the 5.x config class does not read (it keeps its default, the same (recurrent, recurrent, attention))."""
    if c.has("layer_types"):  # attribute_map sends it to layers_block_type, a property transformers cannot set
        raise DerivationError("layer_types: RecurrentGemmaConfig derives the layer types from block_types and "
                              "refuses to set them; give block_types (e.g. [\"recurrent\", \"recurrent\", \"attention\"])")
    cycle, n = c["block_types"], c["num_hidden_layers"]
    if not cycle:  # EXPECT has refused anything but a list of strings or null
        raise DerivationError(f"block_types: expected a non-empty list of 'recurrent' and 'attention', got {cycle!r}")
    return per_layer(c, "block_types", BLOCK_TYPES, entries=(list(cycle) * n)[:n])


def _in(kind: str, rule):
    """``rule`` in blocks of ``kind``; the field is left out of the others."""
    return lambda c, k: (rule(c, k) if callable(rule) else c[rule]) if k == kind else DROP


def _d_lru(c, kind=None) -> int:
    """``RecurrentGemmaConfig.__post_init__``: lru_width, hidden_size when null."""
    return c["lru_width"] or c["hidden_size"]


def _rope(c, kind=None) -> dict:
    """``RecurrentGemmaConfig.__post_init__``: ``partial_rotary_factor`` defaults to 0.5 (a kwargs default, not a
    class attribute) and joins rope_parameters unless they set their own; null leaves it out, so RoPE turns the
    whole head (RecurrentGemmaRotaryEmbedding reads 1.0)."""
    partial = c.get("partial_rotary_factor", 0.5)
    return rope_from(dict(c.get("rope_parameters") or {}), c, 1.0 if partial is None else partial)


def _d_ff(c, kind=None) -> int:
    """``RecurrentGemmaMlp``: gate and up are ``intermediate_size // 2`` wide."""
    return c["intermediate_size"] // 2


class RecurrentGemma(Gemma):
    """``models/recurrent_gemma``: Gemma's embeddings and GeGLU, with the RG-LRU in two of every three layers and
    local multi-query attention in the third."""

    model_type = "recurrent_gemma"
    transformers_class = "RecurrentGemmaForCausalLM"
    aliases = {"sliding_window": "attention_window_size"}  # attribute_map (layer_types: refused, see _layers)
    defaults = {
        "num_hidden_layers": 26, "vocab_size": 256000, "hidden_size": 2560, "intermediate_size": 3 * 2560,
        "num_attention_heads": 10, "lru_width": None, "attention_window_size": 2048, "conv1d_width": 4,
        "logits_soft_cap": 30.0, "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh",
        "rope_parameters": None, "rope_theta": 10000.0,
        "block_types": ("recurrent", "recurrent", "attention"), "num_key_value_heads": None, "attention_bias": False,
        "tie_word_embeddings": True,
    }
    arch = Gemma.arch | {"context_length": const(None), "embedding.logit_softcap": "logits_soft_cap"}
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": lambda c, k: "rg_lru" if k == "recurrent" else head_layout_kind(c),
        "mixer.d_lru": _in("recurrent", _d_lru),
        "mixer.n_heads": "num_attention_heads",
        "mixer.conv_kernel": _in("recurrent", "conv1d_width"),
        "mixer.activation": _in("recurrent", activation("hidden_activation")),
        "mixer.n_kv_heads": _in("sliding", lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"]),
        "mixer.head_dim": _in("sliding", head_dim),  # a head_dim key overrides hidden_size // num_attention_heads
        "mixer.qkv_bias": _in("sliding", "attention_bias"),
        "mixer.out_bias": _in("sliding", const(True)),  # RecurrentGemmaAttention.o_proj: bias=True always
        "mixer.rope": _in("sliding", _rope),
        "mixer.window": _in("sliding", "attention_window_size"),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _d_ff,
        "ffn.activation": activation("hidden_activation"),
        "ffn.gated": const(True),
        "ffn.bias": const(True),
    }


__all__ = ["RecurrentGemma"]
