"""Apertus (Swiss AI): Llama with QK-norm and a plain MLP whose activation is xIELU (``models/apertus``).

``ApertusAttention`` is ``LlamaAttention`` plus an RMSNorm of head_dim on each query and key head before RoPE, one
weight shared by all heads (q_norm, k_norm); ``ApertusMLP`` is Nemotron's up → act → down without biases, and with
``hidden_act: xielu`` (the default) its activation is ``XIELUActivation``, two learned scalars per layer. The layer
norms are pre-norm (named attention_layernorm and feedforward_layernorm). ``ApertusConfig.__post_init__``: null
num_key_value_heads is MHA, and null rope_parameters is Llama 3's scaled RoPE with θ 12,000,000 (factor 8 over 8,192
positions). Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import activation, const, rope, rope_from, without
from .llama import Llama

_ROPE = {"rope_type": "llama3", "rope_theta": 12000000.0, "factor": 8.0, "original_max_position_embeddings": 8192,
         "low_freq_factor": 1.0, "high_freq_factor": 4.0}  # ApertusConfig.__post_init__, when rope_parameters is null


def _activation(c, kind=None):
    """``ApertusMLP``: XIELUActivation for ``xielu``, else the activation ACT2FN names."""
    return "xielu" if c["hidden_act"] == "xielu" else activation("hidden_act")(c, kind)


def _rope(c, kind=None):
    return rope(c, kind) if c["rope_parameters"] is not None else rope_from(dict(_ROPE), c)


class Apertus(Llama):
    """``models/apertus``: QK-norm, and a plain xIELU MLP without biases."""

    model_type = "apertus"
    transformers_class = "ApertusForCausalLM"
    defaults = without(Llama.defaults, "head_dim", "mlp_bias", "rope_theta") | {
        "vocab_size": 131072, "intermediate_size": 14336, "hidden_act": "xielu", "max_position_embeddings": 65536,
        "rms_norm_eps": 1e-5,
    }
    block = Llama.block | {
        "mixer.qk_norm": const("per_head_shared"),
        "mixer.rope": _rope,
        "ffn.activation": _activation,
        "ffn.gated": const(False),
        "ffn.bias": const(False),
    }


__all__ = ["Apertus"]
