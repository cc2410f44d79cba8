"""Models with ALiBi positions: BLOOM, MPT, and Falcon (ALiBi or RoPE, parallel blocks, multi-query attention).

ALiBi adds a fixed per-head linear bias to the attention scores instead of position embeddings
(``gallery/kinds/alibi.py``). BLOOM normalises its embeddings; MPT's LayerNorms have no bias and its
projections none either; Falcon's transformers code descends from BLOOM's, with attention and MLP in parallel,
one K/V head (``multi_query``) or K/V groups and two LayerNorms (``new_decoder_architecture``). Defaults are the
transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ...spec import attention_kind
from ..family import DROP, Family, activation, const, either, required, rope_from
from .gpt import _divided

_width = either("n_embed", "hidden_size")  # BloomConfig/FalconConfig.__post_init__: an n_embed kwarg wins


def _head_dim(c, kind=None, heads: str = "n_head") -> int:
    """hidden_size // heads, which the attention requires to divide exactly."""
    width, n = _width(c), c[heads]
    if width % n:
        raise DerivationError(f"hidden_size ({width}) must be divisible by {heads} ({n})")
    return width // n


def _bloom_layers(c) -> list[str]:
    if c["apply_residual_connection_post_layernorm"]:
        raise DerivationError("apply_residual_connection_post_layernorm true: BLOOM blocks whose residual is the "
                              "normed input are not modelled yet")
    return ["full"] * c["n_layer"]


class Bloom(Family):
    """``models/bloom``: a LayerNorm on the embeddings, pre-LN blocks with a fused biased QKV and a biased GELU
    (tanh) MLP of 4 × hidden_size, ALiBi after the 1/√head_dim scale (``BloomAttention``: alibi.baddbmm)."""

    model_type = "bloom"
    transformers_class = "BloomForCausalLM"
    defaults = {
        "vocab_size": 250880, "hidden_size": 64, "n_layer": 2, "n_head": 8, "layer_norm_epsilon": 1e-5,
        "apply_residual_connection_post_layernorm": False, "tie_word_embeddings": True,
    }
    aliases = {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
    arch = {
        "d_model": _width,
        "n_layers": "n_layer",
        "vocab_size": "vocab_size",
        "context_length": const(None),  # no position table: ALiBi sets no length
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_epsilon",
        "norm.bias": const(True),
        "embedding.tied": "tie_word_embeddings",
        "embedding.norm": const(True),  # word_embeddings_layernorm
    }
    layers = staticmethod(_bloom_layers)
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "n_head",
        "mixer.n_kv_heads": "n_head",
        "mixer.head_dim": _head_dim,
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "mixer.rope": const(None),
        "mixer.alibi": const({}),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": lambda c, k: 4 * _width(c),
        "ffn.activation": const("gelu_tanh"),  # bloom_gelu_forward
        "ffn.gated": const(False),
        "ffn.bias": const(True),
    }


def _mpt_scale(c, kind=None):
    """``attn_config.softmax_scale``, or 1/√head_dim when null."""
    scale = (c["attn_config"] or {}).get("softmax_scale")
    return DROP if scale is None else float(scale)


class Mpt(Bloom):
    """``models/mpt``: bias-free everything (LayerNorms whose bias is removed, Wqkv, out_proj, a GELU MLP of
    4 × d_model), ALiBi with the bias max 8 on every layer. transformers builds these whatever ``no_bias``,
    ``learned_pos_emb``, ``expansion_ratio``, ``attn_config.alibi`` or ``alibi_bias_max`` say."""

    model_type = "mpt"
    transformers_class = "MptForCausalLM"
    defaults = {
        "d_model": 2048, "n_heads": 16, "n_layers": 24, "max_seq_len": 2048, "vocab_size": 50368,
        "layer_norm_epsilon": 1e-5, "attn_config": None, "tie_word_embeddings": True,
    }
    aliases = {"num_attention_heads": "n_heads", "hidden_size": "d_model", "num_hidden_layers": "n_layers"}
    arch = Bloom.arch | {
        "d_model": "d_model",
        "n_layers": "n_layers",
        "context_length": "max_seq_len",  # the ALiBi table MptModel builds
        "norm.bias": const(False),
        "embedding.norm": const(False),
    }
    layers = staticmethod(lambda c: ["full"] * c["n_layers"])
    block = Bloom.block | {
        "mixer.n_heads": "n_heads",
        "mixer.n_kv_heads": "n_heads",
        "mixer.head_dim": lambda c, k: _divided(c, "d_model", "n_heads"),
        "mixer.qkv_bias": const(False),
        "mixer.out_bias": const(False),
        "mixer.scale": _mpt_scale,
        "ffn.d_ff": lambda c, k: 4 * c["d_model"],
        "ffn.activation": const("gelu"),  # nn.GELU(approximate="none")
        "ffn.bias": const(False),
    }


