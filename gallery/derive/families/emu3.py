"""Emu3's language model (``models/emu3``): Llama read through the ``text_config`` of the Emu3 wrapper.

``Emu3TextModel`` is ``LlamaModel`` with ``Emu3DecoderLayer`` (a dropout on each residual branch, no parameter);
the image tokens of the VQ-VAE share the text vocabulary (``vocab_size`` counts both), so the language model is a
plain Llama. The counted head is the wrapper's (``Emu3ForConditionalGeneration.lm_head``), tied as the wrapper's
``tie_word_embeddings`` says (default false). Defaults are the ``Emu3TextConfig`` defaults.
"""

from __future__ import annotations

from ...spec import attention_kind
from ..family import required, without
from .llama import Llama

_kv_heads = required("num_key_value_heads", "attention")  # Emu3TextConfig leaves it null; LlamaAttention divides by it


class Emu3Text(Llama):
    """``models/emu3`` (Emu3TextModel + lm_head): Llama with Emu3's defaults (GQA 32/8, θ 10⁶, a 184,622-token
    vocabulary of text and image tokens)."""

    model_type = "emu3_text_model"
    transformers_class = "Emu3ForConditionalGeneration"
    wrapper_head = True
    defaults = without(Llama.defaults, "head_dim") | {
        "vocab_size": 184622, "intermediate_size": 14336, "num_key_value_heads": 8, "max_position_embeddings": 9216,
        "rms_norm_eps": 1e-5, "rope_theta": 1_000_000.0,
    }
    block = Llama.block | {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _kv_heads(c)),
        "mixer.n_kv_heads": _kv_heads,
    }


__all__ = ["Emu3Text"]
