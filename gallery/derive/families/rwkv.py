"""RWKV-4 (``models/rwkv``): an RNN in transformer clothing, no attention and no positions.

Every layer is ``ln1`` → time mix (``RwkvSelfAttention``: token shift, key/value/receptance, the WKV recurrence
with ``time_decay`` and ``time_first``) → residual, ``ln2`` → channel mix (``RwkvFeedForward``: token shift, relu²
key, sigmoid receptance gate) → residual; LayerNorms with biases throughout. Layer 0 also normalises the embeddings
(``pre_ln``, the embedding norm); ``ln_out`` is built at LayerNorm's default eps 1e-5 whatever layer_norm_epsilon
says (no count changes). ``rescale_every`` halves the activations every few layers at inference by dividing weights
in place, which changes no parameter count, and is not read. ``context_length`` (alias ``max_position_embeddings``)
only bounds the CUDA kernel's sequence length: the recurrence has no position limit, so the spec's context_length is
null (as BLOOM's). Untied head by default. Defaults are the transformers config class defaults.
"""

from __future__ import annotations

from ..family import Family, const


def _d_att(c, kind=None) -> int:
    """``RwkvConfig.__post_init__``: attention_hidden_size, hidden_size when null."""
    return c["attention_hidden_size"] or c["hidden_size"]


def _d_ff(c, kind=None) -> int:
    """``RwkvConfig.__post_init__``: intermediate_size, 4 × hidden_size when null."""
    return c["intermediate_size"] or 4 * c["hidden_size"]


class Rwkv(Family):
    """``models/rwkv``: pre-LN blocks of a time mix and a channel mix, an embedding LayerNorm, untied head."""

    model_type = "rwkv"
    transformers_class = "RwkvForCausalLM"
    defaults = {
        "vocab_size": 50277, "hidden_size": 4096, "num_hidden_layers": 32, "attention_hidden_size": None,
        "intermediate_size": None, "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "vocab_size": "vocab_size",
        "context_length": const(None),  # no positions: context_length bounds only the CUDA kernel
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_epsilon",
        "norm.bias": const(True),
        "embedding.tied": "tie_word_embeddings",
        "embedding.norm": const(True),  # RwkvBlock.pre_ln in layer 0
    }
    layers = staticmethod(lambda c: ["rwkv"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": const("time_mix"),
        "mixer.d_att": _d_att,
        "ffn.kind": const("channel_mix"),
        "ffn.d_ff": _d_ff,
    }


__all__ = ["Rwkv"]
