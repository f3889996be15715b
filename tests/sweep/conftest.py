"""Fixtures of the sweep tests: Prefect's test harness (a temporary local API and database for
the whole session) and a helper that sweeps every batch, one unit of work each."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.sweep import SweepReport
from rollout.sweep import sweep_all as _sweep_all


def sweep_all(
    engine: sa.Engine, now: datetime, calendar: WorkingCalendar, batch_size: int = 1000
) -> SweepReport:
    """Every batch of a sweep at ``now``, each committed in its own unit of work."""
    return _sweep_all(lambda: db.unit_of_work(engine), now, calendar, batch_size=batch_size)
