"""Layer patterns said compactly; every summary expands back to the layers it describes."""

from __future__ import annotations

import re

import pytest

from gallery.pattern import runs, summary

from .conftest import spec_ids


def _expand(text: str) -> list[str]:
    """Read a summary back (the inverse, written independently of the summariser)."""
    out: list[str] = []
    for part in re.findall(r"\(([^)]*)\) ×(\d+)|(\d+) ([\w-]+)", text):
        group, reps, n, kind = part
        if group:
            unit = []
            for item in group.split(" : "):
                count, name = item.split(" ")
                unit += [name] * int(count)
            out += unit * int(reps)
        else:
            out += [kind] * int(n)
    return out


@pytest.mark.parametrize(("layers", "expected"), [
    (["full"] * 32, "32 full"),
    (["dense"] + ["moe"] * 26, "1 dense, 26 moe"),
    ((["sliding"] * 5 + ["full"]) * 4 + ["sliding"] * 2, "(5 sliding : 1 full) ×4, 2 sliding"),
    (["sliding", "full"] * 13, "(1 sliding : 1 full) ×13"),
    (["dense"] * 3 + (["linear"] * 3 + ["full"]) * 8, "3 dense, (3 linear : 1 full) ×8"),
])
def test_summary_reads_like_a_paper(layers, expected):
    assert summary(layers) == expected


def test_runs():
    assert runs(["a", "a", "b", "a"]) == [("a", 2), ("b", 1), ("a", 1)]


@pytest.mark.parametrize("slug", spec_ids())
def test_every_bundled_pattern_round_trips(bundled, slug):
    layers = bundled[slug][0].arch.layers
    assert _expand(summary(layers)) == layers
