"""Mixture-of-experts Llama descendants that need no new kind: OLMoE, FlexOlmo, Granite-MoE,
Granite-MoE-Shared and Mellum.

Every layer's MLP becomes a softmax router over ``num_experts`` fused SwiGLU experts, ``top_k`` per token
(Granite-MoE-Shared adds one always-on SwiGLU MLP; Mellum mixes dense layers in). Read from ``models/olmoe``,
``models/flex_olmo``, ``models/granitemoe``, ``models/granitemoeshared`` and ``models/mellum``; defaults are the
transformers config class defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, const, dense_only, is_moe, layer_kinds, moe_only, without
from .llama import Llama, Olmo2
from .windowed import per_type_rope, window

_EXPERTS = {
    "ffn.kind": const("moe"),
    "ffn.top_k": "num_experts_per_tok",
    "ffn.d_expert": "intermediate_size",
}


def _olmoe_head_dim(c, kind=None):
    """OlmoeAttention: q_norm spans hidden_size, so the heads must be hidden_size // num_attention_heads wide."""
    width = c["hidden_size"] // c["num_attention_heads"]
    given = c.get("head_dim")
    if given and given != width:
        raise DerivationError(
            f"head_dim {given}: OLMoE's q_norm spans hidden_size {c['hidden_size']}, so heads are "
            f"hidden_size // num_attention_heads = {width} wide; leave head_dim out")
    return width


class Olmoe(Llama):
    """``models/olmoe``: Llama attention with an RMSNorm over all queries and all keys, and 64 experts (top 8)."""

    model_type = "olmoe"
    transformers_class = "OlmoeForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias", "head_dim") | {
        "vocab_size": 50304, "hidden_size": 2048, "intermediate_size": 2048, "num_hidden_layers": 16,
        "num_attention_heads": 16, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "num_experts_per_tok": 8, "num_experts": 64, "norm_topk_prob": False,
    }
    aliases = {"num_local_experts": "num_experts"}
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = without(Llama.block, "ffn.d_ff", "ffn.bias") | _EXPERTS | {
        "mixer.head_dim": _olmoe_head_dim,
        "mixer.qk_norm": const("full"),
        "ffn.n_experts": "num_experts",
        "ffn.router.normalize_topk": "norm_topk_prob",
    }


class GraniteMoe(Llama):
    """``models/granitemoe``: Granite (multipliers, no parameters) with Mixtral-like experts: a bias-free router,
    softmax over the top-k logits."""

    model_type = "granitemoe"
    transformers_class = "GraniteMoeForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias", "head_dim") | {"num_local_experts": 8, "num_experts_per_tok": 2}
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = without(Llama.block, "ffn.d_ff", "ffn.bias") | _EXPERTS | {
        "ffn.n_experts": "num_local_experts",
        "ffn.router.normalize_topk": const(True),
    }


class FlexOlmo(Olmo2):
    """``models/flex_olmo``: OLMo 2 blocks (norms after each sublayer, QK-norm over all heads) with experts."""

    model_type = "flex_olmo"
    transformers_class = "FlexOlmoForCausalLM"
    defaults = Olmo2.defaults | {
        "vocab_size": 100352, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
        "num_experts_per_tok": 5, "num_experts": 7, "norm_topk_prob": False,
    }
    aliases = Olmoe.aliases
    layers = Olmoe.layers
    block = without(Olmo2.block, "ffn.d_ff", "ffn.bias") | _EXPERTS | {
        "ffn.n_experts": "num_experts",
        "ffn.router.normalize_topk": "norm_topk_prob",
    }


class GraniteMoeShared(GraniteMoe):
    """``models/granitemoeshared``: Granite-MoE plus a SwiGLU MLP every token uses (``shared_intermediate_size``
    wide; none when 0), added to the experts' output without a gate."""

    model_type = "granitemoeshared"
    transformers_class = "GraniteMoeSharedForCausalLM"
    defaults = GraniteMoe.defaults | {"shared_intermediate_size": 0}
    block = GraniteMoe.block | {
        "ffn.n_shared_experts": lambda c, k: 1 if c["shared_intermediate_size"] else 0,
        "ffn.d_shared": lambda c, k: c["shared_intermediate_size"] or DROP,
    }


def _mellum_layers(c, kind=None):
    """``MellumConfig.__post_init__``: layer_types (all full) and mlp_layer_types (all sparse) per layer."""
    n = c["num_hidden_layers"]
    attention = ["sliding" if t == "sliding_attention" else "full" for t in c["layer_types"] or ["full_attention"] * n]
    ffn = ["moe" if t == "sparse" else "dense" for t in c["mlp_layer_types"] or ["sparse"] * n]
    return layer_kinds(attention, ffn)


class Mellum(Llama):
    """``models/mellum``: QK-norm per head, sliding and full layers with their own RoPE θ, and sparse (64
    experts, top 8) or dense MLP layers as ``mlp_layer_types`` says; its multi-token-prediction layers are not
    part of the causal LM."""

    model_type = "mellum"
    transformers_class = "MellumForCausalLM"
    defaults = without(Llama.defaults, "mlp_bias") | {
        "vocab_size": 98304, "hidden_size": 2304, "intermediate_size": 7168, "num_hidden_layers": 28,
        "num_key_value_heads": 4, "head_dim": 128, "max_position_embeddings": 131072, "sliding_window": 1024,
        "moe_intermediate_size": 896, "num_experts_per_tok": 8, "num_experts": 64, "norm_topk_prob": True,
        "layer_types": None, "mlp_layer_types": None,
    }
    aliases = {"num_local_experts": "num_experts"}  # MellumConfig.attribute_map, read the other way round
    layers = staticmethod(_mellum_layers)
    block = Llama.block | {
        "mixer.qk_norm": const("head"),
        "mixer.rope": per_type_rope({"full_attention": {"rope_type": "default", "rope_theta": 500000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
        "mixer.window": window,
        "ffn.kind": lambda c, k: "moe" if is_moe(k) else "mlp",
        "ffn.d_ff": dense_only("intermediate_size"),
        "ffn.bias": dense_only(const(False)),
        "ffn.n_experts": moe_only("num_experts"),
        "ffn.top_k": moe_only("num_experts_per_tok"),
        "ffn.d_expert": moe_only("moe_intermediate_size"),
        "ffn.router.normalize_topk": moe_only("norm_topk_prob"),
    }


__all__ = ["Olmoe", "FlexOlmo", "GraniteMoe", "GraniteMoeShared", "Mellum"]
