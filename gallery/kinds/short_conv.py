"""LFM2's gated short convolution (Lfm2ShortConv): ``out_proj(C ⊙ conv(B ⊙ x))`` at d_model width, no attention.

Schema :class:`ShortConv`; parameters (in_proj for B, C and x, the depthwise conv, out_proj, their biases); the fixed
state (a ``d_model × conv_kernel`` window, transformers' conv_states); no state FLOPs beyond its weights; the label;
the trace and toy of ``Lfm2ShortConv.forward`` without a cache; no shrink beyond d_model (its taps as the model's);
the conv taps on the Trace page.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from ..layercache import LayerCache, conv_window, state_only
from ..specbase import Strict
from ..steps import Ctx, Step, conv_step, ew, linear
from ..terms import Weight, WeightTerms, table, weight
from ..toyops import Run, causal_conv
from .contract import Fact, fixed_state
from .pictures import taps_picture


class ShortConv(Strict):
    """LFM2's gated short convolution: ``in_proj`` (d_model → 3 × d_model) gives B, C and x;
    y = ``out_proj``(C ⊙ conv(B ⊙ x)) with a depthwise causal conv of ``conv_kernel`` taps at d_model width."""

    kind: Literal["short_conv"]
    conv_kernel: PositiveInt = Field(description="Length of the depthwise causal convolution (conv_L_cache)")
    bias: bool = Field(False, description="Bias on in_proj, the convolution and out_proj (conv_bias)")


def weights(d: tuple[str, int], m: ShortConv) -> list[Weight]:
    """``Lfm2ShortConv``: in_proj (B, C, x), a depthwise conv at d_model width, out_proj; conv_bias biases all three."""
    c = "linear_mixers"
    out = [weight(c, "in_proj", d, ("3", 3), d, shape=(d[1], 3 * d[1])),
           weight(c, "conv", d, ("conv_kernel", m.conv_kernel)),
           weight(c, "out_proj", d, d)]
    if m.bias:
        out += [weight(c, "in_proj.bias", ("3", 3), d, shape=(3 * d[1],)), weight(c, "conv.bias", d),
                weight(c, "out_proj.bias", d)]
    return out


def cache(kind: str, n: int, m: ShortConv, d_model: int) -> LayerCache:
    """LFM2 short conv: per sequence a conv window (d_model, conv_kernel), transformers' conv_states."""
    state = d_model * m.conv_kernel  # (d_model, conv_kernel)
    formula = f"d_model × conv_kernel = {d_model:,} × {m.conv_kernel} = {state:,}"
    return state_only(kind, n, state, formula, conv_window(m.conv_kernel))


def lines(m: ShortConv) -> list[str]:
    """LFM2's gated short convolution: the gating and the kernel length."""
    return ["Gated short convolution (no attention)", "in_proj → B, C, x · out_proj(C ⊙ conv(B ⊙ x))",
            f"depthwise causal conv {m.conv_kernel} taps" + (" · bias" if m.bias else ""),
            "fixed state per sequence: no KV cache"]


def steps(c: Ctx, m: ShortConv) -> list[Step]:
    """Lfm2ShortConv: in_proj → B, C, x; B ⊙ x; depthwise causal conv; C ⊙ conv; out_proj (no activation)."""
    T, d, p, W = c.T, c.d, "short conv", table(weights(c.dm, m))
    return [
        linear(c, "in_proj", p, W, "[B | C | x] = x · W_in"),
        *[ew(f"take {t}", p, (T, 3 * d), f"{t} = {which} {d} channels", per=0, out=(T, d))
          for t, which in (("B", "the first"), ("C", "the middle"), ("x", "the last"))],
        ew("B ⊙ x", p, (T, d), "u = B ⊙ x (input gate)"),
        conv_step(c, "conv", p, W, "conv"),
        ew("C ⊙ conv", p, (T, d), "y = C ⊙ conv(u) (output gate)"),
        linear(c, "out_proj", p, W, "y = y · W_out"),
    ]


def forward(R: Run, m: ShortConv, x: np.ndarray) -> np.ndarray:
    """Lfm2ShortConv.forward without a cache: B ⊙ x, the causal conv, C ⊙ conv (no activation)."""
    d = x.shape[1]
    bcx = R.linear("in_proj", x)  # (T, 3 · d_model)
    B, C, xs = [R.rec(f"take {t}", bcx[:, i * d:(i + 1) * d]) for i, t in enumerate("BCx")]
    u = R.rec("B ⊙ x", B * xs)
    y = R.rec("C ⊙ conv", C * causal_conv(R, "conv", "conv", u))
    return R.linear("out_proj", y)


KIND = fixed_state(
    schema=ShortConv, name=lambda m: "Short conv", terms=WeightTerms(weights), cache=cache,
    state_flops=lambda m: 0, lines=lines, steps=steps, forward=forward,
    shrink=dict,  # no width of its own: d_model, its taps as the model's
    facts=(Fact("Fixed-state mixers", "conv kernel", lambda m: m.conv_kernel),),
    picture=lambda steps, choose: taps_picture(steps),
)
