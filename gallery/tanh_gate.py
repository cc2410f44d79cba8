"""Tanh-gated residual adds: each sublayer's output scaled by tanh of a learned scalar (Mllama's layers that attend to
the image, ``MllamaCrossAttentionDecoderLayer`` in ``models/mllama/modeling_mllama.py``).

After the attention, x = x + tanh(cross_attn_attn_gate) · attn(x); after the MLP, x = x + tanh(cross_attn_mlp_gate)
· mlp(x), where text rows that see no image have their MLP output zeroed first (``full_text_row_masked_out_mask``).
Both gates are one number each, zero at init, so a layer added to a trained text model starts as the identity. They
are elementwise weights, counted with the norms; the block's ``tanh_gated`` switches them on. :mod:`gallery.counts`,
:mod:`gallery.trace`, :mod:`gallery.toy` and :mod:`gallery.diagram` read them from here.
"""

from __future__ import annotations

import numpy as np

from .steps import Ctx, Step, ew
from .terms import Weight, params, table, weight
from .toyops import Run

TEXT = "output × tanh(g), g a learned scalar (0 at init)"  # the diagram's words on the residual edge


def weights(label: str) -> list[Weight]:
    """The gate of the residual add after sublayer ``label`` (attn, ffn): one scalar."""
    return [weight("norms", f"{label}_tanh_gate", ("1", 1), tensor=f"{label}_tanh_gate")]


def step(c: Ctx, label: str, what: str) -> Step:
    """The residual add with the sublayer's output gated."""
    extra = ", its rows zeroed for text that sees no image" if label == "ffn" else ""
    return ew("residual add", "residual", (c.T, c.d), f"x = x + tanh(g) · {what}{extra}", per=2,
              params=params(table(weights(label)), f"{label}_tanh_gate"))


def forward(R: Run, label: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x + tanh(gate) · y (every toy token sees the image, so no row is masked)."""
    return R.rec("residual add", x + np.tanh(R.w[f"{label}_tanh_gate"]) * y)
