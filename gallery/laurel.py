"""LAuReL, the learned augmented residual layer (Gemma 3n): a low-rank side path beside the attention sublayer.

Follows ``Gemma3nTextLaurelBlock`` and ``Gemma3nTextDecoderLayer`` (``models/gemma3n/modeling_gemma3n.py``): from
the attention's normed input h, ``l = h + norm(h · W_left · W_right)`` with ``W_left`` d_model × rank and
``W_right`` rank × d_model (``laurel_rank``); after the attention's residual add, the stream becomes
``(x + l) / √2``. Owns the schema, the weights (count terms and trace tensors, declared once), the trace steps, the
toy forward and the diagram's words; :mod:`gallery.counts`, :mod:`gallery.trace`, :mod:`gallery.toy` and
:mod:`gallery.diagram` wire them in.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt

from .specbase import Strict
from .steps import Ctx, Step, ew, linear
from .terms import Weight, table, weight
from .toyops import Run

PART = "LAuReL"
RANK_TOY = 4  # the toy's rank


class Laurel(Strict):
    """A learned low-rank residual beside each layer's attention (Gemma 3n ``Gemma3nTextLaurelBlock``)."""

    rank: PositiveInt = Field(description="Width of the low-rank path d_model → rank → d_model (laurel_rank)")


def weights(d: tuple[str, int], m: Laurel) -> list[Weight]:
    """linear_left d_model → rank, linear_right rank → d_model, post_laurel_norm of d_model (in build order)."""
    r = ("laurel_rank", m.rank)
    return [weight("laurel", "laurel.linear_left", d, r), weight("laurel", "laurel.linear_right", r, d),
            weight("laurel", "laurel.post_laurel_norm", d)]


def steps(c: Ctx, m: Laurel) -> list[Step]:
    """From the attention's normed input h (T, d_model) to l = h + norm(h · W_left · W_right)."""
    W, x = table(weights(c.dm, m)), (c.T, c.d)
    return [linear(c, "laurel: linear_left", PART, W, "z = h · W_left (d_model → rank)", "laurel.linear_left"),
            linear(c, "laurel: linear_right", PART, W, "z · W_right (rank → d_model)", "laurel.linear_right"),
            c.norm("laurel: norm", PART, "laurel.post_laurel_norm", x),
            ew("laurel: + h", PART, x, "l = h + norm(z · W_right): the normed input plus its low-rank update")]


def merge_step(c: Ctx) -> Step:
    """After the attention's residual add: the stream and the LAuReL output averaged, scaled by √2."""
    return ew("laurel: merge", PART, (c.T, c.d), "x = (x + l) / √2", per=2)


def forward(R: Run, h: np.ndarray) -> np.ndarray:
    """The toy's l from the normed input h, one record per step of :func:`steps`."""
    z = R.linear("laurel: linear_right", R.linear("laurel: linear_left", h, "laurel.linear_left"),
                 "laurel.linear_right")
    return R.rec("laurel: + h", h + R.norm("laurel: norm", "laurel.post_laurel_norm", z))


def merge(R: Run, x: np.ndarray, l: np.ndarray) -> np.ndarray:  # noqa: E741
    return R.rec("laurel: merge", (x + l) / np.sqrt(2))


def lines(m: Laurel, d_model: int) -> list[str]:
    """The diagram's words for the side path."""
    return ["LAuReL (learned low-rank residual)", f"h → {d_model:,} → {m.rank:,} → {d_model:,}, norm, + h",
            "merged after the residual add: (x + l) / √2"]
