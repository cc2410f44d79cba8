"""PhiMoE (Phi-3.5-MoE): Mixtral's experts in layers normed by LayerNorm with biases.

``models/phimoe``: Mixtral's decoder layer with ``nn.LayerNorm`` (weight and bias) before attention and experts and
at the end, Llama attention whose four projections are biased by ``attention_bias``, and an output head biased by
``lm_head_bias``. Its router picks experts with SparseMixer (``sparsemixer``): at inference the same experts as
top-k of the logits, each weighted by a softmax over the logits close enough to its own; the gallery draws, traces and
runs it as softmax top-k, which changes no count. Defaults are the transformers config class defaults (checked by
``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import const, without
from .moe import Mixtral


class Phimoe(Mixtral):
    """``models/phimoe``: Mixtral with LayerNorm biases, biased attention and an optionally biased head."""

    model_type = "phimoe"
    transformers_class = "PhimoeForCausalLM"
    defaults = without(Mixtral.defaults, "head_dim") | {
        "vocab_size": 32064, "intermediate_size": 6400, "num_local_experts": 16, "attention_bias": False,
        "lm_head_bias": False,
    }
    aliases = {}
    arch = Mixtral.arch | {
        "norm.kind": const("layernorm"),
        "norm.bias": const(True),
        "embedding.head_bias": "lm_head_bias",
    }
    block = Mixtral.block | {"mixer.qkv_bias": "attention_bias", "mixer.out_bias": "attention_bias"}


__all__ = ["Phimoe"]
