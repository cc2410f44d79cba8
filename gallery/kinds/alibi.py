"""ALiBi (attention with linear biases, Press et al. 2022): a position scheme of softmax attention with no parameters.

Each head h adds ``m_h · (j − i)`` to the score of query i and key j, a penalty that grows with the distance, with
the fixed slopes of ``BloomModel``'s ``_get_alibi_slopes`` (``build_mpt_alibi_tensor`` and Falcon's
``build_alibi_tensor`` give the same): for n heads and p the largest power of two ≤ n, ``m_h = 2^(−8h/p)`` for
h = 1 … p, then the odd slopes of 2p heads, ``2^(−4h/p)`` for h = 1, 3, …, for the remaining heads. BLOOM and MPT
add the bias after the 1/√head_dim scale; Falcon adds it before, so it is scaled too. transformers adds ``m_h · j``
(BLOOM, Falcon) or ``m_h · (j − (T − 1))`` (MPT): the same softmax, as each row differs by a constant. Used by
:mod:`gallery.kinds.softmax` (its ``alibi`` field): the schema, the trace step, the toy's bias, the label and the
compare row.
"""

from __future__ import annotations

from math import floor, log2

import numpy as np
from pydantic import Field

from ..specbase import Strict
from ..steps import Step, ew
from .contract import Fact


class Alibi(Strict):
    """Linear biases on the attention scores in place of position embeddings (BLOOM, MPT, Falcon with alibi)."""

    before_scale: bool = Field(False, description="The bias is added before the 1/√head_dim scale, so it is scaled "
                               "too (Falcon); false: after it (BLOOM, MPT)")


def slopes(n_heads: int) -> np.ndarray:
    """The per-head slopes m_h (``_get_alibi_slopes``)."""
    p = 2 ** floor(log2(n_heads))
    out = 2.0 ** (-8.0 * np.arange(1, p + 1) / p)
    extra = min(p, n_heads - p)
    return np.concatenate([out, 2.0 ** (-4.0 * np.arange(1, 2 * extra, 2) / p)])


def bias(alibi: Alibi, n_heads: int, T: int, scale: float) -> np.ndarray:
    """(heads, T query, T key): m_h · (j − i), times ``scale`` when the bias comes before the scale."""
    distance = np.arange(T)[None, :] - np.arange(T)[:, None]
    return slopes(n_heads)[:, None, None] * distance * (scale if alibi.before_scale else 1.0)


def step(part: str, n_heads: int, T: int, alibi: Alibi) -> Step:
    """The trace step that adds the bias to the scaled scores (one addition per score)."""
    scaled = " × the scale (Falcon adds m_h · j before scaling)" if alibi.before_scale else ""
    return ew("ALiBi bias", part, (n_heads, T, T), f"S + m_h · (j − i){scaled}, m_h = {_slopes_text(n_heads)}; no "
              "parameters (transformers adds m_h · j: the same softmax)")


def _slopes_text(n_heads: int) -> str:
    shown = ", ".join(f"{m:.4g}" for m in slopes(n_heads)[:4])
    return f"[{shown}{', …' if n_heads > 4 else ''}]"


def text(alibi: Alibi) -> str:
    """ALiBi in words for a diagram label."""
    return "ALiBi: a linear bias m_h · (j − i) per head" + (" (before the scale)" if alibi.before_scale else "")


FACT = Fact("Positions", "ALiBi", lambda m: "none" if getattr(m, "alibi", None) is None else
            "before the scale" if m.alibi.before_scale else "after the scale")
