"""Zero-compute experts, an option of the mixture of experts (LongCat-Flash ``zero_expert_num``): identity experts
that the router scores together with the real ones.

``LongcatFlashTopkRouter`` scores ``n_experts + zero_experts`` with one classifier (its correction bias, a buffer,
covers them all and is used for the choice only); ``LongcatFlashExperts`` sends a token picked for a zero expert
through ``nn.Identity``: it adds w · x, no weights, no FLOPs. ``gate_up_proj`` is built for every expert, the identity
ones included (rows no token reads: a count quirk), ``down_proj`` for the real ones only. How many real experts a
token uses depends on the data: from top_k − zero_experts (at least none) to top_k (``gallery.counts.active_bounds``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..steps import Ctx, Step, ew
from ..terms import Weight
from ..toyops import Run


def scored(f) -> tuple[str, int]:
    """The experts the router scores: the real ones and the zero-compute ones."""
    if not f.zero_experts:
        return ("n_experts", f.n_experts)
    return ("n_experts + zero_experts", f.n_experts + f.zero_experts)


def weights(chain: Callable[..., list[Weight]], f, width_in: tuple[str, int]) -> list[Weight]:
    """The experts' tensors: ``chain(…, n)`` for the real ones; with zero experts gate and up for every scored
    expert (LongcatFlashExperts.gate_up_proj), down for the real ones."""
    args = ("experts", "experts.", width_in, ("d_expert", f.d_expert), f.gated, f.expert_bias)
    real = chain(*args, ("n_experts", f.n_experts))
    if not f.zero_experts:
        return real
    return [w for w in chain(*args, scored(f)) if "down_proj" not in w.name] + [
        w for w in real if "down_proj" in w.name]


def steps(c: Ctx, f) -> list[Step]:
    """After the chosen experts' MLPs: a pick among the zero experts returns the token itself."""
    if not f.zero_experts:
        return []
    return [ew("zero experts: identity", "experts", (c.T, f.top_k, c.d), f"a pick among the {f.zero_experts} "
               "zero-compute experts returns x itself (nn.Identity: no weights)", per=0)]


def forward(R: Run, f, x: np.ndarray, idx: np.ndarray, run: Callable[[], np.ndarray]) -> np.ndarray:
    """``run()`` (the chosen experts' MLPs), where a zero expert's down projection is zero, then its pick replaced
    by x."""
    if not f.zero_experts:
        return run()
    weights, down = R.w, R.w["experts.down_proj.weight"]
    R.w = {**weights, "experts.down_proj.weight": np.concatenate([down, np.zeros((f.zero_experts, *down.shape[1:]))])}
    y = run()
    R.w = weights
    return R.rec("zero experts: identity", np.where((idx >= f.n_experts)[..., None], x[:, None, :], y))


def picks(f) -> str:
    """" + 256 zero-compute" after the experts a router picks from."""
    return f" + {f.zero_experts} zero-compute" if f.zero_experts else ""


def up_to(f) -> str:
    """"up to " before the experts a token uses, when some of its picks may be zero experts."""
    return "up to " if f.zero_experts else ""


def identity_line(f) -> str:
    """The diagram's line for the zero experts."""
    return f"a pick among the {f.zero_experts} zero-compute experts adds w · x" if f.zero_experts else ""
