"""Learned weights on the terms of each residual add, and on the model's input, in two forms (the block's
``learned_residual``):

- ``scale_bias`` (ZAYA: ``ZayaResidualScaling``, ``ZayaModel.input_hidden_states_scale`` and
  ``input_hidden_states_bias``): after each sublayer ``ZayaDecoderLayer`` adds x = (x + b_r) · s_r + (y + b_y) · s_y,
  four vectors of d_model per sublayer (post_attention_residual_scale, post_mlp_residual_scale); before the first
  layer the embeddings become (e + b) · s (the embedding's ``input_scale``);
- ``residual_scale`` (Doge: ``DogeDecoderLayer.input_residual`` and ``post_attention_residual``): x = w ⊙ x + y, one
  vector of d_model per sublayer scaling what the residual carries.

They are elementwise weights, counted with the norms. :mod:`gallery.counts`, :mod:`gallery.trace` and
:mod:`gallery.toy` read the tensors from here.
"""

from __future__ import annotations

import numpy as np

from .steps import Ctx, Step, ew
from .terms import Weight, params, table, weight
from .toyops import Run

TENSORS = {"scale_bias": ("output_scale", "output_bias", "residual_scale", "residual_bias"),  # ZayaResidualScaling's
           "residual_scale": ("residual_scale",)}  # build order; Doge's one vector on the residual


def weights(d: tuple[str, int], label: str, form: str) -> list[Weight]:
    """The vectors of the residual add after sublayer ``label`` (attn, mixer, ffn) in the block's ``form``."""
    return [weight("norms", f"{label}_residual.{t}", d, tensor=f"{label}_residual.{t}") for t in TENSORS[form]]


def input_weights(d: tuple[str, int]) -> list[Weight]:
    """ZayaModel's scale and bias on the embeddings, before the first layer."""
    return [weight("norms", f"input_{t}", d, tensor=f"input_{t}") for t in ("scale", "bias")]


def step(c: Ctx, label: str, what: str, form: str) -> Step:
    """The residual add with its learned weights."""
    W = table(weights(c.dm, label, form))
    formula, per = (f"x = (x + b_r) · s_r + ({what} + b_y) · s_y", 5) if form == "scale_bias" else (
        f"x = w ⊙ x + {what}, w learned", 2)
    return ew("residual add", "residual", (c.T, c.d), formula, per=per,
              params=params(W, *(f"{label}_residual.{t}" for t in TENSORS[form])))


def forward(R: Run, label: str, form: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ZayaResidualScaling.forward(y, x), or DogeDecoderLayer's ``input_residual * residual + hidden_states``."""
    if form == "residual_scale":
        return R.rec("residual add", R.w[f"{label}_residual.residual_scale"] * x + y)
    s, b, rs, rb = (R.w[f"{label}_residual.{t}"] for t in TENSORS[form])
    return R.rec("residual add", (y + b) * s + (x + rb) * rs)


def text(form: str) -> str:
    """The residual edge's words in a diagram."""
    return " and output: (x + b) · s each, learned" if form == "scale_bias" else " × w, learned (w ⊙ x + f(x))"
