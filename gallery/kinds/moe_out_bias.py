"""One output bias of d_model shared by all experts, added once to their weighted sum (JetMoE's ``JetMoeMoE.bias``):
an option of the mixture of experts (:mod:`.moe`, its ``out_bias`` field): its weight, trace step and toy step.

Every token uses it whichever experts it picks, so it counts as active and, like any bias, as no matrix product.
"""

from __future__ import annotations

import numpy as np

from ..steps import Ctx, Step, ew
from ..terms import Weight, Weights, params, weight
from ..toyops import Run

DESCRIPTION = ("One bias of d_model added to the experts' weighted sum, shared by all experts (JetMoE "
               "JetMoeMoE.bias); every token uses it")
OP, NAME = "add experts' output bias", "moe_out_bias"


def weights(d: tuple[str, int]) -> list[Weight]:
    return [weight("experts", NAME, d, tensor=NAME)]


def step(c: Ctx, W: Weights) -> Step:
    return ew(OP, "experts", (c.T, c.d), "y + b (one bias for all experts)", params=params(W, NAME))


def forward(R: Run, y: np.ndarray) -> np.ndarray:
    return R.rec(OP, y + R.w[NAME])
