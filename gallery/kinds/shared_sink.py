"""Shared experts the router scores too, an option of :mod:`.moe` (Inkling ``InklingTopkRouter`` and
``InklingSharedExperts``, models/inkling/modeling_inkling.py).

The router's matrix has a row for every routed and every shared expert. σ of the logits, plus the correction bias
for the routed ones, picks the top-k routed experts; the chosen and the shared experts' σ(logit)s are normalised
together (a softmax of their log-sigmoids), × ``weight_scale`` (route_scale) × a learned scalar (``global_scale``).
The shared experts, stored as 3-D tensors (n_shared_experts, d_expert, d_model), are counted and traced as one
gated MLP of ``d_shared`` = n_shared_experts × d_expert whose hidden slice of each expert is × its weight before
down_proj (the same numbers: the experts' outputs are summed).
"""

from __future__ import annotations

import numpy as np

from ..specbase import rule_error
from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, Weights, params, weight
from ..toyops import ACT, Run
from .mlp import chain_steps

DESCRIPTION = ("The router also scores the shared experts (n_experts + n_shared_experts rows): their weights are "
               "normalised with the chosen experts' and scale their outputs (Inkling InklingTopkRouter); the shared "
               "experts are d_expert wide each, d_shared = n_shared_experts × d_expert")


def check(f) -> None:
    """The rules of the two router options: shared experts of d_expert each beside gated sigmoid-scored ones; the
    learned scalar with them."""
    r = f.router
    if r.shared_scored and not (f.gated and f.n_shared_experts and r.scoring == "sigmoid"
                                and f.d_shared == f.n_shared_experts * f.d_expert):
        raise rule_error("router", "block_wiring", "shared_scored needs gated sigmoid-scored experts and shared "
                         "experts of d_expert each (d_shared = n_shared_experts × d_expert)")
    if r.global_scale and not r.shared_scored:
        raise rule_error("router", "block_wiring", "global_scale is read with shared_scored (Inkling's router)")


def router_weights(d: tuple[str, int], f) -> list[Weight]:
    """The router over routed and shared experts, and its learned scalar."""
    rows = ("n_experts + n_shared_experts", f.n_experts + f.n_shared_experts)
    return [weight("router", "router", d, rows),
            *([weight("router", "router.global_scale", ("1", 1), tensor="router.global_scale")]
              if f.router.global_scale else [])]


def router_steps(c: Ctx, f, W: Weights) -> list[Step]:
    """Logits → σ → (correction bias) → top-k of the routed experts → weights normalised with the shared
    experts'."""
    T, E, S, k, r, p = c.T, f.n_experts, f.n_shared_experts, f.top_k, f.router, "router"
    w = (T, k + S)
    steps = [linear(c, "router logits", p, W, "z = x · W_router (routed and shared experts)", name="router"),
             ew("scores (sigmoid)", p, (T, E + S), "s = σ(z) per expert", per=3)]
    if r.correction_bias:
        steps.append(ew("add correction bias", p, (T, E + S), "s' = s + b_e over the routed experts (a buffer; "
                        "used to choose, not to weight)", out=(T, E)))
    steps += [ew("top-k", p, (T, E) if r.correction_bias else (T, E + S),
                 f"pick the {k} highest-scoring routed experts", per=1, out=(T, k)),
              ew("normalise with shared", p, (T, E + S), f"w = s / Σ s over the {k} chosen and the {S} shared "
                 "experts (a softmax of their log σ)", per=3, out=w)]
    if r.weight_scale != 1:
        steps.append(ew("scale weights", p, w, f"w · {r.weight_scale:g} (route_scale)"))
    if r.global_scale:
        steps.append(ew("global scale", p, w, "w · g, g a learned scalar", params=params(W, "router.global_scale")))
    return steps


def shared_steps(c: Ctx, f, W: Weights) -> list[Step]:
    """The shared experts as one gated MLP, each expert's hidden slice × its weight before down_proj."""
    steps = chain_steps(c, "shared_experts", "shared_expert.", W, f.gated, f.activation)
    width, S = f.d_shared, f.n_shared_experts
    one = width // S
    steps.insert(-1, ew("× shared weights", "shared_experts", (c.T, width),
                        f"h[:, s·{one}:(s + 1)·{one}] · w_shared[s] for each of the {S} shared experts"))
    return steps


def router_forward(R: Run, f, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chosen expert ids (T, k), their weights (T, k), the shared experts' weights (T, S))."""
    E, k, r = f.n_experts, f.top_k, f.router
    s = R.rec("scores (sigmoid)", 1 / (1 + np.exp(-R.linear("router logits", x, "router"))))
    choose = R.rec("add correction bias", s[:, :E] + R.w["router.correction_bias"]) if r.correction_bias else s[:, :E]
    idx = np.argsort(-choose, -1, kind="stable")[:, :k]
    picked = np.concatenate([np.take_along_axis(s, idx, -1), s[:, E:]], -1)
    R.rec("top-k", picked[:, :k], experts=idx)
    w = R.rec("normalise with shared", picked / picked.sum(-1, keepdims=True))
    if r.weight_scale != 1:
        w = R.rec("scale weights", w * r.weight_scale)
    if r.global_scale:
        w = R.rec("global scale", w * R.w["router.global_scale"])
    return idx, w[:, :k], w[:, k:]


def shared_forward(R: Run, f, x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """InklingSharedExperts.forward: gate and up, act ⊙ up × each expert's weight, down, summed over the experts."""
    n = "shared_expert."
    g = R.rec(n + "gate_proj", x @ R.w[n + "gate_proj.weight"])
    u = R.rec(n + "up_proj", x @ R.w[n + "up_proj.weight"])
    h = R.rec("a ⊙ u", R.rec(f"activation ({f.activation})", ACT[f.activation](g)) * u)
    h = R.rec("× shared weights", h * np.repeat(gamma, f.d_shared // f.n_shared_experts, -1))
    return R.rec(n + "down_proj", h @ R.w[n + "down_proj.weight"])
