"""xIELU, an activation with two learned scalars (Apertus's MLP): an option of the dense MLP (:mod:`.mlp`).

``transformers.activations.XIELUActivation`` (Huang et al. 2024, arXiv 2411.13010): with α_p = softplus(alpha_p) and
α_n = β + softplus(alpha_n), f(x) = α_p·x² + β·x for x > 0, else (expm1(min(x, eps)) − x)·α_n + β·x, where β = 0.5
and eps = −1e-6 are buffers (not parameters). Each MLP holds its own ``act_fn.alpha_p`` and ``act_fn.alpha_n``, one
value each: two parameters per layer. This module declares them, and gives the trace step and the toy forward.
"""

from __future__ import annotations

import numpy as np

from ..steps import Shape, Step
from ..terms import Weight, Weights, params, weight

BETA, EPS = 0.5, -1e-6  # XIELUActivation's defaults (beta, eps), buffers
NAMES = ("act_fn.alpha_p", "act_fn.alpha_n")
FORMULA = ("α_p·x² + β·x for x > 0, else (expm1(min(x, eps)) − x)·α_n + β·x; α_p = softplus(alpha_p), "
           f"α_n = β + softplus(alpha_n), β = {BETA:g}, eps = {EPS:g}")


def weights(component: str) -> list[Weight]:
    """The two learned scalars of one MLP's activation (each a tensor of shape (1,))."""
    return [weight(component, name, ("1 (a scalar)", 1), tensor=name) for name in NAMES]


def step(part: str, hidden: Shape, W: Weights) -> Step:
    """The activation on every hidden element (about 8 FLOPs each: the square, the products, the branch's expm1)."""
    return Step("activation (xielu)", part, hidden, hidden, f"a = xIELU(u) = {FORMULA}", 8 * int(np.prod(hidden)),
                params(W, *NAMES))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x)


def xielu(x: np.ndarray, alpha_p: np.ndarray, alpha_n: np.ndarray) -> np.ndarray:
    """``XIELUActivation._xielu_python`` in NumPy; ``alpha_p``, ``alpha_n`` the raw (pre-softplus) parameters."""
    a_p, a_n = _softplus(alpha_p), BETA + _softplus(alpha_n)
    return np.where(x > 0, a_p * x * x + BETA * x, (np.expm1(np.minimum(x, EPS)) - x) * a_n + BETA * x)
