"""Multi-head latent attention (MLA) beyond DeepSeek: MiniCPM3 and Youtu with a dense MLP in every layer, and
GLM-4.7-Flash (``glm4_moe_lite``) with DeepSeek-V3's experts after a dense first layer.

``models/minicpm3`` and ``models/youtu`` build DeepSeek-V2's attention (low-rank queries, one compressed KV latent,
a shared RoPE key) with a Llama MLP; MiniCPM3's multipliers (``scale_emb``, ``scale_depth``, ``dim_model_base``)
scale activations and change no count. ``models/glm4_moe_lite`` is DeepSeek-V3 read through ``mlp_layer_types``.
Defaults are the transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..family import MLP_TYPES, activation, const, layer_kinds, per_layer, required
from .deepseek import DeepseekV2, DeepseekV3, DeepseekV32
from .llama import Llama

_MLA = {k: v for k, v in DeepseekV2.block.items() if k.startswith("mixer.")}
_MLP = {
    "ffn.kind": const("mlp"),
    "ffn.d_ff": "intermediate_size",
    "ffn.activation": activation("hidden_act"),
    "ffn.gated": const(True),
}


class MiniCpm3(DeepseekV2):
    """``models/minicpm3``: MLA (values ``hidden_size // num_attention_heads`` wide unless ``v_head_dim`` says) with
    a SwiGLU MLP biased by ``mlp_bias``; tied embeddings."""

    model_type = "minicpm3"
    transformers_class = "MiniCPM3ForCausalLM"
    defaults = {
        "vocab_size": 73448, "hidden_size": 2560, "intermediate_size": 6400, "num_hidden_layers": 62,
        "num_attention_heads": 40, "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True, "rope_parameters": None, "rope_theta": 10000.0, "attention_bias": False,
        "mlp_bias": False, "kv_lora_rank": 256, "q_lora_rank": 768, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32,
        "v_head_dim": None,
    }
    aliases = {}
    arch = Llama.arch
    layers = staticmethod(lambda c: ["dense"] * c["num_hidden_layers"])
    block = _MLA | _MLP | {
        "mixer.v_head_dim": lambda c, k: c["v_head_dim"] or c["hidden_size"] // c["num_attention_heads"],
        "ffn.bias": "mlp_bias",
    }


class Youtu(DeepseekV2):
    """``models/youtu``: MLA with a bias-free SwiGLU MLP in every layer; tied embeddings."""

    model_type = "youtu"
    transformers_class = "YoutuForCausalLM"
    defaults = {
        "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 32,
        "num_attention_heads": 16, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
        "v_head_dim": 128, "qk_nope_head_dim": 128, "hidden_act": "silu", "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "rope_parameters": None, "rope_theta": 10000.0,
        "attention_bias": False,
    }
    aliases = {}
    arch = Llama.arch
    layers = MiniCpm3.layers
    block = _MLA | _MLP | {"mixer.v_head_dim": required("v_head_dim", "attention"), "ffn.bias": const(False)}


def _lite_layers(c, kind=None):
    """Glm4MoeLiteConfig.__post_init__: mlp_layer_types, else a dense first layer and experts after it."""
    n = c["num_hidden_layers"]
    return layer_kinds(["full"] * n, per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] + ["moe"] * (n - 1))


class Glm4MoeLite(DeepseekV3):
    """``models/glm4_moe_lite`` (GLM-4.7-Flash): DeepSeek-V3's MLA and experts, dense and sparse layers as
    ``mlp_layer_types`` says; its ``head_dim`` is an alias of ``qk_rope_head_dim``."""

    model_type = "glm4_moe_lite"
    transformers_class = "Glm4MoeLiteForCausalLM"
    defaults = {k: v for k, v in DeepseekV3.defaults.items() if k not in ("first_k_dense_replace", "num_mtp_layers")} | {
        "vocab_size": 154880, "hidden_size": 2048, "intermediate_size": 10240, "moe_intermediate_size": 1536,
        "num_hidden_layers": 47, "num_attention_heads": 20, "n_shared_experts": 1, "n_routed_experts": 64,
        "routed_scaling_factor": 1.8, "kv_lora_rank": 512, "q_lora_rank": 768, "qk_rope_head_dim": 64,
        "v_head_dim": 256, "qk_nope_head_dim": 192, "n_group": 1, "topk_group": 1, "num_experts_per_tok": 4,
        "max_position_embeddings": 202752, "rms_norm_eps": 1e-5, "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "n_routed_experts", "head_dim": "qk_rope_head_dim"}
    arch = DeepseekV32.arch
    layers = staticmethod(_lite_layers)


__all__ = ["MiniCpm3", "Youtu", "Glm4MoeLite"]
