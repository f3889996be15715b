"""Who may take notice numbers when, so the numbers of committed rows stay gap-free and in
order (``rollout.notifications.notices``), while the batches of one sweep write at once.

Two ways to number, one lock. Every writer of numbered notices on PostgreSQL first holds the
numbering lock: ``pg_advisory_xact_lock(NUMBERING_LOCK)`` (``hold_numbering``).

- **Lock first** (a lone transaction: ``enqueue_step_notices`` without a ticket): hold the lock,
  take the numbers from ``NoticeCounter``, write the rows, commit. Every such writer queues
  behind the one before it for its whole write.
- **Predicted** (the batches of one ``rollout.sweep.sweep_all`` on PostgreSQL): the sweep holds
  the lock in a guard transaction for its whole run, so no one outside it takes numbers in the
  meantime. Its batches are tickets of one ``NumberSequencer``: each, in batch order, predicts
  its numbers from the counter plus the rows the batches before it planned (``predict``), writes
  its rows with them, and only then waits for the batch before it to commit (``wait_turn``),
  takes the numbers from the counter and commits. The writes of two batches overlap; the
  commits, and so the counter, go in batch order. A batch that wrote fewer rows than it planned
  (some existed) takes only what it wrote, and the batch after it finds its prediction too high
  and renumbers its rows down (``enqueue_step_notices``).

Measured (``bench/sweep_ab.py --old 0cfe9e1``, 1,215,157 tasks, 74,100 due, two batches at
once, 2-core AMD EPYC, three alternated rounds): lock first, a batch's INSERT waited for the
commit of the one before, 0.7-0.95 s in all, and the sweep took 2.20-2.23 s; predicted,
1.89-1.91 s (peak RSS 152 -> 157 MiB: the reserved ids).

A batch waits in Python for the one before it, where the database's deadlock detector cannot
see the wait; so the wait is bounded (``TURN_TIMEOUT_S``, ``TurnTimeout``), and ``sweep_all``
sweeps a batch that gave up its turn again, alone, once the batches in flight have ended.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from sqlmodel import Session

from rollout.models import NoticeCounter

NUMBERING_LOCK = 7_205_201_506_221_311_041
"""The PostgreSQL advisory lock key (a bigint) of notice numbering: held by each lock-first
writer for its transaction and by a sweep's guard transaction for the whole sweep."""

TURN_TIMEOUT_S = 10.0
"""Seconds a batch waits for the batch before it (``NumberTicket``) before it gives up its turn
(``TurnTimeout``). A batch takes well under a second (10,000 tasks, bench/sweep_ab.py)."""

CounterKey = tuple[int, str, int]
"""(plan id, prefix, year): one series of notice numbers (``NoticeCounter``'s key)."""


class BatchAborted(RuntimeError):
    """An earlier batch of the same sweep failed; this one rolls back (its numbers would follow
    numbers that are never committed)."""


class TurnTimeout(BatchAborted):
    """A batch waited ``TURN_TIMEOUT_S`` for the batch before it. Most likely the two are in a
    cycle the database cannot see: the batch before waits for a row another transaction holds
    (a calendar reload, a city's sign-off), and that transaction waits for a row this batch
    holds. The batch rolls back, releasing its rows; ``sweep_all`` sweeps it again once the
    batches before it have ended, one batch at a time."""


class NumberingRaced(RuntimeError):
    """The counter was ahead of a batch's prediction: someone took numbers without the
    numbering lock. The batch rolls back rather than number over rows it cannot see."""


