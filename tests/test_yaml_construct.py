"""The loader's plain constructor (``yamlio.Loader.construct_plain``) builds what PyYAML's own constructor builds.

The reference is PyYAML's generic ``construct_document`` with the same parser, resolvers and checks: the same
data, or the same first problem (duplicate key, key that is a collection, integer out of range) at the same
place, for every bundled spec, for tricky documents and for damaged and generated ones.
"""

from __future__ import annotations

from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gallery import yamlio

from .conftest import SPEC_DIR

SPECS = {p.name: p.read_text() for p in sorted(SPEC_DIR.glob("*.yaml"))}
TRICKY = [
    "", "0", "~", "x", "[1, {a: 2}]", "- a\n- b: 1\n", "a: 1\nb: [1, 2.5, true, null, 2024-01-02, 'x', \"y\"]\n",
    "c: {d: {e: [f, {g: h}]}}\n", "a: !!set {x, y}\n", "a: !!str 5\nb: !!int '7'\n", "a: !!binary aGk=\n",
    "1: a\n1.0: b\n", "a:\n  b: 1\n  b: 2\nc: 99999999999999999999\n",  # the outer level is read first
    "a: 99999999999999999999\nb:\n  c: 1\n  c: 2\n", "x: .inf\ny: -.Inf\nz: .nan\nw: 0x1F\nv: 0o17\n",
    "? [a]\n: 1\n", "a: [[1, [2, [3, {b: [4]}]]]]\n", "{a: 1, b: {a: 1, a: 2}}\n", "a: yes\nb: on\nc: 010\n",
    "a: !custom 1\n", "a: 2024-13-01\n",
]


def _outcome(text: str):
    try:
        return "data", repr(yamlio.load(text)[0])  # repr: nan equals itself
    except yamlio.YamlProblem as p:
        return "problem", p
    except Exception as exc:  # noqa: BLE001 - compared, not hidden: both constructors must fail alike
        return "error", type(exc).__name__


def _both(text: str):
    fast = _outcome(text)
    with mock.patch.object(yamlio.Loader, "construct_plain", yamlio.Loader.construct_document):
        generic = _outcome(text)
    return fast, generic


@pytest.mark.parametrize("text", [*SPECS.values(), *TRICKY], ids=[*SPECS, *map(repr, TRICKY)])
def test_the_plain_constructor_builds_what_pyyaml_builds(text):
    fast, generic = _both(text)
    assert fast == generic


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**25, 10**25), st.floats(),
                   st.text(max_size=8), st.dates())
DOCS = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), inner, max_size=4), max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS, st.booleans(), st.text(max_size=20), st.integers(0, 200))
def test_generated_and_damaged_documents_come_out_alike(data, flow, insert, at):
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    for doc in (text, text[:at] + insert + text[at:]):
        fast, generic = _both(doc)
        assert fast == generic, doc
