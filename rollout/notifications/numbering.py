"""Who may take notice numbers when, so the numbers of committed rows stay gap-free and in
order (``rollout.notifications.notices``), while the batches of one sweep write at once.

Two ways to number, one lock. Every writer of numbered notices on PostgreSQL holds the
numbering lock, ``pg_advisory_xact_lock(NUMBERING_LOCK)`` (``hold_numbering``), and takes it
before any task row: a writer holding a task row while it waits for the lock could wait on a
sweep that waits, in Python, for that row.

- **Lock first** (a lone transaction: ``sweep_tasks`` / ``enqueue_step_notices`` without a
  ticket): hold the lock, take the numbers from ``NoticeCounter``, write the rows, commit.
  Every such writer queues behind the one before it for its whole write.
- **Predicted** (the batches of one ``rollout.sweep.sweep_all``, or of one flow run's province
  sweeps, on PostgreSQL): the holder keeps the lock in a guard transaction for its whole run
  (``start_numbering``), so no one outside it takes numbers in the meantime. Its batches are
  tickets of one ``NumberSequencer``: each, in ticket order, predicts its numbers from the
  counter plus the rows the batches before it planned (``predict``), writes its rows with them,
  and only then waits for the batches before it to end (``wait_turn``), takes the numbers from
  the counter and commits. The writes of two batches overlap; the commits, and so the counter,
  go in ticket order (a batch that numbers nothing does not wait). A batch that failed, or
  wrote fewer rows than it planned (some existed), takes nothing or only what it wrote; the
  batches after it that had predicted find their prediction too high and renumber their rows
  down (``enqueue_step_notices``), and those that predict later get the numbers it left, unless
  a batch still in flight predicted after it (no prediction reaches into uncommitted numbers).

Measured (``bench/sweep_ab.py --old 0cfe9e1``, 1,215,157 tasks, 74,100 due, two batches at
once, 2-core AMD EPYC, three alternated rounds): lock first, a batch's INSERT waited for the
commit of the one before, 0.7-0.95 s in all, and the sweep took 2.20-2.23 s; predicted,
1.73-1.91 s (peak RSS 152 -> 157 MiB: the reserved ids).

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


class TurnTimeout(RuntimeError):
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


def start_numbering(session: Session) -> NumberSequencer | None:
    """On PostgreSQL: hold the numbering lock in ``session``'s transaction (the guard of a sweep,
    or of a flow's province sweeps, for as long as they run) and return the sequencer of the
    batches that number under it. On SQLite: None (each batch numbers lock first)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    hold_numbering(session)
    return NumberSequencer()


class NumberSequencer:
    """The number plan of the batches that number under one holder of the numbering lock, in
    the order they take their tickets (``ticket``), shared by the threads that run them.

    Each batch predicts in ticket order and, if it numbers rows, ends (commits or fails) in
    ticket order. A batch that fails, or writes fewer numbered rows than it planned, hands its
    unused numbers to the batches that predict after its end, but only in a series no later
    batch has predicted in yet: a prediction never reaches into the numbers of a batch still in
    flight (their INSERTs would wait on each other's uncommitted rows). Batches that predicted
    too high renumber down at their turn. Waits raise ``TurnTimeout`` after ``turn_timeout_s``
    (default ``TURN_TIMEOUT_S``)."""

    def __init__(self, turn_timeout_s: float | None = None) -> None:
        self.turn_timeout_s = TURN_TIMEOUT_S if turn_timeout_s is None else turn_timeout_s
        self._cond = threading.Condition()
        self._next: dict[CounterKey, int] = {}  # the next number to predict per series
        self._tickets = 0
        self._passed: dict[str, set[int]] = {"_predicted": set(), "_ended": set()}
        self._predicted = 0  # tickets 0 .. _predicted-1 have predicted (or passed)
        self._ended = 0  # tickets 0 .. _ended-1 have ended

    def ticket(self) -> NumberTicket:
        """The next ticket (a batch takes one when it starts)."""
        with self._cond:
            self._tickets += 1
            return NumberTicket(self, self._tickets - 1)

    def _wait(self, index: int, turn: str) -> None:
        deadline = time.monotonic() + self.turn_timeout_s
        while getattr(self, turn) < index:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TurnTimeout(f"第 {index + 1} 批等候第 {index} 批超过 {self.turn_timeout_s:g} 秒")
            self._cond.wait(left)

    def _pass(self, index: int, turn: str) -> None:
        """Ticket ``index`` is past ``turn``; the turn moves on over every ticket past it."""
        passed = self._passed[turn]
        passed.add(index)
        while getattr(self, turn) in passed:
            passed.discard(getattr(self, turn))
            setattr(self, turn, getattr(self, turn) + 1)
        self._cond.notify_all()


class NumberTicket:
    """One batch's place in a ``NumberSequencer``: ``predict`` (at most once), ``wait_turn``,
    then ``end`` (after its commit, or on any error, ``committed=False``)."""

    def __init__(self, sequencer: NumberSequencer, index: int) -> None:
        self._seq, self.index = sequencer, index
        self._predicted = False
        self._ended = False
        self.firsts: dict[CounterKey, int] = {}  # predicted first number per series
        self.planned: dict[CounterKey, int] = {}  # numbered rows planned per series
        self.settled: dict[CounterKey, int] = {}  # per series, the number after its last taken

    def predict(
        self, session: Session | None, counts: dict[CounterKey, int], rows: int = 0
    ) -> tuple[dict[CounterKey, int], list[int]]:
        """For this batch: the first number of each series of ``counts`` (series → numbered rows
        planned), and ``rows`` outbox ids, ascending (``reserve_ids``). Waits until the tickets
        before it have predicted, then continues each series after them (a series new to the
        sequencer continues the committed counter, read in ``session``), so numbers, and ids,
        ascend with the tickets. Raises ``TurnTimeout``."""
        seq = self._seq
        with seq._cond:
            seq._wait(self.index, "_predicted")
            firsts = {key: seq._next[key] if key in seq._next else counter_value(session, key) + 1
                      for key in sorted(counts)}
            for key, first in firsts.items():  # all at once: end() undoes them on a failure
                seq._next[key] = first + counts[key]
            self.firsts, self.planned = firsts, dict(counts)
            ids = reserve_ids(session, rows) if rows else []
            self._predicted = True
            seq._pass(self.index, "_predicted")
            return dict(firsts), ids

    def wait_turn(self) -> None:
        """Return once every ticket before this one has ended (the counter is then theirs to
        read). Raises ``TurnTimeout``."""
        with self._seq._cond:
            self._seq._wait(self.index, "_ended")

    def end(self, committed: bool) -> None:
        """This batch has committed (``settled``: what the counter holds after it) or failed
        (nothing it wrote stays): the next ticket may take its turn. In a series no later
        ticket has predicted in, the next prediction starts right after what this batch
        committed (or where its own prediction started). Idempotent."""
        seq = self._seq
        with seq._cond:
            if self._ended:
                return
            self._ended = True
            for key, first in self.firsts.items():
                if seq._next[key] == first + self.planned[key]:  # no prediction after ours
                    seq._next[key] = self.settled.get(key, first) if committed else first
            if not self._predicted:
                seq._pass(self.index, "_predicted")
            seq._pass(self.index, "_ended")
