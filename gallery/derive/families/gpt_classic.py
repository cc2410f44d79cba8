"""The first decoder-only LMs with absolute positions: OpenAI GPT (GPT-1), CTRL and XGLM.

GPT-1 normalises after the residual add (post-LN) and learns its positions; CTRL and XGLM add fixed sinusoidal
positions to embeddings scaled by √d_model, and normalise before each sublayer. Each class is the difference from
GPT-2 (``gpt.py``) or, for XGLM's fairseq names, a table of its own; defaults are the transformers config class
defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, Family, activation, const
from .gpt import Gpt2, _divided, _mha_head_dim

# modeling_openai.ACT_FNS: the names MLP accepts for afn ("gelu" is the tanh approximation, gelu_new)
_GPT1_ACTIVATIONS = {"gelu": "gelu_tanh", "relu": "relu", "silu": "silu", "swish": "silu"}


def _afn(c, kind=None) -> str:
    """``ACT_FNS[config.afn]``: any other name is a KeyError when transformers builds the MLP."""
    name = c["afn"]
    if name not in _GPT1_ACTIVATIONS:
        raise DerivationError(f"afn: '{name}' is not an activation OpenAI GPT builds; accepted: "
                              f"{', '.join(_GPT1_ACTIVATIONS)}")
    return _GPT1_ACTIVATIONS[name]


class OpenAiGpt(Gpt2):
    """``models/openai`` (GPT-1): GPT-2's fused QKV and biased GELU MLP of 4 × n_embd, with each LayerNorm after
    the residual add (``Block``: ln_1(x + attn(x)), then ln_2(n + mlp(n))) and no final norm."""

    model_type = "openai-gpt"
    transformers_class = "OpenAIGPTLMHeadModel"
    defaults = {
        "vocab_size": 40478, "n_positions": 512, "n_embd": 768, "n_layer": 12, "n_head": 12, "afn": "gelu",
        "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
    }
    arch = Gpt2.arch | {"final_norm": const(False)}
    block = Gpt2.block | {
        "ffn.d_ff": lambda c, k: 4 * c["n_embd"],  # MLP(4 * n_embd, config): no n_inner
        "ffn.activation": _afn,
        "norm_placement": const("post_residual"),
    }


class Ctrl(Gpt2):
    """``models/ctrl``: pre-LN blocks with biased Wq, Wk, Wv and dense, a ReLU MLP of ``dff``, embeddings × √n_embd
    plus sinusoidal positions (``positional_encoding``: sines then cosines, from position 0), a biased head."""

    model_type = "ctrl"
    transformers_class = "CTRLLMHeadModel"
    defaults = {
        "vocab_size": 246534, "n_positions": 256, "n_embd": 1280, "dff": 8192, "n_layer": 48, "n_head": 16,
        "layer_norm_epsilon": 1e-6, "tie_word_embeddings": True,
    }
    arch = Gpt2.arch | {
        "norm.eps": const(1e-6),  # EncoderLayer's LayerNorms fix eps=1e-6; layer_norm_epsilon reaches only the last
        "embedding.scaled": const(True),
        "embedding.learned_positions": const(DROP),
        "embedding.sinusoidal_positions": const({"offset": 0}),
        "embedding.head_bias": const(True),
    }
    block = Gpt2.block | {
        "mixer.head_dim": _mha_head_dim,
        "ffn.d_ff": "dff",
        "ffn.activation": const("relu"),  # point_wise_feed_forward_network: nn.ReLU
    }


def _xglm_layers(c) -> list[str]:
    """Every layer alike; ``add_cross_attention`` would give each an encoder attention (not a decoder-only LM)."""
    if c["add_cross_attention"]:
        raise DerivationError("add_cross_attention true: XGLM layers with cross-attention over an encoder are not a "
                              "decoder-only LM")
    return ["full"] * c["num_layers"]


class Xglm(Family):
    """``models/xglm``: fairseq's pre-LN decoder, biases everywhere, a GELU MLP (``ffn_dim``), embeddings × √d_model
    (``scale_embedding``) plus sinusoidal positions offset by 2 (``XGLMSinusoidalPositionalEmbedding``)."""

    model_type = "xglm"
    transformers_class = "XGLMForCausalLM"
    defaults = {
        "vocab_size": 256008, "max_position_embeddings": 2048, "d_model": 1024, "ffn_dim": 4096, "num_layers": 24,
        "attention_heads": 16, "activation_function": "gelu", "scale_embedding": True, "add_cross_attention": False,
        "tie_word_embeddings": True,
    }
    aliases = {"num_attention_heads": "attention_heads", "hidden_size": "d_model", "num_hidden_layers": "num_layers"}
    arch = {
        "d_model": "d_model",
        "n_layers": "num_layers",
        "vocab_size": "vocab_size",
        "context_length": "max_position_embeddings",
        "norm.kind": const("layernorm"),
        "norm.eps": const(1e-5),  # nn.LayerNorm's default: XGLMConfig has no eps
        "norm.bias": const(True),
        "embedding.tied": "tie_word_embeddings",
        "embedding.scaled": "scale_embedding",
        "embedding.sinusoidal_positions": const({"offset": 2}),
    }
    layers = staticmethod(_xglm_layers)
    block = {
        "mixer.kind": const("mha"),
        "mixer.n_heads": "attention_heads",
        "mixer.n_kv_heads": "attention_heads",
        "mixer.head_dim": lambda c, k: _divided(c, "d_model", "attention_heads"),
        "mixer.qkv_bias": const(True),
        "mixer.out_bias": const(True),
        "mixer.rope": const(None),
        "ffn.kind": const("mlp"),
        "ffn.d_ff": "ffn_dim",
        "ffn.activation": activation("activation_function"),
        "ffn.gated": const(False),
        "ffn.bias": const(True),
    }


__all__ = ["OpenAiGpt", "Ctrl", "Xglm"]
