"""The causal convolutions on K and V of Inkling's attention (:mod:`.inkling`), in their three forms.

``add`` (Inkling ``InklingAttention.k_sconv``, ``v_sconv``): t + conv(t), a depthwise causal convolution of ``conv_kernel`` taps.
``scaled`` (Inkling 2's sliding layers, ``Inkling2SlidingAttention.k_sconv``): (t + conv(t)) / √(conv_kernel + 1).
``dynamic`` (Inkling 2's full layers, ``Inkling2FullAttention.k_sconv``): the taps are static per-channel weights
(``static_weight``, tap 0 the current token) plus per-token weights projected from the K (or V) input by
``weight_proj`` (d_model → KV heads × conv_kernel, one set per KV head), then (t + conv(t)) / √(2 · conv_kernel + 1).
All compute in float32 (models/inkling/modeling_inkling.py, models/inkling2/modeling_inkling2.py). Owns the weights
(count terms and trace tensors), the trace steps, the toy forward and the words.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..steps import Ctx, Step, conv_step, ew, linear
from ..terms import Weight, Weights, params, weight
from ..toyops import Run, conv

Form = Literal["add", "scaled", "dynamic"]
DESCRIPTION = ("How K and V pass their convolution: 'add', t + conv(t) (Inkling); 'scaled', (t + conv(t)) / "
               "√(conv_kernel + 1) (Inkling 2's sliding layers); 'dynamic', static taps plus per-token taps from "
               "weight_proj (d_model → KV heads × conv_kernel), (t + conv(t)) / √(2 · conv_kernel + 1) (Inkling 2's "
               "full layers)")


def weights(d: tuple[str, int], m, t: str) -> list[Weight]:
    """The convolution on ``t`` (k or v): its taps (conv1d), or the static taps and their projection."""
    kv, hd, taps, a = ("n_kv_heads", m.n_kv_heads), ("head_dim", m.head_dim), ("conv_kernel", m.conv_kernel), \
        "attention"
    width = m.n_kv_heads * m.head_dim
    if m.conv_form != "dynamic":
        return [weight(a, f"{t}_sconv.conv1d", kv, hd, taps, shape=(width, m.conv_kernel))]
    return [weight(a, f"{t}_sconv.static_weight", taps, kv, hd, shape=(m.conv_kernel, width),
                   tensor=f"{t}_sconv.static_weight"),
            weight(a, f"{t}_sconv.weight_proj", d, kv, taps, shape=(d[1], m.n_kv_heads * m.conv_kernel))]


def _divisor(m) -> str:
    return {"add": "", "scaled": f" / √{m.conv_kernel + 1}", "dynamic": f" / √{2 * m.conv_kernel + 1}"}[m.conv_form]


def steps(c: Ctx, m, W: Weights, t: str) -> list[Step]:
    """From ``t`` = x · W_t (T, kv × head_dim) to t after its convolution."""
    T, kv, hd, K, p = c.T, m.n_kv_heads, m.head_dim, m.conv_kernel, "attention"
    add = ew(f"{t} + conv", p, (T, kv * hd), f"{t} = ({t} + conv({t})){_divisor(m)} (in float32)" if m.conv_form != "add"
             else f"{t} = {t} + conv({t}) (in float32)", per=1 + (m.conv_form != "add"))
    if m.conv_form != "dynamic":
        return [conv_step(c, f"{t} conv", p, W, f"{t}_sconv.conv1d"), add]
    return [linear(c, f"{t} conv taps", p, W, f"w_dyn = x_{t} · W_proj: {K} taps per KV head and token, from the "
                   f"{t.upper()} input", f"{t}_sconv.weight_proj"),
            ew(f"{t} taps", p, (T, kv * K), f"w[i, c, j] = static[j, c] + w_dyn[i, head(c), j]: one tap set per "
               f"channel and token", out=(T, kv * hd * K), params=params(W, f"{t}_sconv.static_weight")),
            Step(f"{t} conv", p, (T, kv * hd), (T, kv * hd), f"y[i, c] = Σ_j w[i, c, j] · {t}[i − j, c], j < {K} "
                 f"(tap 0: the token itself); {t} = 0 before the first token", 2 * T * kv * hd * K),
            add]


def forward(R: Run, m, y: np.ndarray, x: np.ndarray, t: str) -> np.ndarray:
    """The toy's convolution on ``y`` = x · W_t, ``x`` the input the dynamic taps are projected from."""
    K = m.conv_kernel
    if m.conv_form != "dynamic":
        w = R.w[f"{t}_sconv.conv1d.weight"]
        out = y + R.rec(f"{t} conv", conv(y, w), taps=w.T)
        return R.rec(f"{t} + conv", out / np.sqrt(K + 1) if m.conv_form == "scaled" else out)
    T, kv, hd = len(y), m.n_kv_heads, m.head_dim
    dyn = R.linear(f"{t} conv taps", x, f"{t}_sconv.weight_proj").reshape(T, kv, 1, K)
    static = R.w[f"{t}_sconv.static_weight"].T.reshape(kv, hd, K)
    w = R.rec(f"{t} taps", (static[None] + dyn).reshape(T, -1)).reshape(T, kv * hd, K)
    padded = np.concatenate([np.zeros((K - 1, kv * hd)), y])
    back = np.stack([padded[K - 1 - j:K - 1 - j + T] for j in range(K)], -1)  # back[i, c, j] = y[i − j, c]
    out = R.rec(f"{t} conv", (back * w).sum(-1))
    return R.rec(f"{t} + conv", (y + out) / np.sqrt(2 * K + 1))


def line(m) -> str:
    """The diagram's words for the K and V convolutions."""
    K = m.conv_kernel
    return {"add": f"K, V: + causal conv ({K} taps)",
            "scaled": f"K, V: (x + causal conv) / √{K + 1} ({K} taps)",
            "dynamic": f"K, V: (x + causal conv) / √{2 * K + 1}, {K} taps static + per token from the input"}[m.conv_form]
