"""Zamba (``models/zamba``): Mamba-1 layers split into heads, and one shared attention block run by the hybrid layers.

Every layer is a ``ZambaMambaDecoderLayer`` (pre-norm RMSNorm → ``ZambaMambaMixer`` → residual, no feed-forward):
Mamba-1 with its inner channels split into ``n_mamba_heads`` heads, each with its own x_proj, dt_proj, A_log and D.
A "hybrid" entry of ``layers_block_type`` (alias ``layer_types``; by default layer 2, then every
``attn_layer_period``-th layer from ``attn_layer_offset`` + 3, ``ZambaConfig.__post_init__``) first runs the shared
``ZambaAttentionDecoderLayer`` (stored once: transformers ties every copy) on concat(hidden, input embeddings) of
``attention_hidden_size`` (2 × hidden_size): RMSNorm, attention without positions (head_dim ``attention_head_dim``,
alias ``head_dim``, else 2 × hidden_size / heads; scale 1/√(head_dim/2)), RMSNorm, the gated MLP
(``hidden_act``, GELU by default), no residual; its own ``linear`` (hidden_size → hidden_size) maps the result, which
is added to the Mamba layer's input before its norm (``ZambaHybridLayer``; ``arch.shared_blocks``). Any other allowed
entry is a Mamba layer. transformers ties the copies through ``_tied_weights_keys``, which it applies only with
``tie_word_embeddings``: an untied config builds one copy per hybrid layer. Defaults are ``ZambaConfig``'s.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const, head_layout_kind, per_layer
from .llama import Llama
from .mamba_hybrid import MAMBA1_MIXER

#: validate_layer_type's ALLOWED_LAYER_TYPES: ZambaModel builds a hybrid layer for "hybrid", a Mamba layer otherwise
_ALLOWED = ("full_attention", "sliding_attention", "chunked_attention", "window_attention", "indexed_attention",
            "compressed_sparse_attention", "heavily_compressed_attention", "minimax_m3_sparse", "conv", "moe",
            "hybrid_sliding", "reference_sliding_attention", "linear_attention", "sparse", "dense")
_KINDS = {"hybrid": "hybrid"} | dict.fromkeys(_ALLOWED, "mamba")


def _layers(c) -> list[str]:
    """``layers_block_type``, else ZambaConfig.__post_init__'s (:func:`_by_period`); transformers cannot build a tied
    model with one hybrid layer (``get_expanded_tied_weights_keys`` finds no copy to tie it into)."""
    layers = per_layer(c, "layers_block_type", _KINDS, c["num_hidden_layers"]) or _by_period(c)
    if layers.count("hybrid") == 1 and c["tie_word_embeddings"]:
        raise DerivationError("one hybrid layer with tie_word_embeddings: transformers ties the shared block's copies "
                              "and finds none to tie it into; give two hybrid layers or more, or untie")
    return layers


def _by_period(c) -> list[str]:
    """Two Mamba layers, a hybrid one, then a hybrid layer where i % attn_layer_period == attn_layer_offset for
    i < num_hidden_layers − 3."""
    n = c["num_hidden_layers"]
    period, offset = c["attn_layer_period"], c["attn_layer_offset"]
    if not isinstance(period, int) or isinstance(period, bool) or period < 1:
        raise DerivationError(f"attn_layer_period {period!r} must be a positive integer")
    layers = ["mamba", "mamba", "hybrid"] + ["hybrid" if i % period == offset else "mamba" for i in range(n - 3)]
    if len(layers) != n:
        raise DerivationError(f"num_hidden_layers {n}: ZambaConfig lists 3 layers before the period starts, so it "
                              "needs at least 3 layers (or give layers_block_type)")
    return layers


def _mamba_heads(c, kind=None) -> int:
    """``ZambaConfig.validate_architecture``: n_mamba_heads divides the inner width mamba_expand × hidden_size."""
    heads, inner = c["n_mamba_heads"], c["mamba_expand"] * c["hidden_size"]
    if not isinstance(heads, int) or heads < 1 or inner % heads:
        raise DerivationError(f"n_mamba_heads {heads!r} must divide mamba_expand × hidden_size = {inner!r}")
    return heads


def _head_dim(c, kind=None) -> int:
    """``attention_head_dim or 2 × hidden_size // num_attention_heads`` (ZambaConfig.__post_init__)."""
    return c["attention_head_dim"] or 2 * c["hidden_size"] // c["num_attention_heads"]


def only_with_hybrid(layers):
    """Rules of the shared block: read only when some layer of ``layers(c)`` runs it (ZambaModel, Zamba2Model build
    none without a hybrid layer)."""
    def shared(rule):
        def wrapped(c):
            if "hybrid" not in layers(c):
                return DROP
            return c[rule] if isinstance(rule, str) else rule(c)

        return wrapped

    return shared


_shared = only_with_hybrid(_layers)


_ATTENTION = {
    "embeddings_input": const(True),  # ZambaAttentionDecoderLayer: concat(hidden, original_hidden_states)
    "tied": "tie_word_embeddings",  # PreTrainedModel ties _tied_weights_keys (the copies too) only with it
    "mixer.kind": head_layout_kind,
    "mixer.n_heads": "num_attention_heads",
    "mixer.n_kv_heads": "num_key_value_heads",
    "mixer.head_dim": _head_dim,
    "mixer.d_in": lambda c: c["attention_hidden_size"] or 2 * c["hidden_size"],
    "mixer.rope": const(None),  # ZambaAttention applies no positional encoding
    "mixer.scale": lambda c: (_head_dim(c) / 2) ** -0.5,  # ZambaAttention.scaling
    "ffn.kind": const("mlp"),
    "ffn.d_ff": "intermediate_size",
    "ffn.activation": activation("hidden_act"),
    "ffn.gated": const(True),
}


class Zamba(Family):
    """``models/zamba``: multi-head Mamba-1 layers; the hybrid ones first run the shared attention block."""

    model_type = "zamba"
    transformers_class = "ZambaForCausalLM"
    defaults = {
        "vocab_size": 32000, "tie_word_embeddings": True, "hidden_size": 3712, "attention_hidden_size": None,
        "intermediate_size": 14848, "num_hidden_layers": 76, "num_attention_heads": 16, "attention_head_dim": None,
        "num_key_value_heads": 16, "n_mamba_heads": 2, "hidden_act": "gelu", "rms_norm_eps": 1e-5,
        "max_position_embeddings": 4096, "attn_layer_period": 6, "attn_layer_offset": 4, "mamba_d_state": 16,
        "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": "auto", "mamba_conv_bias": True,
        "mamba_proj_bias": False, "layers_block_type": None,
    }
    aliases = {"layer_types": "layers_block_type", "head_dim": "attention_head_dim"}
    arch = Llama.arch | {f"shared_blocks.attention.{key}": _shared(rule) for key, rule in _ATTENTION.items()}
    layers = staticmethod(_layers)
    block = MAMBA1_MIXER | {
        "mixer.n_heads": _mamba_heads,
        "shared.block": lambda c, k: "attention" if k == "hybrid" else DROP,
        "shared.linear": lambda c, k: True if k == "hybrid" else DROP,
    }


__all__ = ["Zamba", "only_with_hybrid"]
