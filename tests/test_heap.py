"""views.heap: what a server keeps for good is frozen out of the collector's walks, and garbage never is."""

from __future__ import annotations

import gc
import sys
import types
import weakref

import pytest

from views import heap

from .test_app import _app


class Node:
    """Something that refers to itself: only the cyclic collector frees it."""

    def __init__(self):
        self.me = self


@pytest.fixture(autouse=True)
def thawed(monkeypatch):
    """Each test starts with nothing frozen and no settle remembered, and leaves the process so."""
    monkeypatch.setattr(heap, "_settled", None)
    gc.unfreeze()
    yield
    gc.unfreeze()


def _tracked(obj) -> bool:
    return any(o is obj for o in gc.get_objects())  # the permanent generation is not listed


def test_what_lives_is_frozen_and_garbage_is_collected_first():
    live, dead = Node(), Node()
    gone = weakref.ref(dead)
    del dead
    assert _tracked(live)
    assert heap.settle(("folder", "digest"))
    assert gone() is None  # collected, not frozen
    assert gc.get_freeze_count() > 0 and not _tracked(live)


def test_nothing_is_done_until_a_module_is_imported_or_the_folder_changes():
    assert heap.settle(("folder", "a"))
    later = Node()
    assert not heap.settle(("folder", "a"))
    assert _tracked(later)
    sys.modules["_heap_probe"] = types.ModuleType("_heap_probe")
    try:
        assert heap.settle(("folder", "a"))
    finally:
        del sys.modules["_heap_probe"]
    assert not _tracked(later)
    gone = weakref.ref(later)
    del later  # a frozen cycle dropped: reference counting cannot free it
    assert heap.settle(("folder", "a")) and gone() is not None  # a module went: only the new objects are walked
    assert heap.settle(("folder", "b")) and gone() is None  # the spec folder changed: everything is walked again


def test_a_run_of_the_app_freezes_what_it_loaded():
    assert gc.get_freeze_count() == 0
    _app("views/model.py", model="gpt2")
    assert gc.get_freeze_count() > 0
