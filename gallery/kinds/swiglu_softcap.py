"""A SwiGLU whose linear factors are soft-capped, an option of the routed experts of :mod:`.moe` (Inkling 2
``Inkling2SoftcappedSwiGLU`` in ``Inkling2Experts``, models/inkling2/modeling_inkling2.py).

h = cap_g(g) · σ(g) · cap_u(u), cap_c(x) = c · tanh(x / c): the sigmoid sees the raw gate, the soft-caps bound only
the gate's linear factor and ``up`` (computed in float32). No parameters. Owns the schema, the trace steps, the toy
forward and the words; :mod:`.mlp`'s chain runs them in place of its activation.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..specbase import Strict
from ..steps import Step, ew
from ..toyops import Run


class SwigluSoftcap(Strict):
    """Soft-caps of the experts' gate (its linear factor) and up projection, c · tanh(x / c)."""

    gate: float = Field(gt=0, description="Soft-cap of the gate's linear factor (mlp_gate_softcap)")
    up: float = Field(gt=0, description="Soft-cap of the up projection (mlp_up_softcap)")


def steps(part: str, hidden: tuple[int, ...], caps: SwigluSoftcap) -> list[Step]:
    """The caps, then the activation with the raw gate's σ, then the product."""
    g, u = f"{caps.gate:g}", f"{caps.up:g}"
    return [ew("soft-cap", part, hidden, f"g' = {g} · tanh(g / {g}); u' = {u} · tanh(u / {u})", per=6),
            ew("activation (softcapped silu)", part, hidden, "a = g' · σ(g): σ of the raw gate", per=5),
            ew("a ⊙ u", part, hidden, "h = a ⊙ u' (elementwise product)")]


def forward(R: Run, g: np.ndarray, u: np.ndarray, caps: SwigluSoftcap) -> np.ndarray:
    """The toy's steps of :func:`steps`."""
    gc = R.rec("soft-cap", caps.gate * np.tanh(g / caps.gate), **{"u capped": caps.up * np.tanh(u / caps.up)})
    a = R.rec("activation (softcapped silu)", gc / (1 + np.exp(-g)))
    return R.rec("a ⊙ u", a * caps.up * np.tanh(u / caps.up))


def line(caps: SwigluSoftcap | None) -> str:
    """The experts' label line ("" without caps)."""
    return f"SwiGLU soft-capped: gate's linear factor {caps.gate:g} · tanh(g / {caps.gate:g}), up {caps.up:g}" \
        if caps else ""
