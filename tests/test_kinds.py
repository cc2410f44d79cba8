"""The kinds registry: every registered mixer and feed-forward kind has every facet, and each works on a bundled
model that uses the kind; the spec's unions are exactly the registered kinds; outside config reading
(``gallery/derive/``) a kind is named only in its own module (and at most one more file that imports it).

Expected values come from the contract (the dataclass fields of ``MixerKind``/``FfnKind``), the bundled specs and
the source files, not from the facets under test.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gallery.kinds as registry
from gallery.kinds.contract import Caption, FfnKind, Heatmap, MixerKind, Side, Table
from gallery.layercache import LayerCache
from gallery.spec import KIND_TAGS, Block
from gallery.specbase import Strict
from gallery.steps import Ctx, Step
from gallery.terms import Term, WeightTerms, table
from gallery.toy import toy_trace

from .conftest import ROOT

KINDS = registry.MIXERS + registry.FFNS


def _kind_id(kind) -> str:
    return kind.schema.__name__


def test_every_kind_has_every_facet():
    for kind in KINDS:
        for f in dataclasses.fields(kind):
            value = getattr(kind, f.name)
            assert value is not None, f"{_kind_id(kind)} lacks {f.name}"
            if f.name in ("fill", "label", "block_name", "axis0"):
                assert isinstance(value, str) and value, f"{_kind_id(kind)}: {f.name}"
            elif f.name == "template":  # optional: the family tree's group of its models ("" keeps the organisation)
                assert isinstance(value, str)
            elif f.name == "facts":
                assert value and all(fact.group and fact.field and callable(fact.get) for fact in value)
            elif f.name not in ("schema", "init"):
                assert callable(value), f"{_kind_id(kind)}: {f.name} is not callable"
        assert isinstance(kind.schema, type) and issubclass(kind.schema, Strict) and kind.tags


def test_a_kind_missing_a_facet_cannot_be_registered():
    """The contract has no default for a facet every kind must write: leaving one out fails at import."""
    kind = registry.MIXERS[0]
    required = [f.name for f in dataclasses.fields(MixerKind) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    assert {"terms", "cache", "context_flops", "state_flops", "lines", "fill", "steps", "forward", "shrink", "facts",
            "picture", "name", "label"} <= set(required)
    values = {name: getattr(kind, name) for name in required}
    for name in required:
        with pytest.raises(TypeError):
            MixerKind(**{k: v for k, v in values.items() if k != name})
    ffn_required = [f.name for f in dataclasses.fields(FfnKind) if f.default is dataclasses.MISSING]
    assert {"terms", "routed", "extra_norms", "lines", "draw", "steps", "forward", "shrink", "facts"} <= set(
        ffn_required)


def test_the_spec_unions_are_the_registered_kinds():
    tags = [tag for kind in KINDS for tag in kind.tags]
    assert len(tags) == len(set(tags)) and set(tags) == KIND_TAGS  # one kind per tag, every tag a kind's
    mixer, ffn = (Block.model_fields[name].annotation for name in ("mixer", "ffn"))
    assert {k.schema for k in registry.MIXERS} <= set(_members(mixer))
    assert {k.schema for k in registry.FFNS} <= set(_members(ffn))


def _members(annotation) -> list[type]:
    import typing
    out = []
    for arg in typing.get_args(annotation):
        out += _members(arg) if typing.get_args(arg) else [arg]
    return [a for a in out if isinstance(a, type)]


def test_every_schema_class_with_a_kind_in_the_package_is_registered():
    registered = {k.schema for k in KINDS}
    for info in pkgutil.iter_modules(registry.__path__):
        module = importlib.import_module(f"gallery.kinds.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Strict) and "kind" in getattr(obj, "model_fields", {}):
                assert obj in registered, f"{obj.__name__} in gallery/kinds/{info.name}.py has no KIND"


# Kinds of model types no bundled spec has (no real config of theirs can be vendored): checked on the spec drafted from
# the smallest config transformers builds (varied where the default would leave an option out).
DRAFTED = {"reformer": {"model_type": "reformer", "is_decoder": True, "num_hashes": 2, "num_buckets": [4, 8]}}


@pytest.fixture(scope="module")
def users(bundled):
    """slug → (Spec, config) of the bundled specs and the drafted ones."""
    from gallery.trial import spec_from_config

    return {**bundled, **{f"drafted-{t}": (spec_from_config(c), c) for t, c in DRAFTED.items()}}


def _users(bundled, kind) -> list[tuple]:
    """(arch, block kind, layer index, part) of every bundled (or drafted) block kind whose mixer or ffn is of
    ``kind``."""
    out = []
    for spec, _ in bundled.values():
        for name, block in spec.arch.blocks.items():
            for part in ("mixer", "ffn"):
                if type(getattr(block, part)) is kind.schema:
                    out.append((spec.arch, name, spec.arch.layers.index(name), getattr(block, part)))
    return out


@pytest.mark.parametrize("kind", KINDS, ids=_kind_id)
def test_each_kind_is_used_and_each_facet_works_on_it(kind, users):
    found = _users(users, kind)
    assert found, f"no bundled spec uses {_kind_id(kind)}: the count, trace and toy tests would not pick it up"
    arch, name, layer, part = found[0]
    d = ("d_model", arch.d_model)
    terms = kind.terms(d, part, name)
    assert terms and all(isinstance(t, Term) and t.count > 0 for t in terms)
    assert isinstance(kind.name(part), str) and kind.name(part)
    assert all(isinstance(line, str) for line in kind.lines(part)) and kind.lines(part)[0]
    steps = kind.steps(Ctx(5, arch.d_model, arch), part)
    assert steps and all(isinstance(s, Step) for s in steps)
    assert steps[0].in_shape == (5, arch.d_model) and steps[-1].out_shape == (5, arch.d_model)
    assert sum(s.n_params for s in steps) == sum(t.count for t in terms)  # the trace holds the counted weights
    for fact in kind.facts:
        fact.get(part)
    assert isinstance(kind.shrink(part.model_dump()), dict)
    if isinstance(kind, MixerKind):
        cache = kind.cache(name, 3, part, arch.d_model)
        assert isinstance(cache, LayerCache) and cache.n_layers == 3 and cache.formula
        assert kind.context_flops(part, 1000) >= 0 and kind.state_flops(part) >= 0
        assert kind.context_flops(part, 1000) + kind.state_flops(part) > 0 or kind.fill == "linear"
        assert kind.fill in ("attention", "linear") and kind.label in ("attn", "mixer")
    else:
        k, experts = kind.routed(part)
        assert 1 <= k <= experts and kind.extra_norms(part) >= 0
    toy = toy_trace(arch, layer, 4)
    assert np.isfinite(toy.out).all()
    items = kind.picture(toy.steps, lambda label, options, key, bound=True, index=0: options[index])
    assert all(isinstance(i, (Heatmap, Side, Table, Caption)) for i in items)
    for heatmap in [i for i in items if isinstance(i, Heatmap)] + [m for i in items if isinstance(i, Side)
                                                                    for m in i.maps]:
        assert isinstance(heatmap.cells, pd.DataFrame) and {heatmap.x, heatmap.y, "value"} <= set(heatmap.cells)


@pytest.mark.parametrize("kind", KINDS, ids=_kind_id)
def test_each_weight_is_declared_once_for_the_count_and_the_trace(kind, users):
    """A kind's count terms and its trace tensors come from one declaration (``terms=WeightTerms(weights)``): on
    every bundled block of the kind, each declared tensor appears in exactly one trace step with its declared shape,
    and every tensor of the kind's steps is declared (the model's norms, built by the trace's ``Ctx.norm``, aside)."""
    assert isinstance(kind.terms, WeightTerms), f"{_kind_id(kind)}: terms not built from its weights"
    for arch, name, _, part in _users(users, kind):
        if getattr(part, "top_k", 1) is None:  # routing undefined: no trace
            continue
        declared = table(kind.terms.weights(("d_model", arch.d_model), part))
        used = [p for s in kind.steps(Ctx(5, arch.d_model, arch), part) for p in s.params]
        for tensor, param in declared.items():
            assert used.count(param) == 1, (name, tensor)
        model_norms = {f"{n}.{w}" for n in ("post_mlp_norm", "experts_norm", "post_experts_norm", "post_mlp_layernorm")
                       for w in ("weight", "bias")}  # Gemma 4's norms around a dense MLP beside the experts, A.X-K1's
        # after the whole MoE
        assert {p.name for p in used} - set(declared) <= model_norms, name


