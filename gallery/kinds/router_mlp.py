"""A router that is a small network with a skip class, an option of :mod:`.moe` (ZAYA: ``ZayaRouter``,
``ZayaRouterMLP``).

The token is projected down to ``mlp_width`` (down_proj, with bias); from the second layer on (``carry``) the
previous layer's router state times a learned scale per channel (router_states_scale) is added, and the sum is the
state the next layer reads; then an RMS norm, two GELU layers of the same width with biases, and out_proj to the
experts plus one skip class. Softmax over those classes; a frozen balancing bias (a buffer: 0, and −1 for the skip
class) is added for choosing only; the top-k classes keep their softmax probabilities (not renormalised); a token
that picks the skip class gets no expert (weight 0).

Parameters (:func:`weights`), the trace steps and the toy of that path; the toy's stand-in for the previous layer's
router state is drawn with a fixed seed, as the trace shows one layer.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step, ew, linear
from ..terms import Weight, Weights, params, weight
from ..toyops import ACT, Run

SKIP_BIAS = -1.0  # ZayaRouter.balancing_biases[-1]: the skip class's bias when choosing


def weights(d: tuple[str, int], f) -> list[Weight]:
    """ZayaRouter: down_proj, router_states_scale (with carry), then ZayaRouterMLP: norm, fc1, fc2, out_proj."""
    r, e = ("mlp_width", f.router.mlp_width), ("n_experts + 1 (skip)", f.n_experts + 1)
    out = [weight("router", "router.down_proj", d, r), weight("router", "router.down_proj.bias", r)]
    if f.router.carry:
        out.append(weight("router", "router.states_scale", r, tensor="router.states_scale"))
    out.append(weight("router", "router.norm", r))
    for name in ("router.fc1", "router.fc2"):
        out += [weight("router", name, r, r), weight("router", f"{name}.bias", r)]
    return out + [weight("router", "router.out_proj", r, e)]


def steps(c: Ctx, f, W: Weights) -> list[Step]:
    T, p, r, E, k = c.T, "router", f.router.mlp_width, f.n_experts + 1, f.top_k
    out = [linear(c, "router down_proj", p, W, "s = x · W_down", "router.down_proj")]
    if f.router.carry:
        out.append(ew("add previous router state", p, (T, r), "s = s + s_prev · scale (s_prev: the previous layer's "
                      "s; this s goes to the next layer)", per=2, params=params(W, "router.states_scale")))
    out += [c.norm("router norm", p, "router.norm", (T, r)),
            linear(c, "router fc1", p, W, "h = x · W_fc1", "router.fc1"),
            ew("GELU 1", p, (T, r), "x · Φ(x)", per=4),
            linear(c, "router fc2", p, W, "h = h · W_fc2", "router.fc2"),
            ew("GELU 2", p, (T, r), "x · Φ(x)", per=4),
            linear(c, "router logits", p, W, f"z = h · W_out: {f.n_experts} experts and the skip class",
                   "router.out_proj"),
            ew("scores (softmax)", p, (T, E), "s = softmax(z) over the experts and the skip class", per=3),
            ew("add balancing bias", p, (T, E), f"s' = s + b (a buffer: 0, {SKIP_BIAS:g} for the skip class; used "
               "to choose, not to weight)"),
            ew("top-k", p, (T, E), f"pick the {k} highest; keep their scores s", per=1, out=(T, k)),
            ew("skip class", p, (T, k), "a token that picks the skip class gets no expert: weight 0", per=1)]
    return out


def forward(R: Run, f, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chosen expert ids (T, k), their weights (T, k)); the skip class as expert 0 with weight 0 (ZayaRouter)."""
    s = R.linear("router down_proj", x, "router.down_proj")
    if f.router.carry:
        s = R.rec("add previous router state", s + previous_state(len(x), s.shape[1]) * R.w["router.states_scale"])
    h = R.norm("router norm", "router.norm", s)
    h = R.rec("GELU 1", ACT["gelu"](R.linear("router fc1", h, "router.fc1")))
    h = R.rec("GELU 2", ACT["gelu"](R.linear("router fc2", h, "router.fc2")))
    z = R.linear("router logits", h, "router.out_proj")
    e = np.exp(z - z.max(-1, keepdims=True))
    s = R.rec("scores (softmax)", e / e.sum(-1, keepdims=True))
    choose = R.rec("add balancing bias", s + R.w["router.balancing_biases"])
    idx = np.argsort(-choose, -1, kind="stable")[:, :f.top_k]
    w = R.rec("top-k", np.take_along_axis(s, idx, -1), experts=idx)
    skip = idx == f.n_experts
    return np.where(skip, 0, idx), R.rec("skip class", np.where(skip, 0.0, w))


def previous_state(T: int, width: int) -> np.ndarray:
    """The toy's stand-in for the previous layer's router state, (T, mlp_width), drawn with seed 0."""
    return np.random.default_rng(0).standard_normal((T, width))


def buffers(f) -> dict[str, np.ndarray]:
    """ZayaRouter.balancing_biases: 0 for every expert, −1 for the skip class."""
    return {"router.balancing_biases": np.r_[np.zeros(f.n_experts), SKIP_BIAS]}
