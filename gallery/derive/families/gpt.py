"""The GPT lineage: GPT-2, GPT-BigCode, GPT-J, GPT-NeoX, StableLM, StarCoder2, GPT-Neo, Phi (1, 1.5, 2), OPT,
BioGPT.

LayerNorm with a bias everywhere, biases on most projections, plain (ungated) GELU MLPs in the
older models. Each class is the difference from its parent; defaults are the transformers config
class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const, head_layout_kind, rope, rope_from, without


def _mha_head_dim(c, kind=None):
    """``n_embd // n_head`` (these models have no head_dim key; transformers requires divisibility)."""
    d_model, n_heads = c["n_embd"], c["n_head"]
    if d_model % n_heads:
        raise DerivationError(f"n_embd ({d_model}) must be divisible by n_head ({n_heads})")
    return d_model // n_heads


def _d_ff(c, kind=None):
    """``n_inner if n_inner is not None else 4 * n_embd`` (GPT2MLP, GPTJMLP, GPTBigCodeMLP)."""
    return c["n_inner"] or 4 * c["n_embd"]


class Gpt2(Family):
    """``models/gpt2``: learned absolute positions, LayerNorm pre-norm, fused QKV with biases, GELU MLP."""

    model_type = "gpt2"
    transformers_class = "GPT2LMHeadModel"
    defaults = {
        "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
    }
    aliases = {"hidden_size": "n_embd", "max_position_embeddings": "n_positions",
               "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    arch = {
        "d_model": "n_embd",
        "n_layers": "n_layer",
        "vocab_size": "vocab_size",
        "context_length": "n_positions",
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_epsilon",
        "norm.bias": const(True),
        "embedding.tied": "tie_word_embeddings",
        "embedding.learned_positions": "n_positions",
    }
    layers = staticmethod(lambda c: ["full"] * c["n_layer"])
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "n_head",
        "mixer.n_kv_heads": "n_head",
        "mixer.head_dim": _mha_head_dim,
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "mixer.rope": const(None),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": _d_ff,
        "ffn.activation": activation("activation_function"),
        "ffn.gated": const(False),
        "ffn.bias": const(True),
    }


class GptBigCode(Gpt2):
    """``models/gpt_bigcode``: GPT-2 with multi-query attention (one K/V head) when ``multi_query``."""

    model_type = "gpt_bigcode"
    transformers_class = "GPTBigCodeForCausalLM"
    defaults = Gpt2.defaults | {"activation_function": "gelu_pytorch_tanh", "multi_query": True}
    block = Gpt2.block | {
        "mixer.kind": lambda c, k: "mqa" if c["multi_query"] else "mha",
        "mixer.n_kv_heads": lambda c, k: 1 if c["multi_query"] else c["n_head"],
    }


def _gptj_rope(c, kind=None):
    """GPTJAttention: RoPE (θ = 10000, fixed in code) on the first ``rotary_dim`` dims of each head."""
    rotary_dim = c["rotary_dim"]
    head = _mha_head_dim(c)
    return {"theta": 10000.0, "partial": (rotary_dim or head) / head}


class Gptj(Gpt2):
    """``models/gptj``: attention and MLP in parallel from one LayerNorm, partial RoPE, biased head."""

    model_type = "gptj"
    transformers_class = "GPTJForCausalLM"
    defaults = Gpt2.defaults | {
        "vocab_size": 50400, "n_positions": 2048, "n_embd": 4096, "n_layer": 28, "n_head": 16, "rotary_dim": 64,
        "tie_word_embeddings": False,
    }
    arch = Gpt2.arch | {"embedding.learned_positions": const(DROP), "embedding.head_bias": const(True)}
    block = Gpt2.block | {
        "mixer.qkv_bias": const(False),
        "mixer.out_bias": const(False),
        "mixer.rope": _gptj_rope,
        "parallel": const(True),
        "shared_norm": const(True),
    }


