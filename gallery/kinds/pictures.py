"""Picture helpers the fixed-state kinds share on the Trace page: a 2-D array as heatmap cells, a causal
convolution's taps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import Caption, Heatmap


def cells(a: np.ndarray, rows: str, cols: str) -> pd.DataFrame:
    """A 2-D array as long-form cells (row, column, value) for a :class:`Heatmap`."""
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
