"""Llama descendants that need no new kind: Arcee, Helium, InternLM3, IQuest-Coder, Granite, ERNIE 4.5,
Seed-OSS, Hunyuan (dense), GLM and GLM-4.

Each class is the difference from its parent, read from ``models/<type>/configuration_<type>.py`` and
``modeling_<type>.py`` (InternLM3 and IQuest-Coder build ``LlamaForCausalLM`` from their own config
classes). Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import const, rope, without
from .llama import Llama


def required_head_dim(c, kind=None):
    """``getattr(config, "head_dim", …)`` of a class whose ``head_dim`` defaults to null: it must be set."""
    value = c["head_dim"]
    if value is None:
        raise DerivationError(
            f"head_dim is null: {c.model_type}'s attention uses config.head_dim as it is and cannot be built "
            "without it; set head_dim (usually hidden_size // num_attention_heads)")
    return value


class Arcee(Llama):
    """``models/arcee``: Llama with a non-gated MLP (up, ReLU², down)."""

    model_type = "arcee"
    transformers_class = "ArceeForCausalLM"
    defaults = Llama.defaults | {
        "hidden_size": 2560, "intermediate_size": 18432, "hidden_act": "relu2", "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
    }
    block = Llama.block | {"ffn.gated": const(False)}


def _helium_head_dim(c, kind=None):
    """HeliumAttention: o_proj maps hidden_size to hidden_size, so the heads must fill d_model exactly."""
    value = c["head_dim"]
    if value * c["num_attention_heads"] != c["hidden_size"]:
        raise DerivationError(
            f"head_dim {value} × num_attention_heads {c['num_attention_heads']} must equal hidden_size "
            f"{c['hidden_size']}: Helium's o_proj is hidden_size × hidden_size")
    return value


class Helium(Llama):
    """``models/helium``: Llama whose output projection is hidden_size × hidden_size, never biased."""

    model_type = "helium"
    transformers_class = "HeliumForCausalLM"
    defaults = Llama.defaults | {
        "vocab_size": 48000, "hidden_size": 2560, "intermediate_size": 7040, "num_hidden_layers": 24,
        "num_attention_heads": 20, "num_key_value_heads": 20, "head_dim": 128, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-8, "rope_theta": 100000.0,
    }
    block = Llama.block | {"mixer.head_dim": _helium_head_dim, "mixer.out_bias": const(False)}


class InternLm3(Llama):
    """``models/internlm3``: LlamaForCausalLM with InternLM3's defaults; ``qkv_bias``/``bias`` are aliases."""

    model_type = "internlm3"
    transformers_class = "LlamaForCausalLM"
    defaults = Llama.defaults | {
        "vocab_size": 128512, "intermediate_size": 10240, "num_hidden_layers": 48, "num_key_value_heads": 2,
        "head_dim": 128, "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
    }
    aliases = {"qkv_bias": "attention_bias", "bias": "mlp_bias"}


class IQuestCoder(Llama):
    """``models/iquestcoder``: LlamaForCausalLM with IQuest-Coder's defaults."""

    model_type = "iquestcoder"
    transformers_class = "LlamaForCausalLM"
    defaults = Llama.defaults | {
        "vocab_size": 76800, "hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 80,
        "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
    }


class Granite(Llama):
    """``models/granite``: Llama plus multipliers on the embeddings, attention scores, residual branches and
    logits (``embedding_multiplier``, ``attention_multiplier``, ``residual_multiplier``, ``logits_scaling``),
    none of which is a parameter."""

    model_type = "granite"
    transformers_class = "GraniteForCausalLM"
    defaults = without(Llama.defaults, "head_dim")


class Ernie45(Llama):
    """``models/ernie4_5``: Llama with one ``use_bias`` switch for every attention and MLP projection."""

    model_type = "ernie4_5"
    transformers_class = "Ernie4_5ForCausalLM"
    defaults = without(Llama.defaults, "attention_bias", "mlp_bias") | {
        "vocab_size": 103424, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 18,
        "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 128, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "rope_theta": 500000.0, "use_bias": False,
    }
    block = Llama.block | {"mixer.qkv_bias": "use_bias", "mixer.out_bias": "use_bias", "ffn.bias": "use_bias"}


class SeedOss(Llama):
    """``models/seed_oss``: Llama with its own switch for the output projection's bias (QKV biased by default)."""

    model_type = "seed_oss"
    transformers_class = "SeedOssForCausalLM"
    defaults = Llama.defaults | {
        "vocab_size": 155136, "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 80,
        "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 524288, "attention_bias": True,
        "attention_out_bias": False,
    }
    block = Llama.block | {"mixer.out_bias": "attention_out_bias"}


class HunyuanDense(Llama):
    """``models/hunyuan_v1_dense``: Llama with an RMSNorm over each head's queries and keys, a bias-free MLP."""

    model_type = "hunyuan_v1_dense"
    transformers_class = "HunYuanDenseV1ForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {"vocab_size": 290943, "rms_norm_eps": 1e-5}
    block = Llama.block | {
        "mixer.head_dim": required_head_dim, "mixer.qk_norm": const("head"), "ffn.bias": const(False),
    }


def _glm_rope(c, kind=None):
    """``GlmConfig.__post_init__``: partial_rotary_factor defaults to 0.5 (RoPE on half of each head)."""
    if c.get("partial_rotary_factor") is None and not (c.get("rope_parameters") or {}).get("partial_rotary_factor"):
        return rope(c) | {"partial": 0.5}
    return rope(c)


class Glm(Llama):
    """``models/glm``: biased Q, K and V (not the output), a fused gate_up projection, RoPE on half of each head."""

    model_type = "glm"
    transformers_class = "GlmForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {
        "vocab_size": 151552, "intermediate_size": 13696, "num_hidden_layers": 40, "num_key_value_heads": 2,
        "head_dim": 128, "max_position_embeddings": 131072, "rms_norm_eps": 1.5625e-07, "attention_bias": True,
    }
    block = Llama.block | {
        "mixer.out_bias": const(False), "mixer.rope": _glm_rope, "ffn.bias": const(False),
    }


class Glm4(Glm):
    """``models/glm4``: GLM with sandwich norms (post_self_attn_layernorm, post_mlp_layernorm)."""

    model_type = "glm4"
    transformers_class = "Glm4ForCausalLM"
    block = Glm.block | {"norm_placement": const("sandwich")}


__all__ = ["Arcee", "Helium", "InternLm3", "IQuestCoder", "Granite", "Ernie45", "SeedOss", "HunyuanDense", "Glm",
           "Glm4"]
