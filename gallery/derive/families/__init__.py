"""Every supported model type's family: one module per lineage, collected automatically.

A new lineage is a new module here defining :class:`~gallery.derive.family.Family` subclasses with a
``model_type``; nothing else needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..family import Family


def _collect() -> tuple[type[Family], ...]:
    found: dict[str, type[Family]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Family) and "model_type" in vars(obj):
                found.setdefault(obj.model_type, obj)
    return tuple(found.values())


ALL = _collect()
