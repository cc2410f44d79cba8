"""DiffLlama: Llama with differential attention (``models/diffllama``).

Llama's pre-norm blocks, GQA with RoPE and SwiGLU MLP (without biases), with ``DiffLlamaAttention``: the values split
into two halves by KV head and paired heads subtracted with a learned λ (``gallery/kinds/differential.py``). Defaults
are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import const, without
from .llama import Llama


def _even_kv_heads(c, kind=None) -> int:
    """``num_key_value_heads`` (default num_attention_heads), which DiffLlamaAttention requires to be even."""
    kv = c["num_key_value_heads"] or c["num_attention_heads"]
    if kv % 2:
        raise DerivationError(f"num_key_value_heads {kv}: DiffLlama splits the values into two halves by KV head, so "
                              "it needs an even number")
    return kv


def _layers(c) -> list[str]:
    """Every layer alike; DiffLlamaAttention refuses attention_dropout above 0 (and cannot compare a null one)."""
    dropout = c["attention_dropout"]
    if dropout is None or dropout > 0:
        raise DerivationError(f"attention_dropout {dropout}: DiffLlama builds its attention only with 0.0")
    return ["full"] * c["num_hidden_layers"]


class DiffLlama(Llama):
    """``models/diffllama``: Llama with differential attention and a bias-free MLP."""

    model_type = "diffllama"
    transformers_class = "DiffLlamaForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {
        "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "rms_norm_eps": 1e-5,
        "attention_dropout": 0.0,
    }
    layers = staticmethod(_layers)
    block = Llama.block | {
        "mixer.n_kv_heads": _even_kv_heads,
        "mixer.differential": const(True),
        "ffn.bias": const(False),
    }


__all__ = ["DiffLlama"]
