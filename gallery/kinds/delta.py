"""What the two delta-rule mixers share beyond the recurrence (:func:`gallery.toyops.delta_rule`): their compare rows,
the toy's draw of decay rates and convolution taps, and the Trace page's picture of one head's state with its gates.

Each of the two passes its head counts and widths; the picture reads the steps the toy recorded: the state after each token, the decay factors exp(g) (one per head, or one per key channel), and the
write strength β.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .contract import Caption, Choose, Fact, Picture, Table
from .pictures import delta_states

Get = Callable[[Any], int]


def facts(qk_heads: Get, v_heads: Get, k_dim: Get, v_dim: Get) -> tuple[Fact, ...]:
    """The compare rows: linear-attention heads and widths, the convolution kernel."""
    group = "Fixed-state mixers"
    return (Fact(group, "linear-attention Q/K heads", qk_heads), Fact(group, "linear-attention V heads", v_heads),
            Fact(group, "linear-attention head dim", lambda m: f"{k_dim(m)} (V {v_dim(m)})"),
            Fact(group, "conv kernel", lambda m: m.conv_kernel))


def init(prefix: str = "") -> dict[str, Callable]:
    """Toy weights drawn by a rule of their own: decay rates (``prefix`` + A_log, dt_bias), convolution taps."""
    return {
        f"{prefix}A_log": lambda rng, shape: np.log(rng.uniform(0.1, 1.0, shape)),  # exp(g) mostly in 0.3–0.95
        f"{prefix}dt_bias": lambda rng, shape: 0.2 * rng.standard_normal(shape),
        "conv1d.weight": lambda rng, shape: rng.standard_normal(shape) / np.sqrt(shape[-1]),  # (channels, kernel)
    }


def picture(label: str, caption: Callable[[int, int, int], str]) -> Picture:
    """One head's state after each token, with its decay (the range over key channels when each has its own) and
    write strength per token; ``caption(head, dk, dv)`` says what the state is."""
    def draw(steps: list, choose: Choose) -> list:
        import pandas as pd  # with the picture: the CLI starts without pandas
        head, heatmap, by_op = delta_states(steps, choose, label)
        T, _, dk, dv = by_op["write state"].details["state after each token"].shape
        decay = next(s.details["decay factor exp(g)"] for s in steps if "decay factor exp(g)" in s.details)[:, head]
        beta = next(s.value for s in steps if s.op.startswith("β = "))  # (T, heads)
        columns = {"decay exp(g)": decay} if decay.ndim == 1 else {
            "decay exp(g), lowest channel": decay.min(-1), "decay exp(g), highest channel": decay.max(-1)}
        gates = pd.DataFrame({"token": range(T), **columns, "write strength β": beta[:, head]})
        return [heatmap, Table(gates.round(4)), Caption(caption(head, dk, dv))]
    return draw
