"""Replay a plan day by day: the sweep and the dispatcher at 09:00 each working day.

Used by ``rollout simulate`` (demos, tests) and ``rollout serve --demo``. It drives the real
domain functions (``rollout.sweep.sweep_all``, ``rollout.notifications.dispatch.dispatch``) with a
simulated ``now``: the same clock logic the scheduler uses, without one Prefect flow run per day
(about 1 s each here; a year would take minutes). Each sweep batch and each dispatch round is its
own unit of work, as in production.

An optional ``on_day`` hook acts for the units before the sweep of each day (the demo's seeded
progress); without it no task moves, which is what the reminder tests need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from rollout import db
from rollout.calendar import WorkingCalendar, at_local
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.sweep import sweep_all

SWEEP_TIME = time(9, 0)
DayHook = Callable[[Session, date, datetime], None]


@dataclass
class DayResult:
    """What one simulated working day did: outbox rows created/skipped, digests sent."""

    day: date
    created: int = 0
    skipped: int = 0
    sent: int = 0
    waiting_without_smtp: int = 0


@dataclass
class SimulationReport:
    """Per working day results, in order; non-working days are not listed (nothing runs)."""

    days: list[DayResult] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(d.created for d in self.days)

    @property
    def sent(self) -> int:
        return sum(d.sent for d in self.days)


def simulate(
    engine: sa.Engine,
    start: date,
    end: date,
    *,
    calendar: WorkingCalendar,
    config: DispatchConfig,
    on_day: DayHook | None = None,
    progress: Callable[[date], None] | None = None,
) -> SimulationReport:
    """Run every working day from ``start`` to ``end`` (local days, inclusive) at 09:00.

    Per working day: ``on_day`` (if any) in its own unit of work at 08:30, then the sweep as of
    09:00, batch by batch, then one dispatch run as of 09:00 plus the dispatcher's settle time
    (rows younger than that wait for the next round). Non-working days run nothing: no notice
    is ever sent on a weekend or holiday. The dispatcher's rate limit is lifted (a simulated day
    must not sleep). Raises ``ValueError`` when ``end`` is before ``start``;
    ``MissingHolidayData`` for a day in a year the calendar lacks.
    """
    if end < start:
        raise ValueError(f"结束日 {end} 早于开始日 {start}")
    config = replace(config, rate_per_second=1e9)
    report = SimulationReport()
    day = start
    while day <= end:
        if calendar.is_working_day(day):
            report.days.append(_run_day(engine, day, calendar, config, on_day))
        if progress:
            progress(day)
        day += timedelta(days=1)
    return report


def _run_day(
    engine: sa.Engine, day: date, calendar: WorkingCalendar, config: DispatchConfig,
    on_day: DayHook | None,
) -> DayResult:
    result = DayResult(day)
    now = at_local(day, SWEEP_TIME)
    if on_day is not None:
        with db.unit_of_work(engine) as session:
            on_day(session, day, now - timedelta(minutes=30))
    total = sweep_all(lambda: db.unit_of_work(engine), now, calendar)
    result.created, result.skipped = total.created, total.skipped
    sent = dispatch(
        lambda: db.unit_of_work(engine),
        now=now + timedelta(seconds=config.settle_seconds + 1),
        config=config, calendar=calendar,
    )
    result.sent, result.waiting_without_smtp = sent.sent, sent.waiting_without_smtp
    return result