def _falcon_layers(c) -> list[str]:
    """Every layer alike, for the wirings FalconDecoderLayer can run: new_decoder_architecture needs parallel_attn
    (its forward reads ln_attn or leaves the MLP's input unset otherwise) and one or two norms; the old one takes a
    single norm (num_ln_in_parallel_attn 2 builds ln_attn and ln_mlp, which its forward never reads)."""
    n_ln = c["num_ln_in_parallel_attn"]
    if c["new_decoder_architecture"]:
        if not c["parallel_attn"]:
            raise DerivationError("new_decoder_architecture with parallel_attn false: FalconDecoderLayer builds it but "
                                  "its forward cannot run (it reads ln_attn, which is not built)")
        if n_ln not in (None, 1, 2):
            raise DerivationError(f"num_ln_in_parallel_attn {n_ln}: FalconDecoderLayer runs with 1 or 2 LayerNorms")
    elif n_ln == 2 and c["parallel_attn"]:
        raise DerivationError("num_ln_in_parallel_attn 2 without new_decoder_architecture: FalconDecoderLayer "
                              "builds ln_attn and ln_mlp but its forward reads input_layernorm")
    if not c["new_decoder_architecture"] and not c["multi_query"] and c["num_kv_heads"] not in (
            None, c["num_attention_heads"]):
        raise DerivationError(f"num_kv_heads {c['num_kv_heads']} without new_decoder_architecture or multi_query: "
                              "FalconAttention's fused QKV has a K and V for every head, so its forward cannot run")
    return ["full"] * c["num_hidden_layers"]


def _falcon_kv_heads(c, kind=None) -> int:
    """FalconAttention: num_kv_heads (default num_attention_heads) with the new decoder architecture, one K/V head
    with multi_query, else one per query head."""
    heads = c["num_attention_heads"]
    if c["new_decoder_architecture"]:
        kv = c["num_kv_heads"] or heads
        if heads % kv:
            raise DerivationError(f"num_attention_heads ({heads}) must be a multiple of num_kv_heads ({kv})")
        return kv
    return 1 if c["multi_query"] else heads


def _falcon_rope(c, kind=None):
    """RoPE over the whole head unless ``alibi`` (``FalconConfig.rotary``)."""
    return None if c["alibi"] else rope_from(dict(c.get("rope_parameters") or {}), c)


class Falcon(Family):
    """``models/falcon``: attention and MLP in parallel (``parallel_attn``) from one LayerNorm, or from two with the
    new decoder architecture (Falcon-40B/180B: ln_attn, ln_mlp); a fused QKV with one K/V head (``multi_query``) or
    ``num_kv_heads`` groups; RoPE, or ALiBi added before the 1/√head_dim scale; a GELU MLP of ``ffn_hidden_size``."""

    model_type = "falcon"
    transformers_class = "FalconForCausalLM"
    defaults = {
        "vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
        "num_ln_in_parallel_attn": None, "layer_norm_epsilon": 1e-5, "num_kv_heads": None, "alibi": False,
        "new_decoder_architecture": False, "multi_query": True, "parallel_attn": True, "bias": False,
        "max_position_embeddings": 2048, "rope_parameters": None, "ffn_hidden_size": None, "activation": "gelu",
        "tie_word_embeddings": True, "rope_theta": 10000.0,
    }
    arch = Bloom.arch | {
        "n_layers": "num_hidden_layers",
        "context_length": "max_position_embeddings",
        "norm.eps": required("layer_norm_epsilon", "LayerNorms"),
        "embedding.norm": const(False),
    }
    layers = staticmethod(_falcon_layers)
    block = {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _falcon_kv_heads(c)),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": _falcon_kv_heads,
        "mixer.head_dim": lambda c, k: _head_dim(c, k, "num_attention_heads"),
        "mixer.qkv_bias": lambda c, k: bool(c["bias"]),
        "mixer.out_bias": lambda c, k: bool(c["bias"]),
        "mixer.rope": _falcon_rope,
        "mixer.alibi": lambda c, k: {"before_scale": True} if c["alibi"] else DROP,
        "ffn.kind": const("mlp"),
        "ffn.d_ff": lambda c, k: c["ffn_hidden_size"] or 4 * _width(c),
        "ffn.activation": activation("activation"),
        "ffn.gated": const(False),
        "ffn.bias": lambda c, k: bool(c["bias"]),
        "parallel": lambda c, k: bool(c["parallel_attn"]),
        "shared_norm": lambda c, k: bool(c["parallel_attn"]) and not (
            c["new_decoder_architecture"] and (c["num_ln_in_parallel_attn"] or 2) == 2),
    }


__all__ = ["Bloom", "Mpt", "Falcon"]
