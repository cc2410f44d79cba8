"""Google's Gemma lineage: Gemma, Gemma 2, Gemma 3 (text).

Gemma is Llama with a 256-wide head, GeGLU, tied and √d_model-scaled embeddings. Gemma 2 adds the
sandwich norms (a norm before and after each sublayer), logit soft-capping and alternating
local/global layers; Gemma 3 replaces soft-capping by QK-norm, uses five local layers per global one
and gives local and global layers their own RoPE θ. Defaults are the transformers config defaults.
"""

from __future__ import annotations

from ..family import activation, const, rope_from, without
from .llama import Llama


class Gemma(Llama):
    """``models/gemma``: Llama with head_dim 256, GeGLU (``hidden_act``), scaled tied embeddings."""

    model_type = "gemma"
    transformers_class = "GemmaForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {
        "vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
        "max_position_embeddings": 8192, "tie_word_embeddings": True,
    }
    arch = Llama.arch | {"embedding.scaled": const(True)}
    block = Llama.block | {"ffn.bias": const(False)}


def _alternating(c, kind=None):
    """``Gemma2Config.__post_init__``: layer_types, else sliding and full attention alternating."""
    types = c["layer_types"] or [
        "sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(c["num_hidden_layers"])]
    return ["sliding" if t == "sliding_attention" else "full" for t in types]


def _query_scale(c, kind=None):
    """Gemma2Attention: ``query_pre_attn_scalar ** -0.5``; null when that is the usual 1/√head_dim."""
    scalar = c["query_pre_attn_scalar"]
    return None if scalar == c["head_dim"] else scalar**-0.5


class Gemma2(Gemma):
    """``models/gemma2``: sandwich norms, tanh soft-capping of attention and final logits, local/global."""

    model_type = "gemma2"
    transformers_class = "Gemma2ForCausalLM"
    defaults = without(Gemma.defaults, "hidden_act") | {
        "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
        "num_key_value_heads": 4, "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 256,
        "sliding_window": 4096, "layer_types": None, "final_logit_softcapping": 30.0,
        "attn_logit_softcapping": 50.0,
    }
    arch = Gemma.arch | {"embedding.logit_softcap": "final_logit_softcapping"}
    layers = staticmethod(_alternating)
    block = Gemma.block | {
        "mixer.window": lambda c, k: c["sliding_window"] if k == "sliding" else None,
        "mixer.softcap": "attn_logit_softcapping",
        "mixer.scale": _query_scale,
        "ffn.activation": activation("hidden_activation"),
        "norm_placement": const("sandwich"),
    }


def _gemma3_layers(c, kind=None):
    """``Gemma3TextConfig.__post_init__``: layer_types, else every ``sliding_window_pattern``-th is full."""
    pattern = c.get("sliding_window_pattern", 6)
    types = c["layer_types"] or [
        "sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(c["num_hidden_layers"])]
    return ["sliding" if t == "sliding_attention" else "full" for t in types]


def _gemma3_rope(c, kind):
    """``Gemma3TextConfig.convert_rope_params_to_dict``: one RoPE per layer type.

    Global layers: rope_theta (default 1,000,000) and any rope_scaling; local layers:
    rope_local_base_freq (default 10,000), never scaled.
    """
    params = c.get("rope_parameters") or {}
    if "full_attention" in params or "sliding_attention" in params:
        chosen = dict(params.get("full_attention" if kind == "full" else "sliding_attention") or {})
    elif kind == "full":
        chosen = dict(c.get("rope_scaling") or {})
    else:
        chosen = {}
    if kind == "full":
        chosen.setdefault("rope_theta", c.get("rope_theta", 1_000_000.0))
    else:
        chosen.setdefault("rope_theta", c.get("rope_local_base_freq", 10_000.0))
    return rope_from(chosen, c)


class Gemma3Text(Gemma2):
    """``models/gemma3`` (Gemma3TextModel): Gemma 2 with QK-norm instead of soft-capping, 5:1 local:global."""

    model_type = "gemma3_text"
    transformers_class = "Gemma3ForCausalLM"
    defaults = without(Gemma2.defaults, "rope_theta") | {
        "vocab_size": 262208, "max_position_embeddings": 131072, "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
    }
    layers = staticmethod(_gemma3_layers)
    block = Gemma2.block | {"mixer.qk_norm": const("head"), "mixer.rope": _gemma3_rope}


__all__ = ["Gemma", "Gemma2", "Gemma3Text"]
