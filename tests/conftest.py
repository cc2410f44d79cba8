"""Shared fixtures: the bundled specs, and the folders of real configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "arch_specs"
SPEC_FILES = sorted(SPEC_DIR.glob("*.yaml"))


def spec_ids():
    return [p.stem for p in SPEC_FILES]


@pytest.fixture(scope="session")
def bundled():
    """slug → (Spec, vendored config dict) for every bundled spec."""
    from gallery.loader import load_spec

    out = {}
    for path in SPEC_FILES:
        loaded = load_spec(path)
        assert loaded.spec is not None, loaded.problems
        config = json.loads((path.parent / loaded.spec.source.config).read_text())
        out[loaded.spec.slug] = (loaded.spec, config)
    return out
