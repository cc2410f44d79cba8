"""Poolside's Laguna (``models/laguna``), read as ``LagunaConfig`` and ``LagunaForCausalLM`` build it.

Its difference from Mellum (QK-norm per head, sliding and full layers with a RoPE each, dense or sparse MLP layers
from ``mlp_layer_types``):

- a softplus output gate of its own projection, g_proj (no bias): one gate per head when ``gating`` is true or
  "per-head", one per head dim (n_heads × head_dim) otherwise ("per-element"; transformers builds false the same);
- the query heads per layer (``num_attention_heads_per_layer``, else ``num_attention_heads``); layers that differ in
  heads get block kinds of their own ("full-moe-h32"); the KV heads are shared;
- RoPE per layer type from ``rope_parameters`` keyed by type (default: full θ 500,000 on half of each head, sliding
  θ 10,000 on all of it), on every layer; the window in sliding layers only;
- ``mlp_layer_types`` defaults to the first layer dense, the rest sparse; the experts' router scores by σ with a
  correction bias for choosing (a frozen parameter), renormalises the top-k, and scales the routed sum by
  ``moe_routed_scaling_factor``; one ungated shared SwiGLU expert of ``shared_expert_intermediate_size``.

``moe_router_logit_softcapping`` (a tanh cap on the router logits, no parameters) is refused when set: the spec has
no field for it yet. Defaults are the ``LagunaConfig`` defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ...spec import attention_kind
from ..config import DerivationError, shown
from ..family import (
    DROP, MLP_TYPES, SLIDING_OR_FULL, const, is_sliding, layer_kinds, moe_only, per_layer, rope_from, without,
)
from .llama import Llama
from .moe_like import Mellum


def _heads(c) -> list[int]:
    """``num_attention_heads_per_layer``, else ``num_attention_heads`` on every layer; each a multiple of the KV
    heads (LagunaAttention repeats each KV head over its group)."""
    n, kv = c["num_hidden_layers"], c["num_key_value_heads"]
    given = c["num_attention_heads_per_layer"]
    if given is None:
        heads = [c["num_attention_heads"]] * n
    elif not isinstance(given, list) or len(given) != n or not all(
            type(h) is int and h > 0 for h in given):
        raise DerivationError(f"num_attention_heads_per_layer: {shown(given)}: expected one positive integer per layer "
                              f"({n}, num_hidden_layers)")
    else:
        heads = given
    for i, h in enumerate(heads):
        if h % kv:
            raise DerivationError(f"num_attention_heads_per_layer[{i}]: {h} query heads are not a multiple of "
                                  f"num_key_value_heads {kv}: the layer's attention cannot repeat its KV heads; "
                                  "accepted: a multiple")
    return heads


def _layers(c, kind=None):
    """``LagunaConfig.__post_init__``: layer_types (all full), mlp_layer_types (first dense), heads per layer;
    LagunaTopKRouter's tanh cap on the router logits is not a field of the spec yet, so a config with one is refused."""
    n = c["num_hidden_layers"]
    if c["moe_router_logit_softcapping"]:
        raise DerivationError(f"moe_router_logit_softcapping: {shown(c['moe_router_logit_softcapping'])}: a tanh cap "
                              "on the router logits is not modelled yet; only 0 (no cap) is read")
    attention = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or ["full"] * n
    ffn = per_layer(c, "mlp_layer_types", MLP_TYPES, n) or ["dense"] + ["moe"] * (n - 1)
    kinds, heads = layer_kinds(attention, ffn), _heads(c)
    return kinds if len(set(heads)) == 1 else [f"{k}-h{h}" for k, h in zip(kinds, heads)]


def _layer_heads(c, kind) -> int:
    """The query heads of the block kind (its ``-h<n>`` suffix, when layers differ in heads)."""
    last = kind.split("-")[-1]
    return int(last[1:]) if last.startswith("h") and last[1:].isdigit() else _heads(c)[0]


