"""A depthwise causal convolution on each sublayer's output (Inkling ``InklingDecoderLayer``: ``attn_sconv`` after the
attention, ``mlp_sconv`` after the feed-forward, models/inkling/modeling_inkling.py).

Before the residual add, the sublayer's output y becomes y + conv(y), ``conv`` a depthwise causal convolution of
``conv_kernel`` taps at d_model width without bias (computed in float32); Inkling 2 (``Inkling2DecoderLayer``'s
``post_attention_convolution``, ``post_mlp_convolution``) divides the sum by √(conv_kernel + 1). The block's
``sublayer_conv`` (and ``sublayer_conv_scaled``) switch it on. Owns the weights (count terms and trace tensors, declared once), the trace steps,
the toy forward, the fixed state (each convolution's input window) and the diagram's words; :mod:`gallery.counts`,
:mod:`gallery.memory`, :mod:`gallery.trace`, :mod:`gallery.toy` and :mod:`gallery.diagram` wire them in.
"""

from __future__ import annotations

import numpy as np

from .layercache import LayerCache, state_only
from .steps import Ctx, Step, conv_step, ew
from .terms import Weight, table, weight
from .toyops import Run, conv

PART = "output conv"


def weights(d: tuple[str, int], label: str, taps: int) -> list[Weight]:
    """The convolution after sublayer ``label`` (attn, mixer, ffn): d_model channels of ``taps`` taps."""
    return [weight("linear_mixers", f"{label}_sconv.conv1d", d, ("conv_kernel", taps))]


def steps(c: Ctx, label: str, taps: int, scaled: bool = False) -> list[Step]:
    """From the sublayer's output y (T, d_model) to y + conv(y) (÷ √(taps + 1) when ``scaled``)."""
    W = table(weights(c.dm, label, taps))
    add = f"y = (y + conv(y)) / √{taps + 1} (in float32)" if scaled else "y = y + conv(y) (in float32)"
    return [conv_step(c, f"{label} output conv", PART, W, f"{label}_sconv.conv1d"),
            ew(f"{label} output + conv", PART, (c.T, c.d), add, per=1 + scaled)]


def forward(R: Run, label: str, y: np.ndarray, scaled: bool = False) -> np.ndarray:
    """The toy's y + conv(y) (÷ √(taps + 1) when ``scaled``), one record per step of :func:`steps`."""
    w = R.w[f"{label}_sconv.conv1d.weight"]
    out = y + R.rec(f"{label} output conv", conv(y, w), taps=w.T)
    return R.rec(f"{label} output + conv", out / np.sqrt(w.shape[-1] + 1) if scaled else out)


def cache(kind: str, n: int, sublayers: int, taps: int, d_model: int) -> LayerCache:
    """Each convolution's input window: ``sublayers × d_model × conv_kernel`` per sequence."""
    state = sublayers * d_model * taps
    return state_only(kind, n, state, f"output conv windows: {sublayers} × d_model × conv_kernel = {sublayers} × "
                      f"{d_model:,} × {taps} = {state:,}", f"transformers keeps the output conv windows in float32 "
                      f"(bytes here assume bf16) and {taps} inputs per channel where {taps - 1} would do")


def line(taps: int, scaled: bool = False) -> list[str]:
    """The diagram's words for the convolution on a sublayer's output."""
    return ["causal conv on the output", f"(y + conv(y)) / √{taps + 1} · {taps} taps, depthwise" if scaled
            else f"y + conv(y) · {taps} taps, depthwise"]
