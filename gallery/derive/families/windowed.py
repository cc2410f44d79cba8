"""Llama descendants whose layers differ only by a sliding window (and NoPE on the global layers): CWM,
Ministral, Ministral 3, OLMo 3, EXAONE 4, Cohere 2.

Each reads ``layer_types`` (``"sliding_attention"``/``"full_attention"`` per layer) or, when a config leaves
it out, the pattern its config class's ``__post_init__`` writes. Defaults are the transformers config class
defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import const, is_sliding, rope, rope_from, without
from .llama import Cohere, Llama, Mistral, Olmo2
from .llama_like import required_head_dim


def _kinds(types) -> list[str]:
    return ["sliding" if t == "sliding_attention" else "full" for t in types]


def _every(c, pattern: int, full_at: int) -> list[str]:
    """``layer_types``, else every ``pattern``-th layer (at offset ``full_at``) full and the others sliding."""
    if c["layer_types"]:
        return _kinds(c["layer_types"])
    return ["full" if i % pattern == full_at else "sliding" for i in range(c["num_hidden_layers"])]


def window(c, kind):
    """``sliding_window`` in the sliding layers (0 or null: none), no window in the others."""
    return (c["sliding_window"] or None) if is_sliding(kind) else None


_CWM_ROPE = {"rope_type": "llama3", "rope_theta": 1_000_000.0, "factor": 16.0, "high_freq_factor": 4.0,
             "low_freq_factor": 1.0, "original_max_position_embeddings": 8192}


class Cwm(Llama):
    """``models/cwm``: Llama with three sliding-window layers per global one and Llama-3 RoPE scaling."""

    model_type = "cwm"
    transformers_class = "CwmForCausalLM"
    defaults = without(Llama.defaults, "attention_bias") | {
        "vocab_size": 128256, "hidden_size": 6144, "intermediate_size": 21504, "num_hidden_layers": 64,
        "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5, "rope_theta": 1_000_000.0, "sliding_window": 8192, "layer_types": None,
    }
    layers = staticmethod(lambda c: _every(c, 4, 0))
    block = Llama.block | {
        "mixer.qkv_bias": const(False), "mixer.out_bias": const(False),
        "mixer.rope": lambda c, k: rope_from(dict(c.get("rope_parameters") or _CWM_ROPE), c),
        "mixer.window": window,
    }


class Ministral(Mistral):
    """``models/ministral``: Mistral with ``layer_types`` (every layer slides when a window is set)."""

    model_type = "ministral"
    transformers_class = "MinistralForCausalLM"
    defaults = Mistral.defaults | {"layer_types": None}
    layers = staticmethod(lambda c: _kinds(c["layer_types"]) if c["layer_types"] else (
        ["sliding" if c["sliding_window"] is not None else "full"] * c["num_hidden_layers"]))
    block = Mistral.block | {"mixer.head_dim": required_head_dim, "mixer.window": window}


_MINISTRAL3_ROPE = {"rope_type": "yarn", "rope_theta": 1_000_000.0, "factor": 16.0,
                    "original_max_position_embeddings": 16384}


class Ministral3(Mistral):
    """``models/ministral3``: Mistral with YaRN RoPE by default and no window unless the config sets one."""

    model_type = "ministral3"
    transformers_class = "Ministral3ForCausalLM"
    defaults = Mistral.defaults | {
        "vocab_size": 131072, "num_hidden_layers": 34, "head_dim": 128, "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-5, "sliding_window": None,
    }
    block = Mistral.block | {
        "mixer.rope": lambda c, k: rope_from(dict(c.get("rope_parameters") or _MINISTRAL3_ROPE), c),
    }


def per_type_rope(default: dict | None = None):
    """A rule reading ``rope_parameters`` per layer type (``{"full_attention": {...}, "sliding_attention":
    {...}}``, ``Olmo3Config.convert_rope_params_to_dict``), or one for all layers; ``default`` when absent."""

    def rule(c, kind):
        params = c.get("rope_parameters") or default or {}
        if "full_attention" in params or "sliding_attention" in params:
            return rope_from(dict(params.get("sliding_attention" if is_sliding(kind) else "full_attention") or {}), c)
        return rope(c)

    return rule


class Olmo3(Olmo2):
    """``models/olmo3``: OLMo 2 with three sliding-window layers per global one."""

    model_type = "olmo3"
    transformers_class = "Olmo3ForCausalLM"
    defaults = Olmo2.defaults | {"rope_theta": 500000.0, "sliding_window": 4096, "layer_types": None}
    layers = staticmethod(lambda c: _every(c, 4, 3))
    block = Olmo2.block | {"mixer.rope": per_type_rope(), "mixer.window": window}


def _exaone4_layers(c, kind=None):
    """``Exaone4Config.__post_init__``: every ``sliding_window_pattern``-th layer full; no window, no pattern."""
    if c["layer_types"]:
        return _kinds(c["layer_types"])
    pattern = c["sliding_window_pattern"] if c["sliding_window"] is not None else 0
    if not isinstance(pattern, int) or isinstance(pattern, bool) or pattern < 1:
        raise DerivationError(
            f"sliding_window_pattern {pattern!r} (sliding_window {c['sliding_window']!r}): EXAONE 4 needs "
            "layer_types, or a window with a whole-number pattern, to tell sliding layers from full ones")
    return ["full" if (i + 1) % pattern == 0 else "sliding" for i in range(c["num_hidden_layers"])]


class Exaone4(Olmo2):
    """``models/exaone4``: post-sublayer norms, an RMSNorm per head on Q and K, sliding-window layers, and
    no RoPE in the global layers when a window is set."""

    model_type = "exaone4"
    transformers_class = "Exaone4ForCausalLM"
    defaults = without(Olmo2.defaults, "attention_bias") | {
        "vocab_size": 102400, "intermediate_size": 16384, "num_key_value_heads": 32, "sliding_window": 4096,
        "sliding_window_pattern": 4, "layer_types": None, "rope_theta": 10000.0,
    }
    layers = staticmethod(_exaone4_layers)
    block = Olmo2.block | {
        "mixer.qkv_bias": const(False), "mixer.out_bias": const(False), "mixer.qk_norm": const("head"),
        "mixer.rope": lambda c, k: None if k == "full" and c["sliding_window"] is not None else rope(c),
        "mixer.window": window,
    }


class Cohere2(Cohere):
    """``models/cohere2``: Cohere with three sliding-window layers per global one; only windowed layers
    apply RoPE (the global ones are NoPE)."""

    model_type = "cohere2"
    transformers_class = "Cohere2ForCausalLM"
    defaults = without(Cohere.defaults, "use_qk_norm") | {
        "rope_theta": 10000.0, "sliding_window": 4096, "layer_types": None,
    }
    layers = staticmethod(lambda c: _kinds(c["layer_types"]) if c["layer_types"] else [
        "full" if (i + 1) % c.get("sliding_window_pattern", 4) == 0 else "sliding"
        for i in range(c["num_hidden_layers"])])
    block = Cohere.block | {
        "mixer.qk_norm": const("none"),
        "mixer.rope": lambda c, k: rope(c) if window(c, k) is not None else None,
        "mixer.window": window,
    }


__all__ = ["Cwm", "Ministral", "Ministral3", "Olmo3", "Exaone4", "Cohere2"]
