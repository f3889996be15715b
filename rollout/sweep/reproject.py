"""Re-projection after holiday data changed: every open task's ``next_action_at`` recomputed
(``rollout calendar reload``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from rollout.calendar import TZ, WorkingCalendar
from rollout.deadlines import next_step
from rollout.errors import MissingHolidayData
from rollout.models import AuditEvent
from rollout.models.task import OPEN_STATES_SQL
from rollout.sweep.batch import TASK_COLUMNS, T, advance, policies_of
from rollout.sweep.decide import EPOCH, TaskOutcome, reload_cursor, waiting_note


@dataclass
class ReloadReport:
    """What ``reproject`` did: open tasks examined, tasks whose ``next_action_at`` or note
    moved (one ``task_schedule_moved`` audit event each), and keys still waiting for data."""

    examined: int = 0
    moved: int = 0
    waiting_for_holiday_data: list[str] = field(default_factory=list)


def reproject(session: Session, calendar: WorkingCalendar, now: datetime) -> ReloadReport:
    """Recompute ``next_action_at`` of every open task after holiday data changed.

    New value: the first step of the task's schedule (in ``calendar``) after its
    ``reload_cursor`` (the first step at all if none); a step already in the past is then sent by
    the next sweep. Each task whose value or ``schedule_note`` changes is updated (conditional
    on the state and ``next_action_at`` read, ``version`` untouched) and gets an ``AuditEvent``
    ``task_schedule_moved`` at aware ``now`` with before/after. Never commits.
    """
    report = ReloadReport()
    rows = list(session.execute(
        sa.select(*TASK_COLUMNS).where(sa.text(OPEN_STATES_SQL)).order_by(T.c.id)
    ))
    policies = policies_of(session, {t.milestone_id for t in rows})
    events: list[dict[str, Any]] = []
    for t in rows:
        report.examined += 1
        try:
            step = next_step(t.due_on, policies[t.milestone_id], calendar,
                             after=reload_cursor(t) or EPOCH)
            new_at, note = (step.at if step else None), None
        except MissingHolidayData as exc:
            new_at, note = None, waiting_note(exc.year)
            report.waiting_for_holiday_data.append(t.key)
        if (new_at, note) == (t.next_action_at, t.schedule_note):
            continue
        if not advance(session, TaskOutcome(t, None, [], new_at, note)):
            continue
        report.moved += 1
        events.append(dict(
            at=now, kind="task_schedule_moved", task_id=t.id, plan_id=t.plan_id, actor="system",
            before={"next_action_at": _iso(t.next_action_at), "schedule_note": t.schedule_note},
            after={"next_action_at": _iso(new_at), "schedule_note": note},
            detail={"reason": "节假日数据变更"},
        ))
    if events:
        session.execute(sa.insert(AuditEvent), events)
    return report


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(TZ).isoformat() if at else None
