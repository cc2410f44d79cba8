"""Mixture-of-experts Llama descendants that need no new kind: OLMoE and Granite-MoE.

Every layer's MLP becomes a softmax router over ``num_experts`` fused SwiGLU experts, ``top_k`` per token, no
shared expert. Read from ``models/olmoe`` and ``models/granitemoe``; defaults are the transformers config class
defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError
from ..family import const, without
from .llama import Llama

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


__all__ = ["Olmoe", "GraniteMoe"]
