"""Every mixer and feed-forward kind: one module per kind, collected automatically.

A new kind is a new module here defining its schema class and ``KIND``, a :class:`~.contract.MixerKind` or
:class:`~.contract.FfnKind` (see ``contract.py`` and CONTRIBUTING's "Add a mixer kind"); the spec's unions, the
counts, cache, FLOPs, diagram, trace, toy, compare table, catalogue and Trace page pick it up from here. Modules
without ``KIND`` (shared helpers) are skipped.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Any, Union

from pydantic import Field

from .contract import FfnKind, MixerKind


def _collect() -> tuple[tuple[MixerKind, ...], tuple[FfnKind, ...]]:
    found: list = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        kind = getattr(importlib.import_module(f"{__name__}.{info.name}"), "KIND", None)
        if kind is not None:
            found.append(kind)
    return (tuple(k for k in found if isinstance(k, MixerKind)), tuple(k for k in found if isinstance(k, FfnKind)))


MIXERS, FFNS = _collect()
_BY_CLASS: dict[type, MixerKind | FfnKind] = {k.schema: k for k in MIXERS + FFNS}


def mixer_kind(mixer: Any) -> MixerKind:
    """The registered kind of a spec's mixer."""
    return _BY_CLASS[type(mixer)]


def ffn_kind(ffn: Any) -> FfnKind:
    """The registered kind of a spec's feed-forward."""
    return _BY_CLASS[type(ffn)]


def union(kinds: tuple[MixerKind, ...] | tuple[FfnKind, ...]) -> Any:
    """The discriminated union (on ``kind``) of the kinds' schema classes, for the spec's ``Block``."""
    return Annotated[Union[tuple(k.schema for k in kinds)], Field(discriminator="kind")]


def schema_classes() -> dict[str, type]:
    """Every kind's schema class by its class name (``gallery.spec`` re-exports them)."""
    return {k.schema.__name__: k.schema for k in MIXERS + FFNS}
