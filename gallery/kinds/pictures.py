"""Picture helpers the fixed-state kinds share on the Trace page: a 2-D array as heatmap cells, a causal
convolution's taps, a delta-rule state after each token."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .contract import Caption, Choose, Heatmap

if TYPE_CHECKING:
    import pandas as pd


def cells(a: np.ndarray, rows: str, cols: str) -> pd.DataFrame:
    """A 2-D array as long-form cells (row, column, value) for a :class:`Heatmap`."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    return pd.DataFrame([(i, j, float(a[i, j])) for i in range(a.shape[0]) for j in range(a.shape[1])],
                        columns=[rows, cols, "value"])


def taps_picture(steps: list) -> list:
    """The taps of the toy's causal convolution (the step that recorded them), if it has one."""
    conv = next((s for s in steps if "taps" in s.details), None)
    if conv is None:
        return []
    taps = conv.details["taps"]  # (taps, channels); the last tap multiplies the current token
    return [Heatmap(cells(taps, "tap", "channel"), "channel", "tap",
                    title=f"convolution taps: tap {taps.shape[0] - 1} is the current token"),
            Caption(f"The causal convolution mixes each channel over the current and {taps.shape[0] - 1} previous "
                    "tokens; between tokens the layer keeps only that window of inputs.")]


def delta_states(steps: list, choose: Choose, label: str) -> tuple[int, Heatmap, dict]:
    """The chosen head's delta-rule state after each token (the "write state" step of
    :func:`gallery.toyops.delta_rule`): the head, its heatmap, and the steps by op for the kind's own gates."""
    import pandas as pd  # with the picture: the CLI starts without pandas
    by_op = {s.op: s for s in steps}
    states = by_op["write state"].details["state after each token"]  # (T, heads, dk, dv)
    T, n_heads, dk, dv = states.shape
    head = choose(label, list(range(n_heads)), "head") or 0
    grid = [(f"after token {t}", i, j, float(states[t, head, i, j])) for t in range(T) for i in range(dk)
            for j in range(dv)]
    frame = pd.DataFrame(grid, columns=["state", "key dim", "value dim", "value"])
    return head, Heatmap(frame, "value dim", "key dim", "state", diverging=True, size=110, independent=False), by_op