_DEFAULT_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 500000.0, "partial_rotary_factor": 0.5},
                 "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0}}


def typed_rope(default: dict, nope: bool = False):
    """A rule reading ``rope_parameters`` keyed by layer type (``default`` when null): the entry's rope_theta and
    partial_rotary_factor (1.0 when absent); with ``nope``, a null entry is a layer type without RoPE and a default
    RoPE turns the whole head whatever partial_rotary_factor says (Beam's Olmo3-style rotary embedding).
    transformers cannot build a config without an entry, with a theta, for each layer type it uses."""

    def rule(c, kind):
        params = c["rope_parameters"] or default
        name = "sliding_attention" if is_sliding(kind) else "full_attention"
        entry = params.get(name, {}) if isinstance(params, dict) else {}
        if entry is None and nope:
            return None
        if not isinstance(entry, dict) or "rope_theta" not in entry:
            raise DerivationError(f"rope_parameters: no '{name}' entry with a rope_theta{' (or null: NoPE)' * nope}: "
                                  f"{c.model_type}'s rotary embedding looks one up for each layer type "
                                  "({'full_attention': {'rope_type': 'default', 'rope_theta': ...}, "
                                  "'sliding_attention': {...}})")
        entry = dict(entry)
        if nope and entry.get("rope_type", "default") == "default":
            entry.pop("partial_rotary_factor", None)
        return rope_from(entry, c)

    return rule


def _gate(c, kind=None) -> dict:
    """``gating``: true or "per-head", one softplus gate per head; "per-element" (or false), one per head dim."""
    value = c["gating"]
    if not (isinstance(value, bool) or value in ("per-head", "per-element")):
        raise DerivationError(f"gating: {shown(value)}: accepted: true or 'per-head' (a gate per head), 'per-element' "
                              "or false (a gate per head dim)")
    return {"activation": "softplus", "per": "head" if value is True or value == "per-head" else "element"}


class Laguna(Mellum):
    """``models/laguna``: GQA with QK-norm and a softplus gate of its own projection, per-layer query heads, sliding
    and full layers with a RoPE each, a dense first layer then sigmoid-routed experts with a shared expert."""

    model_type = "laguna"
    transformers_class = "LagunaForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias", "rope_theta") | {
        "vocab_size": 100352, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 40,
        "num_attention_heads": 48, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 131072,
        "sliding_window": 512, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512,
        "num_experts_per_tok": 8, "num_experts": 256, "layer_types": None, "gating": True,
        "num_attention_heads_per_layer": None, "mlp_layer_types": None, "moe_routed_scaling_factor": 1.0,
        "moe_router_logit_softcapping": 0.0,
    }
    aliases = {}  # LagunaConfig has no attribute_map
    layers = staticmethod(_layers)
    block = Mellum.block | {
        "mixer.kind": lambda c, k: attention_kind(_layer_heads(c, k), c["num_key_value_heads"]),
        "mixer.n_heads": _layer_heads,
        "mixer.n_kv_heads": "num_key_value_heads",
        "mixer.rope": typed_rope(_DEFAULT_ROPE),
        "mixer.window": lambda c, k: c["sliding_window"] if is_sliding(k) else None,
        "mixer.gate": _gate,
        "ffn.n_shared_experts": moe_only(lambda c, k: 1 if c["shared_expert_intermediate_size"] else 0),
        "ffn.d_shared": moe_only(lambda c, k: c["shared_expert_intermediate_size"] or DROP),
        "ffn.router.scoring": moe_only(const("sigmoid")),
        "ffn.router.correction_bias": moe_only(const(True)),
        "ffn.router.correction_bias_param": moe_only(const(True)),
        "ffn.router.normalize_topk": moe_only(const(True)),
        "ffn.router.weight_scale": moe_only("moe_routed_scaling_factor"),
    }


__all__ = ["Laguna", "typed_rope"]
