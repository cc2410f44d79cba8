"""GPT-NeoX Japanese (``models/gpt_neox_japanese``): GPT-NeoX's fused attention, sequential and almost without biases.

``GPTNeoXJapaneseLayer`` runs attention, then the MLP, each after its LayerNorm (not in parallel as GPT-NeoX does).
``query_key_value`` and ``dense`` have no bias; only the last layer's attention holds ``dense_bias``, a vector of
hidden_size added to its output before the residual (``bias_dropout_add``), which computes and counts as an output
projection bias: that layer is a block kind of its own, ``last``. The MLP is up → act → down without biases, its width
``int(hidden_size × intermediate_multiple_size)``. RoPE: ``rope_parameters``, else rope_scaling, with
``rotary_emb_base`` (10,000) and ``rotary_pct`` (1.0) filling what they leave out
(``GPTNeoXJapaneseConfig.convert_rope_params_to_dict``). The head (``embed_out``) is tied by default. Defaults are the
transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import const, rope_from, whole_heads, without
from .gpt import GptNeox


def _rope(c, kind=None):
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    params.setdefault("rope_theta", c.get("rotary_emb_base", 10000.0))
    params.setdefault("partial_rotary_factor", c.get("rotary_pct", 1.0))
    return rope_from(params, c)


#: a fused query_key_value of 3 × hidden_size (transformers builds GPT-NeoX Japanese's whatever the heads; Persimmon's
#: raises)
fused_head_dim = whole_heads("the attention cannot split query_key_value into heads")


class GptNeoxJapanese(GptNeox):
    """``models/gpt_neox_japanese``: sequential pre-norm, no biases but the last layer's ``dense_bias``."""

    model_type = "gpt_neox_japanese"
    transformers_class = "GPTNeoXJapaneseForCausalLM"
    defaults = without(GptNeox.defaults, "intermediate_size", "use_parallel_residual", "attention_bias") | {
        "vocab_size": 32000, "hidden_size": 2560, "num_hidden_layers": 32, "num_attention_heads": 32,
        "intermediate_multiple_size": 4, "tie_word_embeddings": True,
    }
    layers = staticmethod(lambda c: ["full"] * (c["num_hidden_layers"] - 1) + ["last"])
    block = GptNeox.block | {
        "mixer.head_dim": fused_head_dim,
        "mixer.qkv_bias": const(False),
        "mixer.out_bias": lambda c, k: k == "last",  # GPTNeoXJapaneseAttention(use_bias=layer_number == n - 1)
        "mixer.rope": _rope,
        "ffn.d_ff": lambda c, k: int(c["hidden_size"] * c["intermediate_multiple_size"]),
        "ffn.bias": const(False),
        "parallel": const(False),
    }


__all__ = ["GptNeoxJapanese", "fused_head_dim"]
