"""L2 clipping of the queries, keys and relative states, an option of Inkling's attention (:mod:`.inkling`) that
replaces its QK-norm (Inkling 2 ``Inkling2ScaledL2Clip``, ``Inkling2L2Clip``, ``Inkling2UnweightedRMSNorm``,
models/inkling2/modeling_inkling2.py).

Each query head vector is × a learned (heads, head_dim) scale, then scaled down to ``qk`` when its L2 norm is larger
(x · min(1, c / (‖x‖ + 1e-6))); each key the same without a scale; each value head RMS-normed without weights; each
head's relative states × a learned (heads, d_rel) scale, then clipped to ``rel``. The scores are then scaled by
1/√head_dim. Owns the schema, the weights (count terms and trace tensors), the trace steps, the toy forward and the
words.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..specbase import Strict
from ..steps import Ctx, Step, ew, weightless_rms
from ..terms import Weight, Weights, params, weight
from ..toyops import Run

EPS = 1e-6  # Inkling2L2Clip's norm + 1e-6


class L2Clip(Strict):
    """Queries (after a learned scale) and keys clipped to an L2 norm per head, values RMS-normed without weights,
    relative states (after a learned scale) clipped too; scores × 1/√head_dim."""

    qk: float = Field(gt=0, description="Largest L2 norm of a query or key head vector (qk_l2_clip_threshold)")
    rel: float = Field(gt=0, description="Largest L2 norm of a head's relative states (rel_l2_clip_threshold)")


def weights(h: tuple[str, int], hd: tuple[str, int], d_rel: tuple[str, int]) -> list[Weight]:
    """The learned scales before the query and relative-state clips."""
    return [weight("attention", "q_l2_clip.scale", h, hd, tensor="q_l2_clip.scale"),
            weight("attention", "rel_l2_clip.scale", h, d_rel, tensor="rel_l2_clip.scale")]


def _clip(c: float, scaled: bool) -> str:
    x = "x · s[head]" if scaled else "x"
    return f"{x}, then × min(1, {c:g} / (‖{x}‖ + 1e-6)) per head vector (in float32)"


def head_steps(c: Ctx, clip: L2Clip, p: str, W: Weights, h: int, kv: int, hd: int) -> list[Step]:
    """Clip Q (after its scale) and K; RMS-norm V without weights (rms_norm_eps)."""
    T = c.T
    return [ew("clip Q", p, (h, T, hd), _clip(clip.qk, True), per=5, params=params(W, "q_l2_clip.scale")),
            ew("clip K", p, (kv, T, hd), _clip(clip.qk, False), per=4),
            weightless_rms("V norm", p, (kv, T, hd), c.arch.norm.eps)]


def rel_step(c: Ctx, clip: L2Clip, p: str, W: Weights, h: int, d_rel: int) -> Step:
    """Clip each head's relative states after their scale."""
    return ew("clip relative states", p, (c.T, h * d_rel), _clip(clip.rel, True), per=5,
              params=params(W, "rel_l2_clip.scale"))


def clipped(x: np.ndarray, c: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """x · scale, scaled down to L2 norm c over the last axis where it is longer."""
    x = x * scale
    return x * np.minimum(c / (np.linalg.norm(x, axis=-1, keepdims=True) + EPS), 1.0)


def head_forward(R: Run, clip: L2Clip, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> tuple:
    """The toy's Q, K (heads, T, dim) clipped and V normed."""
    q = R.rec("clip Q", clipped(q, clip.qk, R.w["q_l2_clip.scale"][:, None, :]))
    k = R.rec("clip K", clipped(k, clip.qk))
    ms = (v * v).mean(-1, keepdims=True)
    return q, k, R.rec("V norm", v / np.sqrt(ms + R.arch.norm.eps), **{"mean of squares": ms})


def rel_forward(R: Run, clip: L2Clip, r: np.ndarray) -> np.ndarray:
    """The toy's relative states (T, heads, d_rel) clipped after their scale."""
    T = len(r)
    out = clipped(r, clip.rel, R.w["rel_l2_clip.scale"][None])
    R.rec("clip relative states", out.reshape(T, -1))
    return out


def line(clip: L2Clip) -> str:
    """The diagram's words."""
    return f"Q, K L2-clipped to {clip.qk:.4g} · V RMS-normed · relative states clipped to {clip.rel:g} · scale 1/√head_dim"
