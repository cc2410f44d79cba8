"""Granite with sliding windows and attention sinks: Granite SWA and Granite-MoE SWA.

``models/granite_swa`` (GraniteSWAAttention) and ``models/granitemoe_swa``: Granite's and Granite-MoE-Shared's layers
whose attention holds one learned sink logit per head, slides over ``sliding_window`` tokens in the layers
``layer_types`` marks ``sliding_attention`` (else every layer but each fourth, from layer 0), and rotates with its own
RoPE base from ``layer_rope_theta`` (0: no RoPE in that layer). Defaults are the transformers config class defaults
(checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import SLIDING_OR_FULL, const, per_layer, rope
from .llama_like import Granite
from .moe_like import GraniteMoeShared
from .windowed import window


def _swa_layers(c, kind=None):
    """Each layer's attention type and RoPE base: ``sliding``/``full``, then ``nope`` where layer_rope_theta is 0
    and ``rope<θ>`` where the list gives the layers more than one base."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or ["full" if i % 4 == 0 else "sliding" for i in range(n)]
    thetas = c["layer_rope_theta"]
    if thetas is None:
        return types
    if not isinstance(thetas, list) or len(thetas) < n:
        raise DerivationError(f"layer_rope_theta {shown(thetas)}: give one RoPE base per layer ({n}; 0 for no RoPE)")
    bases = {t for t in thetas[:n] if t}
    return [kind + ("-nope" if not t else f"-rope{t:g}" if len(bases) > 1 else "") for kind, t in zip(types, thetas)]


def _layer_rope(c, kind):
    """The layer's own base from layer_rope_theta (the config's rope_parameters otherwise); None for NoPE."""
    parts = kind.split("-")
    if "nope" in parts:
        return None
    base = next((float(p[4:]) for p in parts if p.startswith("rope")), None)
    thetas = [t for t in (c["layer_rope_theta"] or []) if t]
    theta = base if base is not None else float(thetas[0]) if thetas else None
    return rope(c) | ({"theta": theta} if theta is not None else {})


_SWA = {
    "layer_types": None, "sliding_window": 128, "layer_rope_theta": None,
}
_SWA_BLOCK = {"mixer.rope": _layer_rope, "mixer.window": window, "mixer.sinks": const(True)}


class GraniteSwa(Granite):
    """``models/granite_swa``: Granite with per-head sinks, sliding-window layers and a RoPE base per layer."""

    model_type = "granite_swa"
    transformers_class = "GraniteSWAForCausalLM"
    defaults = Granite.defaults | _SWA | {
        "vocab_size": 100352, "hidden_size": 2560, "intermediate_size": 8192, "num_hidden_layers": 24,
        "num_attention_heads": 20, "num_key_value_heads": 4, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
    }
    layers = staticmethod(_swa_layers)
    block = Granite.block | _SWA_BLOCK


class GraniteMoeSwa(GraniteMoeShared):
    """``models/granitemoe_swa``: Granite-MoE-Shared with Granite SWA's attention."""

    model_type = "granitemoe_swa"
    transformers_class = "GraniteMoeSWAForCausalLM"
    defaults = GraniteMoeShared.defaults | _SWA
    layers = staticmethod(_swa_layers)
    block = GraniteMoeShared.block | _SWA_BLOCK


__all__ = ["GraniteSwa", "GraniteMoeSwa"]
