"""Learned scales and biases on both terms of each residual add, and on the model's input (ZAYA:
``ZayaResidualScaling``, ``ZayaModel.input_hidden_states_scale`` and ``input_hidden_states_bias``).

After each sublayer ``ZayaDecoderLayer`` adds x = (x + b_r) · s_r + (y + b_y) · s_y, four vectors of d_model per
sublayer (post_attention_residual_scale, post_mlp_residual_scale); before the first layer the embeddings become
(e + b) · s. They are elementwise weights, counted with the norms; the block's ``learned_residual`` and the
embedding's ``input_scale`` switch them on. :mod:`gallery.counts`, :mod:`gallery.trace` and :mod:`gallery.toy` read
the tensors from here.
"""

from __future__ import annotations

import numpy as np

from .steps import Ctx, Step, ew
from .terms import Weight, params, table, weight
from .toyops import Run

TENSORS = ("output_scale", "output_bias", "residual_scale", "residual_bias")  # ZayaResidualScaling's build order


def weights(d: tuple[str, int], label: str) -> list[Weight]:
    """The four vectors of the residual add after sublayer ``label`` (attn, mixer, ffn)."""
    return [weight("norms", f"{label}_residual.{t}", d, tensor=f"{label}_residual.{t}") for t in TENSORS]


def input_weights(d: tuple[str, int]) -> list[Weight]:
    """ZayaModel's scale and bias on the embeddings, before the first layer."""
    return [weight("norms", f"input_{t}", d, tensor=f"input_{t}") for t in ("scale", "bias")]


def step(c: Ctx, label: str, what: str) -> Step:
    """The residual add with its learned scales and biases."""
    W = table(weights(c.dm, label))
    return ew("residual add", "residual", (c.T, c.d), f"x = (x + b_r) · s_r + ({what} + b_y) · s_y", per=5,
              params=params(W, *(f"{label}_residual.{t}" for t in TENSORS)))


def forward(R: Run, label: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ZayaResidualScaling.forward(y, x)."""
    s, b, rs, rb = (R.w[f"{label}_residual.{t}"] for t in TENSORS)
    return R.rec("residual add", (y + b) * s + (x + rb) * rs)
