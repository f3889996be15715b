"""rollout.gc_pause: the collector is off inside, back on after the last block leaves (threads
and nesting included), left off if it was off, and cycles made inside are freed on the way out."""

from __future__ import annotations

import gc
import threading
import weakref

from rollout.gc_pause import paused_gc


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_paused_inside_and_enabled_after():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block is still inside
    assert gc.isenabled()


def test_stays_off_while_another_thread_is_inside():
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            entered.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert entered.wait(10)
    with paused_gc():
        pass
    assert not gc.isenabled()  # the other thread's block still runs
    leave.set()
    t.join(10)
    assert gc.isenabled()


def test_left_off_when_it_was_off_before():
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_cycle_made_inside_is_freed_on_the_way_out():
    with paused_gc():
        ref = weakref.ref(_Node())
        assert ref() is not None  # the cycle keeps it alive: nothing collects inside
    assert ref() is None
