"""Google's Reformer (``models/reformer``), read as ``ReformerModelWithLMHead`` builds it: only with ``is_decoder``
true (the class asserts it; ``ReformerConfig``'s default is false, so transformers cannot build the default config),
and with no chunks after a query's own (asserted too).

Every layer is reversible (``ReformerLayer``, :mod:`gallery.reversible`): LayerNorm → attention into one stream,
LayerNorm → feed-forward (dense with bias, ``hidden_act``, dense with bias) into the other. ``attn_layers`` names each
layer's attention (its length is num_hidden_layers unless the config gives that key, which wins: the first
num_hidden_layers entries, or the one kind named in every layer): ``lsh`` (:mod:`gallery.kinds.lsh`) or ``local``
(:mod:`gallery.kinds.local_chunk`), both ``num_attention_heads`` × ``attention_head_size`` wide whatever hidden_size
is. Positions are axial
(``axial_pos_embds``, :mod:`gallery.axial`) or a learned table of max_position_embeddings rows. The final LayerNorm
and the head read both streams, 2 × hidden_size; the head has a bias of its own and is never tied
(``ReformerOnlyLMHead``: its decoder is 2 × hidden_size wide, the token table hidden_size, and the class ties
nothing). LayerNorms with biases, eps layer_norm_eps. Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const, per_layer

ATTN_LAYERS = {"lsh": "lsh", "local": "local"}


def _layers(c, kind=None) -> list[str]:
    """``attn_layers``, one entry per layer; the LM head needs a decoder with no chunks after."""
    if not c["is_decoder"]:
        raise DerivationError("is_decoder is false: ReformerModelWithLMHead asserts is_decoder true (a causal LM); "
                              "set \"is_decoder\": true")
    value = c["attn_layers"]  # the class default is a tuple
    layers = per_layer(c, "attn_layers", ATTN_LAYERS, entries=list(value) if isinstance(value, tuple) else value)
    if not layers:
        raise DerivationError("attn_layers: expected a non-empty list of 'lsh' and 'local', one per layer")
    n = c["num_hidden_layers"] if c.has("num_hidden_layers") else len(layers)
    if len(set(layers)) == 1:  # ReformerAttention: one kind named builds it in every layer
        layers = layers[:1] * n
    elif n > len(layers):
        raise DerivationError(f"num_hidden_layers is {n} but attn_layers has {len(layers)} entries: ReformerAttention "
                              "reads layer i's kind from attn_layers[i] (IndexError); give one entry per layer")
    layers = layers[:n]
    for kind, prefix in (("local", "local"), ("lsh", "lsh")):
        if kind in layers and c[f"{prefix}_num_chunks_after"] != 0:
            raise DerivationError(f"{prefix}_num_chunks_after is {c[f'{prefix}_num_chunks_after']}: "
                                  "ReformerModelWithLMHead asserts 0 (a causal mask sees no later chunk)")
    if "lsh" in layers:
        for key in ("lsh_attn_chunk_length", "lsh_num_chunks_before"):
            if c[key] is None:
                raise DerivationError(f"{key} is null: LSH attention cannot be built without it; set it in "
                                      "config.json")
    return layers


def _in(kind: str, rule):
    """``rule`` in blocks of ``kind``; the field is left out of the others."""
    return lambda c, k: (rule(c, k) if callable(rule) else c[rule]) if k == kind else DROP


def _buckets(c, kind=None):
    """``num_buckets``: one number, a list of factors (a one-entry list is one number), or null."""
    value = c["num_buckets"]
    if any(b % 2 for b in (value if isinstance(value, list) else [value or 2])):
        raise DerivationError(f"num_buckets is {value}: LSHSelfAttention asserts an even number (or even factors), "
                              "a rotation giving each bucket pair ±")
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _axial(c, kind=None) -> dict | None:
    """AxialPositionEmbeddings: one table per axis of axial_pos_shape, axial_pos_embds_dim wide each."""
    if not c["axial_pos_embds"]:
        return None
    shape, dims = list(c["axial_pos_shape"]), list(c["axial_pos_embds_dim"])
    if len(shape) != len(dims):
        raise DerivationError(f"axial_pos_shape has {len(shape)} axes but axial_pos_embds_dim {len(dims)} widths: "
                              "AxialPositionEmbeddings needs one width per axis")
    if sum(dims) != c["hidden_size"]:
        raise DerivationError(f"axial_pos_embds_dim: {dims} sum to {sum(dims)}, not hidden_size ({c['hidden_size']}); "
                              "AxialPositionEmbeddings refuses it")
    return {"shape": shape, "dims": dims}


class Reformer(Family):
    """``models/reformer``: reversible layers of LSH or chunked local attention, axial positions, a 2 × hidden_size
    head with a bias."""

    model_type = "reformer"
    transformers_class = "ReformerModelWithLMHead"
    defaults = {
        "attention_head_size": 64, "attn_layers": ("local", "lsh", "local", "lsh", "local", "lsh"),
        "axial_pos_embds": True, "axial_pos_shape": (64, 64), "axial_pos_embds_dim": (64, 192),
        "feed_forward_size": 512, "hidden_act": "relu", "hidden_size": 256, "is_decoder": False,
        "layer_norm_eps": 1e-12, "local_num_chunks_before": 1, "local_num_chunks_after": 0,
        "local_attn_chunk_length": 64, "lsh_attn_chunk_length": 64, "lsh_num_chunks_before": 1,
        "lsh_num_chunks_after": 0, "max_position_embeddings": 4096, "num_attention_heads": 12, "num_buckets": None,
        "num_hashes": 1, "vocab_size": 320, "tie_word_embeddings": False,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": lambda c, k=None: len(_layers(c)),
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_eps",
        "norm.bias": const(True),
        "embedding.tied": const(False),  # ReformerModelWithLMHead ties nothing
        "embedding.head_bias": const(True),  # ReformerOnlyLMHead.bias
        "embedding.learned_positions": lambda c, k=None: None if c["axial_pos_embds"] else c["max_position_embeddings"],
        "embedding.axial_positions": _axial,
        "reversible": const(True),
    }
    layers = staticmethod(_layers)
    block = {
        "mixer.kind": lambda c, k: "lsh" if k == "lsh" else "local_chunk",
        "mixer.n_heads": "num_attention_heads",
        "mixer.head_dim": "attention_head_size",
        "mixer.chunk": lambda c, k: c["lsh_attn_chunk_length" if k == "lsh" else "local_attn_chunk_length"],
        "mixer.chunks_before": lambda c, k: c["lsh_num_chunks_before" if k == "lsh" else "local_num_chunks_before"],
        "mixer.n_hashes": _in("lsh", "num_hashes"),
        "mixer.n_buckets": _in("lsh", _buckets),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "feed_forward_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(False),
        "ffn.bias": const(True),
    }


__all__ = ["Reformer"]