def _neox_rope(c, kind=None):
    """GPTNeoXConfig: rope_theta ← rotary_emb_base, partial_rotary_factor ← rotary_pct (0.25)."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    params.setdefault("rope_theta", c.get("rotary_emb_base", 10000.0))
    params.setdefault("partial_rotary_factor", c.get("rotary_pct", 0.25))
    return rope_from(params, c)


class GptNeox(Family):
    """``models/gpt_neox``: two LayerNorms feeding attention and MLP in parallel (use_parallel_residual)."""

    model_type = "gpt_neox"
    transformers_class = "GPTNeoXForCausalLM"
    defaults = {
        "vocab_size": 50432, "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
        "intermediate_size": 24576, "hidden_act": "gelu", "max_position_embeddings": 2048,
        "layer_norm_eps": 1e-5, "use_parallel_residual": True, "attention_bias": True,
        "tie_word_embeddings": False, "rope_parameters": None,
    }
    arch = {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("layernorm"),
        "norm.eps": "layer_norm_eps",
        "norm.bias": const(True),
        "embedding.tied": "tie_word_embeddings",
    }
    layers = staticmethod(lambda c: ["full"] * c["num_hidden_layers"])
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_attention_heads",
        "mixer.head_dim": lambda c, k: c["hidden_size"] // c["num_attention_heads"],
        "mixer.qkv_bias": "attention_bias",
        "mixer.out_bias": "attention_bias",
        "mixer.rope": _neox_rope,
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "intermediate_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.gated": const(False),
        "ffn.bias": const(True),
        "parallel": "use_parallel_residual",
    }


def _stablelm_rope(c, kind=None):
    """StableLmConfig: partial_rotary_factor defaults to 0.25 (set in ``__post_init__``)."""
    params = dict(c.get("rope_parameters") or c.get("rope_scaling") or {})
    return rope_from(params, c, c.get("partial_rotary_factor", 0.25))


class StableLm(GptNeox):
    """``models/stablelm``: Llama-style GQA and SwiGLU with LayerNorm; optional per-head QK LayerNorm."""

    model_type = "stablelm"
    transformers_class = "StableLmForCausalLM"
    defaults = {
        "vocab_size": 50304, "intermediate_size": 6912, "hidden_size": 2560, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 4096,
        "layer_norm_eps": 1e-5, "use_qkv_bias": False, "qk_layernorm": False, "use_parallel_residual": False,
        "tie_word_embeddings": False, "rope_parameters": None, "rope_theta": 10000.0,
    }
    block = GptNeox.block | {
        "mixer.kind": head_layout_kind,
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.qkv_bias": "use_qkv_bias",
        "mixer.out_bias": const(False),
        "mixer.qk_norm": lambda c, k: "per_head" if c["qk_layernorm"] else "none",  # StableLmLayerNormPerHead
        "mixer.rope": _stablelm_rope,
        "ffn.gated": const(True),
        "ffn.bias": const(False),
        "shared_norm": "use_parallel_residual",
    }


class Starcoder2(GptNeox):
    """``models/starcoder2``: GQA with RoPE and a sliding window, LayerNorm, biased GELU MLP (``use_bias``)."""

    model_type = "starcoder2"
    transformers_class = "Starcoder2ForCausalLM"
    defaults = {
        "vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288, "num_hidden_layers": 30,
        "num_attention_heads": 24, "num_key_value_heads": 2, "hidden_act": "gelu_pytorch_tanh",
        "max_position_embeddings": 4096, "norm_epsilon": 1e-5, "use_bias": True, "sliding_window": None,
        "tie_word_embeddings": True, "rope_parameters": None, "rope_theta": 10000.0,
    }
    arch = GptNeox.arch | {"norm.eps": "norm_epsilon"}
    layers = staticmethod(lambda c: ["sliding" if c["sliding_window"] else "full"] * c["num_hidden_layers"])
    block = GptNeox.block | {
        "mixer.kind": head_layout_kind,
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.qkv_bias": "use_bias",
        "mixer.out_bias": "use_bias",
        "mixer.rope": rope,
        "mixer.window": lambda c, k: c["sliding_window"],
        "ffn.bias": "use_bias",
        "parallel": const(False),
    }


def _gpt_neo_layers(c) -> list[str]:
    """``GPTNeoConfig.attention_types``: [[["global", "local"], 12]] is the pair repeated 12 times; its expansion
    must give one entry per layer (``validate_architecture``). Counted before it is expanded, so a huge repeat
    count is refused, not built."""
    types, n = c["attention_types"] or [[["global", "local"], 12]], c["num_layers"]
    names = {"global": "full", "local": "sliding"}
    shaped = all(isinstance(t, list) and len(t) == 2 and isinstance(t[0], list) and type(t[1]) is int and t[1] >= 0
                 and all(name in names for name in t[0]) for t in types)
    if not shaped:
        raise DerivationError('attention_types: expected [[["global", "local"], repeats], ...] with "global" or '
                              '"local" entries')
    if sum(len(kinds) * repeats for kinds, repeats in types) != n:
        raise DerivationError(f"attention_types expands to {sum(len(k) * r for k, r in types)} layers, "
                              f"not num_layers {n}")
    return [names[name] for kinds, repeats in types for _ in range(repeats) for name in kinds]


class GptNeo(Gpt2):
    """``models/gpt_neo``: GPT-2's blocks with bias-free Q, K, V, global and local (sliding window) layers in turn,
    and no 1/√head_dim scale on the scores."""

    model_type = "gpt_neo"
    transformers_class = "GPTNeoForCausalLM"
    defaults = {
        "vocab_size": 50257, "max_position_embeddings": 2048, "hidden_size": 2048, "num_layers": 24,
        "attention_types": None, "num_heads": 16, "intermediate_size": None, "window_size": 256,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
    }
    aliases = {"num_attention_heads": "num_heads", "num_hidden_layers": "num_layers"}
    arch = Gpt2.arch | {
        "d_model": "hidden_size",
        "n_layers": "num_layers",
        "context_length": "max_position_embeddings",
        "embedding.learned_positions": "max_position_embeddings",
    }
    layers = staticmethod(_gpt_neo_layers)
    block = Gpt2.block | {
        "mixer.n_heads": "num_heads",
        "mixer.n_kv_heads": "num_heads",
        "mixer.head_dim": lambda c, k: _divided(c, "hidden_size", "num_heads"),
        "mixer.qkv_bias": const(False),
        "mixer.scale": const(1.0),  # GPTNeoSelfAttention._attn: q·kᵀ unscaled (softmax_scale=1.0 with flash)
        "mixer.window": lambda c, k: c["window_size"] if k == "sliding" else None,
        "ffn.d_ff": lambda c, k: c["intermediate_size"] or 4 * c["hidden_size"],
    }


def _divided(c, width: str, heads: str) -> int:
    """``config[width] // config[heads]``, which the attention requires to divide exactly."""
    if c[width] % c[heads]:
        raise DerivationError(f"{width} ({c[width]}) must be divisible by {heads} ({c[heads]})")
    return c[width] // c[heads]


