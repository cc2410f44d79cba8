"""The per-layer pattern of a stack, said the way papers say it: "(5 sliding : 1 full) ×4 + 2 sliding".

``arch.layers`` lists every layer's block kind; :func:`runs` collapses it into runs, :func:`summary`
finds the shortest repeating unit and writes it compactly. Used by diagrams, fact sheets and the
compare table, so every view describes a stack with the same words.
"""

from __future__ import annotations

from itertools import groupby


def runs(layers: list[str]) -> list[tuple[str, int]]:
    """Consecutive layers of one kind: ``[full, full, moe] → [(full, 2), (moe, 1)]``."""
    return [(kind, len(list(group))) for kind, group in groupby(layers)]


def _unit(layers: list[str]) -> tuple[list[str], int, list[str]]:
    """The shortest prefix of two or more kinds that repeats, its repeat count, and the remainder."""
    for size in range(2, len(layers) // 2 + 1):
        unit = layers[:size]
        reps = 1
        while layers[reps * size:(reps + 1) * size] == unit:
            reps += 1
        if reps >= 2 and len(set(unit)) > 1:
            return unit, reps, layers[reps * size:]
    return layers, 1, []


def _say(run_list: list[tuple[str, int]]) -> str:
    return " : ".join(f"{n} {kind}" for kind, n in run_list)


def summary(layers: list[str]) -> str:
    """A short description of the pattern.

    One kind: ``"32 full"``. A prefix then the rest: ``"1 dense, 26 moe"``. A repeating unit:
    ``"(5 sliding : 1 full) ×4, 2 sliding"``; alternating: ``"(1 sliding : 1 full) ×13"``;
    a prefix before a unit: ``"3 dense, (3 linear : 1 full) ×8"``.
    """
    if not layers:
        return ""
    if len(set(layers)) == 1:
        return f"{len(layers)} {layers[0]}"
    unit, reps, rest = _unit(layers)
    if reps >= 2:
        text = f"({_say(runs(unit))}) ×{reps}"
        return f"{text}, {summary(rest)}" if rest else text
    kind, n = runs(layers)[0]  # a prefix (dense-first, say), then whatever follows
    return f"{n} {kind}, {summary(layers[n:])}"