# --- the acceptance check of issue 13: a kind lives in one module ------------------------------------------------

NAMES = {  # how the four kinds of the issue are written in code, words and tags
    "gated_deltanet": r"gated[ _-]?deltanet",
    "mamba2": r"mamba[ _-]?2",
    "short_conv": r"short[ _-]?conv",
    "compressed": r"compressed[ _-]?attention|kinds\.compressed|\"compressed\"",
}


def _sources() -> list[Path]:
    """The app's source files outside config reading (gallery/derive/) and tests."""
    files = [*(ROOT / "gallery").rglob("*.py"), *(ROOT / "views").glob("*.py"), ROOT / "gallery_app.py"]
    return [p for p in files if not p.relative_to(ROOT).as_posix().startswith("gallery/derive/")]


@pytest.mark.parametrize("module", sorted(NAMES))
def test_a_kind_is_named_only_in_its_own_module(module):
    pattern = re.compile(NAMES[module], re.IGNORECASE)
    naming = sorted(str(p.relative_to(ROOT)) for p in _sources() if pattern.search(p.read_text(encoding="utf-8")))
    assert f"gallery/kinds/{module}.py" in naming
    others = [p for p in naming if p != f"gallery/kinds/{module}.py"]
    assert len(others) <= 1, f"{module} is named in {naming}"
    for path in others:  # at most one line that registers or imports it
        lines = [ln for ln in (ROOT / path).read_text(encoding="utf-8").splitlines() if pattern.search(ln)]
        assert len(lines) == 1 and "import" in lines[0], (path, lines)