def hold_numbering(session: Session) -> None:
    """Hold the numbering lock until ``session``'s transaction ends (PostgreSQL; a no-op on
    SQLite, whose write transactions hold the whole database). Waits while another transaction
    holds it."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(NUMBERING_LOCK)))


def counter_value(session: Session, key: CounterKey) -> int:
    """The last number committed in the series ``key`` (0 before its first)."""
    c = NoticeCounter.__table__
    plan_id, prefix, year = key
    last = session.execute(sa.select(c.c.last_number).where(
        c.c.plan_id == plan_id, c.c.prefix == prefix, c.c.year == year)).scalar()
    return int(last or 0)


def reserve_ids(session: Session, n: int) -> list[int]:
    """``n`` new ``OutboxMessage`` ids from its sequence (PostgreSQL), ascending: a batch that
    writes with predicted numbers takes its ids in the same turn, so ids ascend with numbers
    even though the INSERTs of two batches run at once. Ids of rows that turn out to exist are
    left unused (gaps in ids are harmless)."""
    return sorted(session.execute(sa.text(
        "SELECT nextval(pg_get_serial_sequence('outboxmessage', 'id')) "
        "FROM generate_series(1, :n)"), {"n": n}).scalars().all())


class NumberSequencer:
    """The number plan of one sweep's batches, in batch order (indexes 0, 1, …), shared by the
    threads that run them. Only valid while the sweep holds the numbering lock.

    Raises ``BatchAborted`` from a wait of batch i once a batch before i has failed, and
    ``TurnTimeout`` once it has waited ``turn_timeout_s`` (default ``TURN_TIMEOUT_S``)."""

    def __init__(self, turn_timeout_s: float | None = None) -> None:
        self.turn_timeout_s = TURN_TIMEOUT_S if turn_timeout_s is None else turn_timeout_s
        self._cond = threading.Condition()
        self._next: dict[CounterKey, int] = {}
        self._predicted = 0  # batches 0 .. _predicted-1 have predicted (or passed)
        self._ended = 0  # batches 0 .. _ended-1 have committed
        self._failed: int | None = None  # the first failed batch

    def ticket(self, index: int) -> NumberTicket:
        """The ticket of batch ``index`` (0-based, the order the batches were cut in)."""
        return NumberTicket(self, index)

    def _wait(self, index: int, turn: str) -> None:
        deadline = time.monotonic() + self.turn_timeout_s
        while getattr(self, turn) < index:
            if self._failed is not None and self._failed < index:
                raise BatchAborted(f"第 {self._failed + 1} 批失败，其后的批次回滚")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TurnTimeout(f"第 {index + 1} 批等候第 {index} 批超过 {self.turn_timeout_s:g} 秒")
            self._cond.wait(left)


class NumberTicket:
    """One batch's place in a ``NumberSequencer``: ``predict`` (at most once), ``wait_turn``,
    then ``committed`` after its commit or ``failed`` on any error."""

    def __init__(self, sequencer: NumberSequencer, index: int) -> None:
        self._seq, self.index = sequencer, index
        self._predicted = False

    def predict(
        self, session: Session | None, counts: dict[CounterKey, int], rows: int = 0
    ) -> tuple[dict[CounterKey, int], list[int]]:
        """For this batch: the first number of each series of ``counts`` (series → numbered rows
        planned), and ``rows`` outbox ids, ascending (``reserve_ids``). Waits until the batch
        before it has predicted, then continues each series after the batches before it (a
        series new to the sweep continues the committed counter, read in ``session``), so
        numbers, and ids, ascend with the batches. Raises ``BatchAborted``."""
        seq = self._seq
        with seq._cond:
            seq._wait(self.index, "_predicted")
            firsts = {}
            for key in sorted(counts):
                if key not in seq._next:
                    seq._next[key] = counter_value(session, key) + 1
                firsts[key] = seq._next[key]
                seq._next[key] += counts[key]
            ids = reserve_ids(session, rows) if rows else []
            self._predicted = True
            seq._predicted += 1
            seq._cond.notify_all()
            return firsts, ids

    def wait_turn(self) -> None:
        """Return once every batch before this one has committed (the counter is then theirs
        to read); passes this batch's prediction turn if it made none. Raises ``BatchAborted``."""
        if not self._predicted:
            self.predict_nothing()
        with self._seq._cond:
            self._seq._wait(self.index, "_ended")

    def predict_nothing(self) -> None:
        """Pass this batch's prediction turn without numbers (it writes no numbered rows)."""
        if not self._predicted:
            self.predict(None, {})

    def committed(self) -> None:
        """This batch has committed: the next may take its numbers."""
        with self._seq._cond:
            self._seq._ended = self.index + 1
            self._seq._cond.notify_all()

    def failed(self) -> None:
        """This batch failed (rolled back): the batches after it abort."""
        seq = self._seq
        with seq._cond:
            if seq._failed is None or self.index < seq._failed:
                seq._failed = self.index
            seq._cond.notify_all()
