"""A gated norm: the block's RMSNorm, then × σ(fc2(silu(fc1 y))), a low-rank gate computed from the normed input.

Follows ``AXK2GatedRMSNorm`` and ``AXK2GateMLP`` (``models/axk2/modeling_axk2.py``, Megatron's ``GatedNormWrapper``):
y = RMSNorm(x), then y · σ(fc2(silu(fc1(y)))), fc1 d_model → rank and fc2 rank → d_model without biases
(``gated_norm_rank``). A.X-K2 uses it as ``input_layernorm`` in every layer and as ``post_attention_layernorm`` in its
MoE layers (its dense layers keep a plain RMSNorm there). The block's ``gated_norm`` switches it on; the norm's own
weight is counted with the other norms, the gate's two projections (matrices a token multiplies with) as
``norm_gates``. Owns the schema, the weights (count terms and trace tensors, declared once), the trace steps, the toy
forward and the words; :mod:`gallery.counts`, :mod:`gallery.trace`, :mod:`gallery.toy`, :mod:`gallery.diagram` and
:mod:`gallery.compare` wire them in.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, PositiveInt

from .specbase import Strict
from .steps import Ctx, Step, ew, linear
from .terms import Weight, table, weight
from .toyops import Run

PART = "norm gate"
RANK_TOY = 4  # the toy's rank


class GatedNorm(Strict):
    """A low-rank sigmoid gate after the norm before the mixer, and (``ffn``) after the norm before the feed-forward
    (A.X-K2 ``AXK2GatedRMSNorm``)."""

    rank: PositiveInt = Field(description="Width of the gate's bottleneck d_model → rank → d_model (gated_norm_rank)")
    ffn: bool = Field(description="Also the norm before the feed-forward (A.X-K2's MoE layers); false: the norm before "
                      "the mixer only")


def gated(g: GatedNorm | None, label: str) -> bool:
    """Whether the norm before sublayer ``label`` (``attn``, ``mixer`` or ``ffn``) carries the gate."""
    return g is not None and (label != "ffn" or g.ffn)


def weights(d: tuple[str, int], g: GatedNorm, label: str) -> list[Weight]:
    """The gate of the norm before sublayer ``label``: fc1 d_model → rank, fc2 rank → d_model (in build order)."""
    r, c = ("gated_norm_rank", g.rank), "norm_gates"
    return [weight(c, f"{label}_norm.mlp.fc1", d, r), weight(c, f"{label}_norm.mlp.fc2", r, d)]


def steps(c: Ctx, g: GatedNorm, label: str) -> list[Step]:
    """From the normed input y (T, d_model) to y · σ(fc2(silu(fc1 y)))."""
    W, n = table(weights(c.dm, g, label)), f"{label}_norm.mlp"
    return [linear(c, f"{label} gate: fc1", PART, W, "z = y · W_fc1 (d_model → rank)", f"{n}.fc1"),
            ew(f"{label} gate: silu", PART, (c.T, g.rank), "z · σ(z)", per=4),
            linear(c, f"{label} gate: fc2", PART, W, "g = silu(z) · W_fc2 (rank → d_model)", f"{n}.fc2"),
            ew(f"{label} gate: × σ", PART, (c.T, c.d), "y · σ(g): every channel of the normed input gated", per=4)]


def forward(R: Run, g: GatedNorm | None, label: str, y: np.ndarray) -> np.ndarray:
    """The toy's gate on the normed input y, one record per step of :func:`steps` (y itself where there is none)."""
    if not gated(g, label):
        return y
    n = f"{label}_norm.mlp"
    z = R.linear(f"{label} gate: fc1", y, f"{n}.fc1")
    s = R.linear(f"{label} gate: fc2", R.rec(f"{label} gate: silu", z / (1 + np.exp(-z))), f"{n}.fc2")
    gate = 1 / (1 + np.exp(-s))
    return R.rec(f"{label} gate: × σ", y * gate, gate=gate)


def lines(g: GatedNorm | None, label: str, d_model: int) -> list[str]:
    """The diagram's words under the gated norm's name (none for a plain norm)."""
    if not gated(g, label):
        return []
    return [f"× σ(fc2(silu(fc1 y))), {d_model:,} → {g.rank:,} → {d_model:,}"]


def text(g: GatedNorm | None) -> str:
    """The compare table's words."""
    return "none" if g is None else f"rank {g.rank}, before the mixer" + (" and the ffn" if g.ffn else "")
