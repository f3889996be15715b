"""Python's cyclic garbage collector paused around bulk work (the sweep's batches).

A sweep batch makes hundreds of thousands of short-lived tuples, lists and dicts (rows, notices,
JSON). Each 700 of them start a young collection, and the survivors soon start a full one,
which walks every object the process holds: SQLAlchemy's, pydantic's and Prefect's modules
included. On the national day (74,100 due tasks, 8 batches) that was about a third of the
sweep's Python time: 2.3-2.7 s of CPU with the collector running, 1.3-1.8 s without
(``bench/run.py``'s database, alternated runs).

``paused_gc()`` turns the collector off while any caller is inside (threads included: the
sweep runs batches on two at once), and on the way out collects the youngest generation, where
everything made meanwhile sits, so a batch's reference cycles (sessions, results) are freed batch
by batch instead of piling up over a long sweep. Reference counting, which frees everything else,
is never paused.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0
_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector for the block (re-entrant, thread-safe); when the block
    ends, collect generation 0, and when the last block ends, re-enable the collector if it
    was enabled before the first one began."""
    global _inside, _was_enabled
    with _lock:
        if _inside == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _inside += 1
    try:
        yield
    finally:
        gc.collect(0)
        with _lock:
            _inside -= 1
            if _inside == 0 and _was_enabled:
                gc.enable()
