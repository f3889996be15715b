"""Migration 0017 with data: the schedules move to ``taskschedule`` and back, nothing lost, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from rollout.calendar import TZ
from tests.conftest import run_migration
from tests.sweep.conftest import sweep_all

JUNE_16 = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
COLUMNS = "next_action_at, last_step_key, last_step_at"


def _rows(engine: sa.Engine, sql: str) -> dict[int, tuple]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.exec_driver_sql(sql)}


def test_down_to_0016_and_up_again_keeps_every_schedule(jilin, calendar):
    sweep_all(jilin, JUNE_16, calendar)  # 1,623 tasks get a latest step and a new next action
    with jilin.begin() as conn:  # one task closed behind the workflow's back keeps its next action
        conn.exec_driver_sql("UPDATE trackedtask SET state = 'submitted' "
                             "WHERE key = 'upload:220102:fiscal_budget'")
        closed = conn.exec_driver_sql("SELECT id FROM trackedtask "
                                      "WHERE key = 'upload:220102:fiscal_budget'").scalar_one()
    at_head = _rows(jilin, f"SELECT task_id, {COLUMNS} FROM taskschedule")
    assert len(at_head) == 4805
    assert sum(1 for r in at_head.values() if r[1] is not None) == 1623
    assert at_head[closed][0] is not None

    run_migration(jilin, command.downgrade, "0016_sweep")
    assert _rows(jilin, f"SELECT id, {COLUMNS} FROM trackedtask") == at_head
    assert "taskschedule" not in sa.inspect(jilin).get_table_names()

    run_migration(jilin, command.upgrade, "heads")
    # everything as it was, except that a task not open keeps no next action
    expected = dict(at_head)
    expected[closed] = (None, *at_head[closed][1:])
    assert _rows(jilin, f"SELECT task_id, {COLUMNS} FROM taskschedule") == expected
    assert {c["name"] for c in sa.inspect(jilin).get_columns("trackedtask")}.isdisjoint(
        {"next_action_at", "last_step_key", "last_step_at"})
