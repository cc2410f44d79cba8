"""Low-rank hyper-connections (Qwen4-Exp's gated residual): the hyper-connection form with ``lowrank`` set.

``Qwen4ExpTextGatedResidual`` (``models/qwen4_exp/modeling_qwen4_exp.py``), around every sublayer, x the ``streams``
copies of the residual, flattened to streams × d_model: x̂ = ``hc_norm``(x), an RMS norm over each stream's d_model
with one weight of streams × d_model (it is the layer's norm: the block has no other); a low-rank input mixer
m = σ(silu(x̂ · W_down / streams) · W_up) weighs every stream's every dim, the sublayer reads the streams' mean
h = mean_i(m_i ⊙ x̂_i), and each stream adds its output scaled by its own injection weight
2σ(x̂ · W_inject / streams)_i to itself (the residual is the un-normed x). The model's last mixer
(``hyper_connection_mixer``, no injection) collapses the streams into the head's input, in place of a final norm.
:mod:`gallery.hyper` holds the schema and hands this form its facets.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from .steps import Ctx, Step, ew, linear
from .terms import Weight, table, weight
from .toyops import ACT, Run

PART = "hyper-connection"


def weights(d: tuple[str, int], n: int, rank: int, name: str, inject: bool = True) -> list[Weight]:
    """hc_norm, input_mix_weight_down, input_mix_weight_up and (around a sublayer) block_inject_weight."""
    flat, r = ("streams × d_model", n * d[1]), ("lowrank", rank)
    out = [weight("norms", f"{name}.hc_norm", flat),
           weight("hyper_connections", f"{name}.input_mix_weight_down", flat, r),
           weight("hyper_connections", f"{name}.input_mix_weight_up", r, flat)]
    return out + ([weight("hyper_connections", f"{name}.block_inject_weight", flat, ("streams", n))] if inject else [])


def steps(c: Ctx, name: str, n: int, rank: int, inner: list[Step]) -> list[Step]:
    """The gated residual ``name`` around one sublayer's steps ``inner``; the layer reads and writes (T, n, d)."""
    T, d, p = c.T, c.d, PART
    W, x = table(weights(c.dm, n, rank, name)), (T, n, d)
    norm = c.norm(f"{name}: hc_norm", p, f"{name}.hc_norm", (T, n * d))
    return [
        ew(f"{name}: flatten streams", p, x, "(T, n, d) → (T, n·d)", per=0, out=(T, n * d)),
        replace(norm, formula=f"each stream's {d} dims: x · rsqrt(mean(x²) + eps) · w (eps = {c.arch.norm.eps:g})"),
        linear(c, f"{name}: mix down", p, W, "a = x̂ · W_down", f"{name}.input_mix_weight_down"),
        ew(f"{name}: silu(a / {n})", p, (T, rank), f"silu(a / {n})", per=5),
        linear(c, f"{name}: mix up", p, W, "m = silu(a / n) · W_up", f"{name}.input_mix_weight_up"),
        ew(f"{name}: σ(m)", p, (T, n * d), "σ(m): a weight for every stream's every dim", per=4),
        Step(f"{name}: collapse streams", p, (T, n * d), (T, d), "h = mean_i(m_i ⊙ x̂_i) (the sublayer's input)",
             2 * T * n * d),
        linear(c, f"{name}: inject logits", p, W, "j = x̂ · W_inject", f"{name}.block_inject_weight"),
        ew(f"{name}: inject weights", p, (T, n), f"2σ(j / {n})", per=5),
        *inner,
        Step(f"{name}: expand (inject)", p, (T, d), x, "y_i = inject_i · f(h) for each stream i", T * n * d),
        ew("residual add", "residual", x, "x_i = x_i + y_i (the un-normed streams)"),
    ]


def grouped_norm(R: Run, op: str, name: str, flat: np.ndarray, n: int) -> np.ndarray:
    """``Qwen4ExpTextRMSNorm(n·d, group_size=d)``: each stream's d dims normed on their own, one weight of n·d."""
    T = len(flat)
    g = flat.reshape(T, n, -1)
    ms = (g * g).mean(-1, keepdims=True)
    y = (g / np.sqrt(ms + R.arch.norm.eps)).reshape(T, -1) * R.w[f"{name}.weight"]
    return R.rec(op, y, **{"mean of squares": ms[..., 0]})


def forward(R: Run, name: str, n: int, x: np.ndarray, sublayer: Callable) -> np.ndarray:
    """The toy's gated residual around one sublayer; x (T, n, d)."""
    T, _, d = x.shape
    xn = grouped_norm(R, f"{name}: hc_norm", f"{name}.hc_norm", R.rec(f"{name}: flatten streams", x.reshape(T, -1)), n)
    a = R.rec(f"{name}: silu(a / {n})", ACT["silu"](R.linear(f"{name}: mix down", xn, f"{name}.input_mix_weight_down")
                                                    / n))
    m = R.rec(f"{name}: σ(m)", 1 / (1 + np.exp(-R.linear(f"{name}: mix up", a, f"{name}.input_mix_weight_up"))))
    h = R.rec(f"{name}: collapse streams", (m * xn).reshape(T, n, d).mean(1))
    j = R.linear(f"{name}: inject logits", xn, f"{name}.block_inject_weight")
    inject = R.rec(f"{name}: inject weights", 2 / (1 + np.exp(-j / n)))
    y = sublayer(h)
    return R.rec("residual add", x + R.rec(f"{name}: expand (inject)", inject[..., None] * y[:, None, :]))


def lines(n: int, rank: int) -> list[str]:
    """What the gated residual does around each sublayer, in words for the diagram."""
    return ["Hyper-connections (low-rank)", f"{n} residual streams; around each sublayer:",
            "per-stream RMS norm, a rank-" + f"{rank} mixer σ(silu(x̂·W↓/{n})·W↑)",
            "weighs every dim; the sublayer reads their mean;", f"each stream adds 2σ(x̂·W_inject/{n}) × its output"]
