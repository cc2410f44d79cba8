"""Aria's language model (``models/aria``, ``AriaTextForCausalLM``): Llama attention with every MLP replaced by
``moe_num_experts`` SwiGLU experts (softmax over the top-k logits, the same as a renormalised softmax) plus one
always-on SwiGLU MLP of ``moe_num_shared_experts × intermediate_size``, added without a gate.

Read as Aria's checkpoints give it (``rhymes-ai/Aria``: an ``aria`` wrapper whose ``text_config`` is ``aria_text``)
or as a bare ``aria_text`` config. Defaults are the ``AriaTextConfig`` defaults (checked by ``tests/test_derive.py``).
"""

from __future__ import annotations

from ..config import DerivationError, shown
from ..family import DROP, const, required, without
from .llama import Llama


def _top_k(c, kind=None):
    """AriaTextTopKRouter: ``torch.topk(logits, moe_topk)``: one number."""
    value = c["moe_topk"]
    if isinstance(value, list):
        raise DerivationError(f"moe_topk {shown(value)}: Aria's router takes one top-k for every layer; give one number")
    return value


def _shared(c, kind=None):
    """AriaSharedExpertsMLP: ``intermediate_size × moe_num_shared_experts`` wide, built on every layer. Its
    activation is ``hidden_act`` while the routed experts are always SiLU (AriaExperts.act_fn): the spec has one
    activation for both, so a config whose shared MLP is not SwiGLU is refused rather than drawn wrong."""
    n = c["moe_num_shared_experts"]
    if c["hidden_act"] not in ("silu", "swish"):
        raise DerivationError(f"hidden_act {shown(c['hidden_act'])}: Aria's shared experts would use it while its "
                              "routed experts stay SiLU; one MLP kind per layer is modelled, so only silu is read")
    if not n and c["mlp_bias"]:
        raise DerivationError("moe_num_shared_experts 0 with mlp_bias true: transformers builds an empty shared MLP "
                              "that keeps a down_proj bias; not modelled, set mlp_bias false")
    return n


class AriaText(Llama):
    """``models/aria`` (AriaTextForCausalLM): Llama attention; softmax-routed SwiGLU experts plus a shared MLP."""

    model_type = "aria_text"
    transformers_class = "AriaTextForCausalLM"
    defaults = Llama.defaults | {
        "intermediate_size": 4096, "moe_num_experts": 8, "moe_topk": 2, "moe_num_shared_experts": 2,
    }
    layers = staticmethod(lambda c: ["moe"] * c["num_hidden_layers"])
    block = without(Llama.block, "ffn.d_ff", "ffn.bias") | {
        "ffn.kind": const("moe"),
        "ffn.n_experts": required("moe_num_experts", "experts"),
        "ffn.top_k": _top_k,
        "ffn.d_expert": "intermediate_size",
        "ffn.activation": const("silu"),
        "ffn.n_shared_experts": lambda c, k: 1 if _shared(c) else 0,
        "ffn.d_shared": lambda c, k: _shared(c) * c["intermediate_size"] or DROP,
        "ffn.shared_bias": "mlp_bias",
        "ffn.router.normalize_topk": const(True),
    }


__all__ = ["AriaText"]
