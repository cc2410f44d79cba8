"""Qwen4-Exp (``models/qwen4_exp``): Qwen3.5-MoE's hybrid under low-rank hyper-connections, with hashed n-gram
per-layer embeddings on some linear layers and the QSA indexer on every softmax-attention layer.

The difference from Qwen3.5-MoE (``modular_qwen4_exp.py`` writes it so):

* the residual kept as ``hc_count`` streams around every sublayer by ``Qwen4ExpTextGatedResidual`` (rank
  ``hc_lowrank``), whose per-stream norm replaces the layer's norms; ``hyper_connection_mixer`` replaces the final norm;
* ``layer_types`` of ``linear_attention`` and ``indexed_attention`` (a checkpoint's ``full_attention`` reads as
  indexed), every ``full_attention_interval``-th layer indexed by default; each indexed layer's
  ``Qwen4ExpTextQSAIndexer`` needs all five ``indexer_*`` keys: the class defaults leave them null, and then
  transformers cannot build the model (``block_topk = token_budget // compress_ratio`` on None), so neither does
  this;
* ``ple_layer_ids`` (one-based, linear layers only) get ``Qwen4ExpTextPLELayer``: block kind ``linear-ngram``;
* the Gated DeltaNet's output gate applies ``output_gate_type``, else ``hidden_act`` (silu or sigmoid);
* RoPE over the whole head unless ``rope_parameters`` says otherwise: the config's ``__post_init__`` skips
  Qwen3.5's, which set a partial factor of 0.25; 512 experts, top-10, renormalised as ``norm_topk_prob`` says.

The wrapper (``qwen4_exp``) is read through its ``text_config``; ``Qwen4ExpForCausalLM`` builds the text config.
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, activation, const, is_linear, per_layer, required, rope, without
from .qwen_next import Qwen3_5MoeText

_INDEXER = ("indexer_n_heads", "indexer_kv_heads", "indexer_head_dim", "indexer_budget", "indexer_compress_ratio")


def _kinds(c) -> list[str]:
    """``Qwen4ExpTextConfig.__post_init__`` and ``validate_architecture``: linear or indexed layers, PLE on linear."""
    n = c["num_hidden_layers"]
    interval = c.get("full_attention_interval", 4)  # popped by __post_init__ (default 4)
    kinds = per_layer(c, "layer_types", {"linear_attention": "linear", "indexed_attention": "full",
                                         "full_attention": "full"}, n) or [
        "linear" if (i + 1) % interval else "full" for i in range(n)]
    for layer in _ple_layers(c):
        if not 1 <= layer <= n or kinds[layer - 1] != "linear":
            raise DerivationError(f"ple_layer_ids: {layer} is not a one-based linear_attention layer of 1–{n}; "
                                  "Qwen4-Exp builds PLE only there")
        kinds[layer - 1] = "linear-ngram"
    return kinds


def _ple_layers(c) -> list[int]:
    return sorted(set(c["ple_layer_ids"] or []))


def _streams(c, kind=None) -> int:
    if c["hc_count"] <= 1:
        raise DerivationError(f"hc_count: {c['hc_count']}: Qwen4-Exp needs more than one stream; accepted: 2 or more")
    return c["hc_count"]


def _gate(c, kind=None) -> str:
    """``Qwen4ExpTextRMSNormGated``: output_gate_type, else hidden_act; validate_architecture takes two."""
    name = c["output_gate_type"] or c["hidden_act"]
    if name not in ("silu", "sigmoid"):
        raise DerivationError(f"output_gate_type: '{name}' (or hidden_act when unset) is not an output gate "
                              "Qwen4-Exp builds; accepted: 'silu', 'sigmoid'")
    return name


def _qsa(key: str):
    """An indexer width: every key set (transformers builds no QSA layer without them), one key head."""
    def rule(c, kind):
        if is_linear(kind):
            return DROP
        for name in _INDEXER:
            required(name, "QSA indexer (on every indexed_attention layer)")(c)
        if c["indexer_kv_heads"] != 1:
            raise DerivationError(f"indexer_kv_heads: {c['indexer_kv_heads']}: Qwen4-Exp's QSA needs 1")
        rot = int(c["head_dim"] * rope(c)["partial"])
        if rot > c["indexer_head_dim"]:
            raise DerivationError(f"indexer_head_dim: {c['indexer_head_dim']} is narrower than the {rot} dims RoPE "
                                  "turns: the index queries are rotated as the attention's; accepted: at least that")
        return c[key]
    return rule


def _ngram(key):
    """An n-gram embedding field, present when ple_layer_ids names a layer."""
    def rule(c):
        if not _ple_layers(c):
            return DROP
        return key(c) if callable(key) else c[key]
    return rule


def _eos(c) -> int:
    """eos_token_id (its first, from a list): the document boundary the n-grams stop at; PLE needs one."""
    eos = c["eos_token_id"]
    eos = eos[0] if isinstance(eos, list) and eos else eos
    if not isinstance(eos, int) or isinstance(eos, bool):
        raise DerivationError("eos_token_id is unset: Qwen4-Exp's n-gram embeddings (ple_layer_ids) need it")
    return eos


def _embed_width(c) -> int:
    width = c["ple_embed_dim"] or c["hidden_size"]  # __post_init__: null is hidden_size
    heads = (c["ngram_size"] - 1) * c["heads_per_ngram"]
    if c["ngram_size"] < 2 or width % heads:
        raise DerivationError(f"ple_embed_dim: {width} is not a multiple of the {heads} n-gram hash heads "
                              "((ngram_size − 1) × heads_per_ngram); accepted: a multiple, ngram_size at least 2")
    return width


class Qwen4ExpText(Qwen3_5MoeText):
    """``models/qwen4_exp``: Qwen3.5-MoE with low-rank hyper-connections, hashed n-gram PLE and the QSA indexer."""

    model_type = "qwen4_exp_text"
    transformers_class = "Qwen4ExpForCausalLM"
    defaults = without(Qwen3_5MoeText.defaults, "partial_rotary_factor") | {
        "num_experts_per_tok": 10, "num_experts": 512, "norm_topk_prob": True,
        "hc_count": 4, "hc_lowrank": 320, "ple_layer_ids": None, "ple_embed_dim": None, "ple_conv_kernel_size": 4,
        "ngram_size": 3, "heads_per_ngram": 8, "ngram_vocab_size_base": 20_000_000,
        "make_ngram_vocab_size_divisible_by": 128, "seed": 1234, "output_gate_type": None, "eos_token_id": None,
        **dict.fromkeys(_INDEXER),
    }
    arch = Qwen3_5MoeText.arch | {
        "final_norm": const(False),  # Qwen4ExpTextModel: hyper_connection_mixer, no norm
        "hyper_connections.streams": _streams,
        "hyper_connections.lowrank": "hc_lowrank",
        "ngram_embedding.ngram_size": _ngram("ngram_size"),
        "ngram_embedding.heads_per_ngram": _ngram("heads_per_ngram"),
        "ngram_embedding.d_embed": _ngram(_embed_width),
        "ngram_embedding.conv_kernel": _ngram("ple_conv_kernel_size"),
        "ngram_embedding.vocab_base": _ngram("ngram_vocab_size_base"),
        "ngram_embedding.pad_to": _ngram("make_ngram_vocab_size_divisible_by"),
        "ngram_embedding.seed": _ngram("seed"),
        "ngram_embedding.eos_id": _ngram(_eos),
    }
    layers = staticmethod(_kinds)
    block = Qwen3_5MoeText.block | {
        "mixer.rope": lambda c, k: DROP if is_linear(k) else rope(c),
        "mixer.gate_activation": lambda c, k: _gate(c) if is_linear(k) else DROP,
        "mixer.qsa.n_heads": _qsa("indexer_n_heads"),
        "mixer.qsa.head_dim": _qsa("indexer_head_dim"),
        "mixer.qsa.budget": _qsa("indexer_budget"),
        "mixer.qsa.block": _qsa("indexer_compress_ratio"),
        "ffn.activation": activation("hidden_act"),
        "ffn.router.normalize_topk": "norm_topk_prob",
        "ngram_embedding": lambda c, k: k.endswith("-ngram") or DROP,
    }


__all__ = ["Qwen4ExpText"]
