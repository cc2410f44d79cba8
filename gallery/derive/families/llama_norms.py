"""Llama descendants that differ in their norms and need no new kind: Jais 2 and HyperCLOVA X.

``models/jais2``: Llama with ``nn.LayerNorm`` (weight and bias) everywhere, biased attention, and Nemotron's
non-gated MLP (up, ReLU², down) biased by ``mlp_bias``. ``models/hyperclovax``: Granite (multipliers, no parameters)
plus an RMSNorm after each sublayer's output when ``use_post_norm`` (sandwich norms). Defaults are the transformers
config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import const, without
from .llama import Llama
from .llama_like import Granite


class Jais2(Llama):
    """``models/jais2``: LayerNorm with biases, biased Q/K/V/O, a non-gated biased ReLU² MLP."""

    model_type = "jais2"
    transformers_class = "Jais2ForCausalLM"
    defaults = without(Llama.defaults, "rms_norm_eps") | {
        "vocab_size": 150272, "hidden_size": 3328, "intermediate_size": 26624, "num_attention_heads": 26,
        "hidden_act": "relu2", "max_position_embeddings": 8192, "attention_bias": True, "mlp_bias": True,
        "layer_norm_eps": 1e-5,
    }
    arch = Llama.arch | {"norm.kind": const("layernorm"), "norm.eps": "layer_norm_eps", "norm.bias": const(True)}
    block = Llama.block | {"ffn.gated": const(False)}


class HyperClovaX(Granite):
    """``models/hyperclovax``: Granite with post_norm1 and post_norm2 after attention and MLP (``use_post_norm``)."""

    model_type = "hyperclovax"
    transformers_class = "HyperCLOVAXForCausalLM"
    defaults = Granite.defaults | {"use_post_norm": True}
    block = Granite.block | {"norm_placement": lambda c, k: "sandwich" if c["use_post_norm"] else "pre"}


__all__ = ["Jais2", "HyperClovaX"]
