"""Google's Gemma lineage: Gemma, Gemma 2, Gemma 3 (text).

Gemma is Llama with a 256-wide head, GeGLU, tied and √d_model-scaled embeddings. Gemma 2 adds the
sandwich norms (a norm before and after each sublayer), logit soft-capping and alternating
local/global layers; Gemma 3 replaces soft-capping by QK-norm, uses five local layers per global one
and gives local and global layers their own RoPE θ. Defaults are the transformers config defaults.
"""

from __future__ import annotations

from ...spec import attention_kind
from ..config import DerivationError
from ..family import DROP, SLIDING_OR_FULL, activation, const, per_layer, rope_from, without
from .llama import Llama


def _gemma_activation(c, kind=None):
    """``GemmaConfig.__post_init__``: the legacy ``hidden_act: gelu`` of the official releases means tanh GELU."""
    return "gelu_tanh" if c["hidden_act"] == "gelu" else activation("hidden_act")(c, kind)


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
    block = Llama.block | {"ffn.bias": const(False), "ffn.activation": _gemma_activation}


def _alternating(c, kind=None):
    """``Gemma2Config.__post_init__``: layer_types, else sliding and full attention alternating."""
    n = c["num_hidden_layers"]
    return per_layer(c, "layer_types", SLIDING_OR_FULL, n) or ["sliding" if (i + 1) % 2 else "full" for i in range(n)]


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
    n = c["num_hidden_layers"]
    return per_layer(c, "layer_types", SLIDING_OR_FULL, n) or [
        "sliding" if (i + 1) % pattern else "full" for i in range(n)]


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
    block = Gemma2.block | {"mixer.qk_norm": const("per_head_shared"), "mixer.rope": _gemma3_rope}



SHARED = "-shared"  # the block kinds of the KV-shared layers: "sliding-shared", "full-shared"


def _gemma4_layers(c, kind=None):
    """``Gemma4TextConfig.__post_init__``: layer_types (default 5 sliding : 1 full), the last forced full; the last
    ``num_kv_shared_layers`` reuse an earlier layer's K/V (``kv_sharing_modes`` "reuse"), a block kind of their own.

    ``kv_sharing_modes`` needs every layer type among the layers before them (each shared layer reads the last
    earlier layer of its type); a config without one is refused, as transformers refuses to build it.
    """
    return kv_shared(c, gemma4_types(c))


def gemma4_types(c) -> list[str]:
    """``Gemma4TextConfig.__post_init__``: each layer's type, "sliding" or "full", the last forced full."""
    n = c["num_hidden_layers"]
    types = per_layer(c, "layer_types", SLIDING_OR_FULL, n) or ["sliding" if (i + 1) % 6 else "full" for i in range(n)]
    types[-1] = "full"
    return types


def kv_shared(c, types: list[str]) -> list[str]:
    """``kv_sharing_modes`` (Gemma 4, Gemma 3n): the last ``num_kv_shared_layers`` layers get the suffix "-shared";
    a config where no earlier layer of a shared layer's type keeps its own K/V is refused, as transformers refuses
    it."""
    n = len(types)
    first = n - c["num_kv_shared_layers"]
    if first == n:
        return types
    if first <= 0 or set(types[:first]) != set(types):
        missing = ", ".join(sorted(set(types) - set(types[:max(first, 0)])))
        raise DerivationError(f"num_kv_shared_layers: {c['num_kv_shared_layers']} of {n} layers share K/V, but no "
                              f"earlier layer of type {missing} has K/V of its own to share; accepted: fewer shared "
                              "layers, with a layer of each type before them")
    return types[:first] + [t + SHARED for t in types[first:]]


def _gemma4_global(c, kind) -> bool:
    return kind == "full"


def _override(c, kind, key: str):
    """A per-layer-config override of ``key`` for the layers of ``kind`` (a serialised config lists them)."""
    per_layer = c.get("per_layer_config") or {}
    kinds = gemma4_types(c)
    found = [v[key] for i, v in per_layer.items() if int(i) < len(kinds) and kinds[int(i)] == kind and key in v]
    return found[0] if found else None


def _gemma4_kv_heads(c, kind):
    """Global layers take num_global_key_value_heads when attention_k_eq_v (per_layer_config)."""
    if (override := _override(c, kind, "num_key_value_heads")) is not None:
        return override
    if _gemma4_global(c, kind) and c["attention_k_eq_v"] and c.get("num_global_key_value_heads") is not None:
        return c["num_global_key_value_heads"]
    return c["num_key_value_heads"]


def _gemma4_head_dim(c, kind):
    if (override := _override(c, kind, "head_dim")) is not None:
        return override
    return c.get("global_head_dim", 512) if _gemma4_global(c, kind) else c["head_dim"]


def _gemma4_rope(c, kind):
    params = c.get("rope_parameters") or {
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
        "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1_000_000.0},
    }
    return rope_from(dict(params["full_attention" if kind == "full" else "sliding_attention"]), c)


