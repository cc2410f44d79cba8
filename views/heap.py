"""The server's long-lived Python objects, kept out of the cyclic garbage collector's walks.

CPython's collector walks every tracked object at each full (oldest-generation) collection. A gallery server
holds ~140,000 of them from its imports alone (Streamlit, Altair, pandas) and more for every loaded spec, so a
full collection took 130-340 ms on the 2-core machine, and one ran on the script thread during most page loads
(issue 17; measured with ``gc.callbacks`` in a ``streamlit run`` server while Chromium loaded the Model page:
the page's script is 25-60 ms, the session's messages arrived over ~430 ms, and its renderer shared the two
cores with the collector). Modules and the spec index live as long as the server and are never garbage:
``gc.freeze`` (CPython's own tool for a long-lived heap) moves them out of the collector's sight, so a
collection walks only what sessions made since. Model page, same machine state, 7 loads each, before → after:
cold 1.70 → 1.52× the floor, warm 2.60 → 2.21×.

:func:`settle` is called by the frame at the end of each run and acts only when something long-lived arrived:
a module imported (a page's first run: the objects made since the last freeze are collected once, and what is
left is frozen) or the spec folder reloaded (then everything is thawed and collected first, so the old index and
any reference cycle among frozen objects is freed, ~150-350 ms). Reference counting still frees a frozen object
that is dropped; a reference cycle frozen while in use (a session's state) waits for the next reload.
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_settled: tuple | None = None  # the (modules, spec folder version) of the last freeze


def settle(version: object) -> bool:
    """Freeze the heap as it is now, unless no module was imported and the spec folder's ``version`` is the
    same since the last time; True when it froze."""
    global _settled
    key = (len(sys.modules), version)
    if _settled == key:
        return False
    with _lock:  # sessions' script threads may finish runs at once
        last = _settled
        if last == key:
            return False
        if last is None or last[1] != version:
            gc.unfreeze()  # a new folder version: what was frozen with the old one is walked (and freed) again
        gc.collect()  # so no garbage is frozen
        gc.freeze()
        _settled = key
        return True
