"""Mixture-of-experts Llama descendants that need no new kind: OLMoE, FlexOlmo, Granite-MoE and
Granite-MoE-Shared.

Every layer's MLP becomes a softmax router over ``num_experts`` fused SwiGLU experts, ``top_k`` per token
(Granite-MoE-Shared adds one always-on SwiGLU MLP). Read from ``models/olmoe``, ``models/flex_olmo``,
``models/granitemoe`` and ``models/granitemoeshared``; defaults are the transformers config class defaults
(checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import DROP, const, without
from .llama import Llama, Olmo2

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


__all__ = ["Olmoe", "FlexOlmo", "GraniteMoe", "GraniteMoeShared"]