def _moe(rule):
    return lambda c, k: (rule(c, k) if callable(rule) else c[rule]) if c["enable_moe_block"] else DROP


_BY_KIND = ("mixer.kv_shared", "ffn.d_ff", "ffn.d_dense")  # the rules that tell a KV-shared layer from its type


def _by_type(rule):
    """A rule read for the layer type: a KV-shared block kind ("sliding-shared") has its type's heads, RoPE, window."""
    return rule if isinstance(rule, str) else lambda c, k: rule(c, k.removesuffix(SHARED))


def _dense_width(c, kind):
    """Gemma4TextMLP: intermediate_size, twice that in KV-shared layers when use_double_wide_mlp."""
    return c["intermediate_size"] * (2 if kind.endswith(SHARED) and c["use_double_wide_mlp"] else 1)


def _gemma4_window(c, kind):
    """``Gemma4TextConfig.__post_init__``: with ``use_bidirectional_attention: "all"`` the window is halved (plus one),
    a window each side of the token; sliding layers only."""
    if kind != "sliding":
        return None
    window = c["sliding_window"]
    return window // 2 + 1 if c["use_bidirectional_attention"] == "all" else window


def _ple(field):
    """Gemma4TextModel builds per-layer embeddings when hidden_size_per_layer_input is not 0."""
    return lambda c: (field(c) if callable(field) else c[field]) if c["hidden_size_per_layer_input"] else DROP


class Gemma4Text(Gemma3Text):
    """``models/gemma4`` (Gemma4TextModel): Gemma 3's stack with wider heads and fewer KV heads in global
    layers (where values are the keys), attention scale 1 after QK-norm and a weightless norm on values, and optionally an MoE block
    beside the dense MLP in every layer. The small E-models add per-layer input embeddings
    (hidden_size_per_layer_input), last layers that reuse earlier layers' K/V (num_kv_shared_layers) and a
    double-wide MLP in those (use_double_wide_mlp)."""

    model_type = "gemma4_text"
    transformers_class = "Gemma4ForCausalLM"
    defaults = {k: v for k, v in Gemma3Text.defaults.items() if k not in (
        "query_pre_attn_scalar", "attn_logit_softcapping")} | {
        "vocab_size": 262144, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 30,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 512,
        "attention_k_eq_v": False, "num_kv_shared_layers": 0, "enable_moe_block": False, "num_experts": None,
        "top_k_experts": None, "moe_intermediate_size": None, "hidden_size_per_layer_input": 256,
        "vocab_size_per_layer_input": 262144, "use_double_wide_mlp": False, "use_bidirectional_attention": None,
    }
    arch = Gemma3Text.arch | {"per_layer_embedding.d_per_layer": lambda c: c["hidden_size_per_layer_input"] or DROP,
                              "per_layer_embedding.vocab_size": _ple("vocab_size_per_layer_input"),
                              "per_layer_embedding.activation": _ple(activation("hidden_activation"))}
    layers = staticmethod(_gemma4_layers)
    block = {k: v for k, v in Gemma3Text.block.items() if k not in ("mixer.softcap",)} | {
        "mixer.kind": lambda c, k: attention_kind(c["num_attention_heads"], _gemma4_kv_heads(c, k)),
        "mixer.n_kv_heads": _gemma4_kv_heads,
        "mixer.head_dim": _gemma4_head_dim,
        "mixer.k_eq_v": lambda c, k: bool(c["attention_k_eq_v"]) and _gemma4_global(c, k),
        "mixer.kv_shared": lambda c, k: bool(c["num_kv_shared_layers"]) and k.endswith(SHARED),  # is_kv_shared_layer
        "mixer.v_norm": const(True),  # Gemma4TextAttention.v_norm: Gemma4RMSNorm(head_dim, with_scale=False)
        "mixer.rope": _gemma4_rope,
        "mixer.scale": const(1.0),  # Gemma4TextAttention.scaling: QK-norm already sets the scale
        "mixer.window": _gemma4_window,
        "ffn.kind": lambda c, k: "moe" if c["enable_moe_block"] else "mlp",
        "ffn.d_ff": lambda c, k: DROP if c["enable_moe_block"] else _dense_width(c, k),
        "ffn.bias": lambda c, k: DROP if c["enable_moe_block"] else False,
        "ffn.n_experts": _moe("num_experts"),
        "ffn.top_k": _moe("top_k_experts"),
        "ffn.d_expert": _moe("moe_intermediate_size"),
        "ffn.d_dense": _moe(_dense_width),
        "ffn.router.scale": _moe(const(True)),
    }
    block = {path: rule if path in _BY_KIND else _by_type(rule) for path, rule in block.items()}


__all__ = ["Gemma", "Gemma2", "Gemma3Text", "Gemma4Text", "gemma4_types", "kv_shared"]
