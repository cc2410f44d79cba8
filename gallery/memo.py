"""A result computed from one spec object, kept for as long as that object lives.

Specs are frozen pydantic models, so what follows from one (its parameter terms) holds for the object's
lifetime; a page asks for it many times over (the totals, the breakdown, the published figures, each compare
row and each change: ~7 times per model and compare table, profiled with 1,000 specs). Keyed by identity,
not value: pydantic cannot hash a spec with lists, and hashing by value would cost what the cache saves
(the pattern of ``functools.lru_cache``, with a weak reference instead of a strong key).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def per_object(fn: Callable[[K], V]) -> Callable[[K], V]:
    """``fn(obj)`` computed once per live ``obj``; the entry goes when the object does."""
    memo: dict[int, tuple[weakref.ref, V]] = {}

    def forget(key: int, ref: weakref.ref) -> None:
        if memo.get(key, (None,))[0] is ref:  # not an entry a later object with the same id made
            del memo[key]

    @wraps(fn)
    def cached(obj: K) -> V:
        hit = memo.get(id(obj))
        if hit is not None and hit[0]() is obj:
            return hit[1]
        value = fn(obj)
        key = id(obj)
        memo[key] = (weakref.ref(obj, lambda ref: forget(key, ref)), value)
        return value

    return cached
