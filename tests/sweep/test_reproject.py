"""``reproject`` (``rollout calendar reload``) is set-based at national scale (issue 6): tasks
sharing a schedule are moved by one UPDATE, not one statement per task, and what it writes is
the same as per task (the CLI test in ``test_cli.py`` checks the values)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import AuditEvent, TaskSchedule, TrackedTask
from rollout.sweep import reproject
from tests.sweep.test_cli import OVERRIDE_2020

RELOAD_AT = datetime(2020, 6, 1, 10, 0, tzinfo=TZ)


def test_a_holiday_added_moves_1560_catalog_tasks_with_one_update(jilin, tmp_path):
    folder = tmp_path / "holidays"
    folder.mkdir()
    (folder / "2020.yaml").write_text(OVERRIDE_2020, encoding="utf-8")
    updates: list[str] = []

    def count(conn, cursor, statement, *_):
        if statement.lstrip().upper().startswith(("UPDATE TRACKEDTASK", "UPDATE TASKSCHEDULE")):
            updates.append(statement)

    sa.event.listen(jilin, "before_cursor_execute", count)
    try:
        with db.unit_of_work(jilin) as s:
            report = reproject(s, WorkingCalendar([folder]), RELOAD_AT)
    finally:
        sa.event.remove(jilin, "before_cursor_execute", count)
    # 4,805 tasks, all open on 06-01 (nothing submitted); the 1,560 county x domain catalog tasks
    # (60 counties x 26 domains, due 07-01) share one schedule: reminder-10 moves 06-16 -> 06-15
    assert (report.examined, report.moved) == (4805, 1560)
    assert len(updates) == 1, updates
    with db.read_session(jilin) as s:
        moved = s.exec(select(TaskSchedule.next_action_at)
                       .join(TrackedTask, col(TrackedTask.id) == TaskSchedule.task_id)
                       .where(col(TrackedTask.key).startswith("catalog:"))).all()
        assert set(moved) == {datetime(2020, 6, 15, 9, 0, tzinfo=TZ)}
        events = s.exec(select(AuditEvent.task_id).where(AuditEvent.kind == "task_schedule_moved")
                        .order_by(col(AuditEvent.id))).all()
        assert len(events) == 1560 and events == sorted(events)