def _phi_qk_norm(c, kind=None) -> str:
    """PhiAttention's qk_layernorm is a LayerNorm(head_dim) with a bias, shared by the heads: not a QK-norm the spec
    has (its per_head_shared norm has a weight only), so such configs are refused rather than miscounted."""
    if c["qk_layernorm"]:
        raise DerivationError("qk_layernorm true: Phi's QK LayerNorm (weight and bias, shared by all heads) is not "
                              "modelled yet")
    return "none"


class Phi(GptNeox):
    """``models/phi`` (Phi-1, Phi-1.5, Phi-2): attention and MLP in parallel from one LayerNorm, biases on every
    projection and on the output head, half of each head rotated."""

    model_type = "phi"
    transformers_class = "PhiForCausalLM"
    defaults = {
        "vocab_size": 51200, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
        "num_attention_heads": 32, "num_key_value_heads": None, "hidden_act": "gelu_new",
        "max_position_embeddings": 2048, "layer_norm_eps": 1e-5, "tie_word_embeddings": False,
        "rope_parameters": None, "qk_layernorm": False, "rope_theta": 10000.0,
    }
    arch = GptNeox.arch | {"embedding.head_bias": const(True)}
    block = GptNeox.block | {
        "mixer.kind": head_layout_kind,
        "mixer.n_kv_heads": lambda c, k: c["num_key_value_heads"] or c["num_attention_heads"],
        "mixer.head_dim": lambda c, k: c.get("head_dim") or _divided(c, "hidden_size", "num_attention_heads"),
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "mixer.qk_norm": _phi_qk_norm,
        # PhiConfig.__post_init__: partial_rotary_factor 0.5 unless the config gives one
        "mixer.rope": lambda c, k: rope_from(dict(c.get("rope_parameters") or {}), c,
                                             c.get("partial_rotary_factor") or 0.5),
        "parallel": const(True),
        "shared_norm": const(True),
    }


