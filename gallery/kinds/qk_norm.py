"""QK-norm, an option of softmax attention (:mod:`.softmax`): its four scopes, their weights, the trace step of a
weighted one, and how the label and the compare table word them.

``per_head_shared`` (Qwen3Attention: one head_dim weight for all heads), ``per_head`` (CohereLayerNorm /
StableLmLayerNormPerHead: a (heads, head_dim) weight, no bias; Persimmon's nn.LayerNorm(head_dim) adds a bias to the
shared scope, ``qk_norm_bias``), ``whole_projection`` (Olmo2Attention: one norm over
all heads' dims before the split), ``per_head_weightless`` (Llama4TextL2Norm after RoPE: no weight).
"""

from __future__ import annotations

from math import prod

from pydantic_core import PydanticCustomError

from ..steps import Ctx, Step
from ..terms import Shape, Weight, Weights, params, weight

DESCRIPTION = ("Norm on queries and keys, by what it normalises and which weight it has: 'per_head_shared' "
               "normalises each head's vector with one weight of head_dim shared by all heads (Qwen3, Gemma 3/4, LFM2, "
               "GLM-4.5 use_qk_norm); 'per_head' normalises each head's vector with a weight of its own, (n_heads, "
               "head_dim) and (n_kv_heads, head_dim) (Cohere use_qk_norm, StableLM qk_layernorm; LayerNorm without bias); "
               "'whole_projection' is one norm over all n_heads × head_dim dims before the head split, statistics shared "
               "across heads, weight n_heads × head_dim (OLMo 2, MiniMax-M2); 'per_head_weightless' is "
               "x · rsqrt(mean(x²) + eps) over each head's vector after RoPE, no weight (Llama 4's Llama4TextL2Norm)")
RENAMED = {"head": "per_head_shared", "l2": "per_head_weightless"}  # older specs' values (lint --fix rewrites them)


def older_value(value):
    """A value of older specs: a one-line error saying what to write (``lint --fix`` rewrites the renamed)."""
    if value == "full":  # one value before the scopes were told apart (issue 21)
        raise PydanticCustomError(
            "qk_norm_ambiguous", "'full' is two scopes now: 'whole_projection' (one norm over all heads' dims: "
            "OLMo 2, MiniMax-M2) or 'per_head' (a weight for each head: Cohere, StableLM); re-derive with "
            "python -m gallery new")
    if value in RENAMED:
        raise PydanticCustomError("qk_norm_renamed", f"'{value}' is now '{RENAMED[value]}' "
                                  "(python -m gallery lint --fix rewrites it)")
    return value


LINES = {  # what each scope computes, for the label
    "per_head_shared": "per head, one head_dim weight shared by all heads",
    "per_head": "per head, each head its own weight",
    "whole_projection": "over the whole projection (all heads at once)",
    "per_head_weightless": "per head after RoPE: RMS, no weight",
}
FACTS = {  # the same for the compare table
    "none": "none", "per_head_shared": "per head, shared weight", "per_head": "per head, own weights",
    "whole_projection": "whole projection", "per_head_weightless": "per head, no weight (after RoPE)",
}


def weights(scope: str, h: tuple[str, int], kv: tuple[str, int], hd: tuple[str, int],
            bias: bool = False) -> list[Weight]:
    """q_norm and k_norm of a weighted scope (none for ``none`` and ``per_head_weightless``); ``bias``: their
    biases too (the shared scope only)."""
    if scope == "per_head_shared":
        return [weight("attention", "q_norm", hd), weight("attention", "k_norm", hd)] + [
            weight("attention", f"{n}_norm.bias", hd) for n in "qk" if bias]
    if scope == "per_head":  # CohereLayerNorm((n_heads, head_dim))
        return [weight("attention", "q_norm", h, hd), weight("attention", "k_norm", kv, hd)]
    if scope == "whole_projection":  # Olmo2Attention: one norm over all heads' dims
        return [weight("attention", "q_norm", h, hd, shape=(h[1] * hd[1],)),
                weight("attention", "k_norm", kv, hd, shape=(kv[1] * hd[1],))]
    return []


def step(c: Ctx, p: str, W: Weights, name: str, shape: Shape) -> Step:
    """The model's norm over each vector with the weight ``W`` declares (a row of its own per head when the weight
    is ``(heads, head_dim)``, no bias; a shared one with the bias ``W`` declares)."""
    w = W[f"{name}.weight"]
    if len(w.shape) == 1:
        return c.norm(name, p, name, shape, params=params(W, f"{name}.weight", f"{name}.bias"))
    ln = c.arch.norm.kind == "layernorm"
    formula = (("(x − mean(x)) / √(var(x) + eps)" if ln else "x · rsqrt(mean(x²) + eps)")
               + f" · w[head], no bias (eps = {c.arch.norm.eps:g})")
    return Step(name, p, shape, shape, formula, (7 if ln else 4) * prod(shape), (w,))
