"""The reversible two-stream block (Reformer's ``ReformerLayer`` and ``_ReversibleFunction``,
``models/reformer/modeling_reformer.py``; RevNet, Gomez et al. 2017; Kitaev et al. 2020, §3).

The residual is kept as two streams of d_model, both the embeddings at the start (``ReformerEncoder`` concatenates
them). A layer reads (X₁, X₂) and writes Y₁ = X₁ + attention(norm(X₂)), then Y₂ = X₂ + feed-forward(norm(Y₁)): each
sublayer's output goes to the other stream, so training can recompute a layer's inputs from its outputs instead of
storing them. After the last layer the streams are concatenated [Y₁ | Y₂], and the final norm and the output head
read 2 × d_model. Owns the words, the trace steps around a layer's two sublayers and the toy's wiring;
:mod:`gallery.counts` (the final norm and head widths), :mod:`gallery.trace`, :mod:`gallery.toy` and
:mod:`gallery.diagram` hook it in. The toy layer's input and output are the two streams, (T, 2, d_model): stream 0 is
X₁ (transformers' ``attn_output``), stream 1 X₂ (``hidden_states``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .steps import Ctx, Step, ew
from .toyops import Run

STREAMS = 2


def width(arch) -> tuple[str, int]:
    """What the final norm and the head read: both streams, concatenated, or the one residual."""
    return ("2 × d_model", 2 * arch.d_model) if arch.reversible else ("d_model", arch.d_model)


def steps(c: Ctx, mixer: list[Step], ffn: list[Step]) -> list[Step]:
    """One layer: the two sublayers' steps (norm included), each added to the other stream."""
    T, d = c.T, c.d
    return [ew("take X₂", "residual", (T, STREAMS, d), "the second stream feeds attention", per=0, out=(T, d)),
            *mixer, ew("residual add", "residual", (T, d), "Y₁ = X₁ + attention(norm(X₂))"),
            *ffn, ew("residual add", "residual", (T, d), "Y₂ = X₂ + ffn(norm(Y₁))"),
            ew("stack streams", "residual", (T, d), "(Y₁, Y₂): the next layer's two streams", per=0,
               out=(T, STREAMS, d))]


def forward(R: Run, x: np.ndarray, mixer: Callable, ffn: Callable) -> np.ndarray:
    """The toy layer on the two streams x (T, 2, d): ``mixer`` and ``ffn`` run a sublayer with its norm."""
    x1, x2 = x[:, 0], R.rec("take X₂", x[:, 1])
    y1 = R.rec("residual add", x1 + mixer(x2))
    y2 = R.rec("residual add", x2 + ffn(y1))
    return R.rec("stack streams", np.stack([y1, y2], 1))


LINES = ["Reversible two-stream block", "Y₁ = X₁ + attention(norm(X₂))", "Y₂ = X₂ + feed-forward(norm(Y₁))",
         "(inputs recomputed from outputs in training)"]
