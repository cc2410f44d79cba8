"""CPM-Ant (OpenBMB, ``models/cpmant``): a pre-norm transformer with a relative position bias shared by all layers,
segment embeddings and prompt rows in its token table.

``CpmAntModel``: ``input_embedding`` of (vocab_size + prompt_types × prompt_length) rows (the prompt tokens it prepends
to every input), ``segment_embedding`` of segment_types rows added to it, one ``CpmAntSegmentPositionEmbedding`` whose
table every layer adds to its scores (:mod:`gallery.kinds.relative_bias`; no RoPE, no position table), and
``CpmAntEncoder``: per layer ``CpmAntLayerNorm`` (x · rsqrt(mean(x²) + eps) · w, a weight only) → ``CpmAntAttention``
(project_q/k/v of num_attention_heads × dim_head, attention_out, no biases) → residual, norm → ``CpmAntFeedForward``
(gelu(w_0 x) ⊙ w_1 x → w_out, dim_ff wide, no biases) → residual; then ``output_layernorm``. ``CpmAntForCausalLM``'s
``lm_head`` (vocab_size rows) is never tied: ``_tied_weights_keys`` is empty whatever tie_word_embeddings says (a
vocab-sized slice of the wider token table could not be tied whole). Defaults are the transformers config class
defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import Family, const


def _at_least(key: str, least, why: str):
    """``config[key]``, refused below ``least(config)``: transformers builds such a model, but its forward cannot run
    (``why``)."""

    def rule(c, kind=None):
        value, minimum = c[key], least(c)
        if value < minimum:
            raise DerivationError(f"{key} is {value}: {why}; accepted: an integer of at least {minimum}")
        return value

    return rule


# CpmAntModel.forward gives every text token segment 2, and puts the prompt of type 2 (rows vocab_size +
# 2 × prompt_length on) before every input; _position_bucket divides by num_buckets // 4, then by the log of
# max_distance over it
_segments = _at_least("segment_types", lambda c: 3, "CpmAntModel gives text tokens segment 2")
_prompt_types = _at_least("prompt_types", lambda c: 3 if c["prompt_length"] else 0,
                          "CpmAntModel puts the prompt of type 2 before every input (unless prompt_length is 0)")
_buckets = _at_least("position_bias_num_buckets", lambda c: 4, "_position_bucket divides by a quarter of it")
_distance = _at_least("position_bias_max_distance", lambda c: c["position_bias_num_buckets"] // 4 + 1,
                      "the log buckets run from position_bias_num_buckets // 4 to it")


class CpmAnt(Family):
    """``models/cpmant``: the shared relative position bias, segments and prompt rows, an untied head."""

    model_type = "cpmant"
    transformers_class = "CpmAntForCausalLM"
    defaults = {
        "vocab_size": 30720, "hidden_size": 4096, "num_attention_heads": 32, "dim_head": 128, "dim_ff": 10240,
        "num_hidden_layers": 48, "position_bias_num_buckets": 512, "position_bias_max_distance": 2048, "eps": 1e-6,
        "prompt_types": 32, "prompt_length": 32, "segment_types": 32,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "vocab_size": "vocab_size",
        "context_length": const(None),  # no position table: the buckets saturate beyond max_distance
        "norm.kind": const("rmsnorm"),
        "norm.eps": "eps",
        "embedding.tied": const(False),  # CpmAntForCausalLM._tied_weights_keys = {}
        "embedding.prompt_rows.types": _prompt_types,
        "embedding.prompt_rows.length": "prompt_length",
        "embedding.segments": _segments,
    }
    layers = staticmethod(lambda c: ["full"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_attention_heads",
        "mixer.head_dim": "dim_head",
        "mixer.rope": const(None),
        "mixer.relative_bias.num_buckets": _buckets,
        "mixer.relative_bias.max_distance": _distance,
        "mixer.relative_bias.segment_types": _segments,
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "dim_ff",
        "ffn.activation": const("gelu"),  # torch.nn.GELU(): the exact erf form
        "ffn.gated": const(True),  # w_0 is the activated gate, w_1 the up projection
        "ffn.bias": const(False),
    }


__all__ = ["CpmAnt"]
