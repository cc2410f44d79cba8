"""Activation sparsity by a Gaussian top-k (Gemma 3n's first layers): an option of the dense MLP (:mod:`.mlp`).

``Gemma3nTextMLP._gaussian_topk``: where ``activation_sparsity_pattern`` gives a layer a sparsity s > 0, the gate
projection is cut before its activation at its own mean plus its standard deviation (over the hidden width, biased)
times Φ⁻¹(s), the standard normal quantile: g = relu(g − (mean(g) + std(g) · Φ⁻¹(s))). Were the gate's entries
normal, about 1 − s of them would stay non-zero (s 0.95: about 5 %). No parameters; this module gives the label
line, the trace step and the toy forward.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from ..steps import Shape, Step, ew

OP = "gaussian top-k"


def line(sparsity: float | None) -> str:
    """The label line ("" without sparsity)."""
    return f"sparse gate: Gaussian top-k keeps ~{1 - sparsity:.0%} (sparsity {sparsity:g})" if sparsity else ""


def step(part: str, hidden: Shape, sparsity: float) -> Step:
    """On every gate entry: the mean and standard deviation over the width, the cut-off, the shifted ReLU."""
    z = NormalDist().inv_cdf(sparsity)
    return ew(OP, part, hidden, f"g = relu(g − (mean(g) + std(g) · Φ⁻¹({sparsity:g}) = {z:.4f}·std)), mean and "
              "std over the width", per=6)


def apply(g: np.ndarray, sparsity: float) -> np.ndarray:
    """``_gaussian_topk`` in NumPy (std with the biased estimator, as ``unbiased=False``)."""
    cutoff = g.mean(-1, keepdims=True) + g.std(-1, keepdims=True) * NormalDist().inv_cdf(sparsity)
    return np.maximum(g - cutoff, 0)