def _opt_layers(c) -> list[str]:
    """Every layer alike, for the OPT configs the spec describes: pre-LN blocks (do_layer_norm_before; OPT-350m's
    post-LN adds before it normalises, which no norm_placement models), norms with weights, embeddings as wide as
    the model (no project_in/out)."""
    if not c["do_layer_norm_before"]:
        raise DerivationError("do_layer_norm_before false: OPT's post-LN blocks (add, then LayerNorm) are not "
                              "modelled yet")
    if not c["layer_norm_elementwise_affine"]:
        raise DerivationError("layer_norm_elementwise_affine false: LayerNorms without weights are not modelled yet")
    if (c["word_embed_proj_dim"] or c["hidden_size"]) != c["hidden_size"]:
        raise DerivationError(f"word_embed_proj_dim {c['word_embed_proj_dim']} differs from hidden_size "
                              f"{c['hidden_size']}: OPT's project_in/project_out are not modelled yet")
    return ["full"] * c["num_hidden_layers"]


class Opt(Gpt2):
    """``models/opt``: GPT-2-like pre-LN blocks with separate Q, K, V, a ReLU MLP (``ffn_dim``), biases as
    ``enable_bias`` says, and learned positions offset by 2 (``OPTLearnedPositionalEmbedding``: two extra rows)."""

    model_type = "opt"
    transformers_class = "OPTForCausalLM"
    defaults = {
        "vocab_size": 50272, "hidden_size": 768, "num_hidden_layers": 12, "ffn_dim": 3072,
        "max_position_embeddings": 2048, "do_layer_norm_before": True, "_remove_final_layer_norm": False,
        "word_embed_proj_dim": None, "num_attention_heads": 12, "activation_function": "relu", "enable_bias": True,
        "layer_norm_elementwise_affine": True, "tie_word_embeddings": True,
    }
    arch = Gpt2.arch | {
        "d_model": "hidden_size",
        "n_layers": "num_hidden_layers",
        "context_length": "max_position_embeddings",
        "norm.eps": const(1e-5),  # nn.LayerNorm's default: OPTConfig has no eps
        "embedding.learned_positions": lambda c: c["max_position_embeddings"] + 2,
        "final_norm": lambda c: not c["_remove_final_layer_norm"],
    }
    layers = staticmethod(_opt_layers)
    block = Gpt2.block | {
        "mixer.n_heads": "num_attention_heads",
        "mixer.n_kv_heads": "num_attention_heads",
        "mixer.head_dim": lambda c, k: _divided(c, "hidden_size", "num_attention_heads"),
        "mixer.qkv_bias": "enable_bias",
        "mixer.out_bias": "enable_bias",
        "ffn.d_ff": "ffn_dim",
        "ffn.bias": "enable_bias",
    }


class BioGpt(Opt):
    """``models/biogpt``: OPT's pre-LN blocks and offset positions, with embeddings scaled by √hidden_size
    (``scale_embedding``), a GELU MLP and biases everywhere; its LayerNorms keep nn.LayerNorm's eps (1e-5: the
    config's layer_norm_eps is read by no module)."""

    model_type = "biogpt"
    transformers_class = "BioGptForCausalLM"
    defaults = {
        "vocab_size": 42384, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
        "intermediate_size": 4096, "hidden_act": "gelu", "max_position_embeddings": 1024, "scale_embedding": True,
        "tie_word_embeddings": True,
    }
    arch = without(Opt.arch, "final_norm") | {"embedding.scaled": "scale_embedding"}
    layers = staticmethod(lambda c: ["full"] * c["num_hidden_layers"])
    block = Opt.block | {
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "ffn.d_ff": "intermediate_size",
        "ffn.activation": activation("hidden_act"),
        "ffn.bias": const(True),
    }


__all__ = ["Gpt2", "GptBigCode", "Gptj", "GptNeox", "StableLm", "Starcoder2", "GptNeo", "Phi", "Opt", "BioGpt"]
