"""Persimmon (Adept, ``models/persimmon``): GPT-NeoX's fused attention with a LayerNorm on queries and keys, run
sequentially, and a plain ReLU² MLP.

``PersimmonAttention``: ``query_key_value`` (3 × hidden_size, with bias; each head's q, k, v in turn) and ``dense``
(with bias); with ``qk_layernorm`` (the default) an ``nn.LayerNorm(head_dim)`` with weight and bias on every query and
key head, one shared by all heads, before RoPE on the first ``partial_rotary_factor`` of each head (0.5 unless the
config says otherwise: ``PersimmonConfig.__post_init__``). ``PersimmonDecoderLayer``: LayerNorm → attention →
residual, LayerNorm → MLP → residual. ``PersimmonMLP``: dense_h_to_4h → act (``hidden_act``, relu2) → dense_4h_to_h,
both with bias. Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import activation, const, rope_from, without
from .gpt import GptNeox
from .gpt_neox_japanese import fused_head_dim


def _rope(c, kind=None):
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    params.setdefault("partial_rotary_factor", c.get("partial_rotary_factor") or 0.5)  # a kwarg, not a field
    return rope_from(params, c)


class Persimmon(GptNeox):
    """``models/persimmon``: QK LayerNorm with bias, sequential residuals, a plain biased MLP."""

    model_type = "persimmon"
    transformers_class = "PersimmonForCausalLM"
    defaults = without(GptNeox.defaults, "use_parallel_residual", "attention_bias") | {
        "vocab_size": 262144, "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 36,
        "hidden_act": "relu2", "max_position_embeddings": 16384, "qk_layernorm": True, "rope_theta": 10000.0,
    }
    block = GptNeox.block | {
        "mixer.head_dim": fused_head_dim,
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "mixer.qk_norm": lambda c, k: "per_head_shared" if c["qk_layernorm"] else "none",
        "mixer.qk_norm_bias": lambda c, k: bool(c["qk_layernorm"]),
        "mixer.rope": _rope,
        "ffn.activation": activation("hidden_act"),
        "parallel": const(False),
    }


__all__ = ["Persimmon"]
