"""The sweep's selects use their partial indexes on PostgreSQL (issue 6, item 2).

The Jilin plan (4,805 tasks, 1,623 due on 2020-06-16) plus 100,000 open copies of catalog
tasks whose next action is in 2021: ~2% of the schedules are due, and once ANALYZE has run the
planner reads the due rows through ``ix_taskschedule_due``. Without that index (dropped inside a
rolled-back transaction) the same statement is a sequential scan, so the index is what the
plan rests on, not an accident of a small table.

The second test puts the due rows at the end of the id range (as one milestone's tasks are at
national scale): a select of the first batch written ``ORDER BY id LIMIT`` walks the primary key
there, reading every row before them; ``due_queries`` has no such clause and stays on the index.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from rollout import db
from rollout.calendar import TZ
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.sweep import due_ids, due_queries, select_tasks
from rollout.sweep.batch import T, _any_id, owned_in_province
from tests.conftest import LOADED_AT

JUNE_16 = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
COPIES = 100_000


def _explain(conn: sa.Connection, stmt: sa.Select) -> str:
    compiled = stmt.compile(dialect=conn.dialect)
    rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
    return "\n".join(rows)


LATER = "TIMESTAMPTZ '2021-01-04 09:00+08'"


def _copy_catalog_tasks(conn: sa.Connection, suffix: str, next_action_at: str, copies: int) -> None:
    """``copies`` open copies of each of the plan's 1,560 catalog tasks (keys ``…<suffix><n>``)
    and their schedules, with ``next_action_at`` (SQL), inserted after every row there is."""
    cols = ("plan_id, milestone_id, org_code, unit_code, domain_key, state, due_on, "
            "original_due_on, due_at, opened_at, times_returned, version")
    conn.exec_driver_sql(f"""
        INSERT INTO trackedtask (key, {cols})
        SELECT t.key || '{suffix}' || g, {cols}
        FROM generate_series(1, {copies}) AS g
        CROSS JOIN (SELECT * FROM trackedtask WHERE key LIKE 'catalog:%%'
                    AND key NOT LIKE '%%:copy%%') AS t""")
    conn.exec_driver_sql(f"""
        INSERT INTO taskschedule (task_id, next_action_at)
        SELECT id, {next_action_at} FROM trackedtask WHERE key LIKE '%%{suffix}%%'""")


def _jilin(pg_url: str, calendar) -> sa.Engine:
    engine = db.get_engine(pg_url)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    return engine


def test_the_due_select_uses_the_partial_index_pg(pg_url, calendar):
    engine = _jilin(pg_url, calendar)
    with engine.begin() as conn:
        _copy_catalog_tasks(conn, ":copy", LATER, COPIES // 1560)
        conn.exec_driver_sql("ANALYZE trackedtask")
        conn.exec_driver_sql("ANALYZE taskschedule")
    with engine.connect() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM trackedtask").scalar_one()
        assert total == 4805 + (COPIES // 1560) * 1560
        due_q, waiting_q = due_queries(JUNE_16)
        plan = _explain(conn, due_q)
        assert "ix_taskschedule_due" in plan, plan
        assert "Seq Scan" not in plan, plan
        assert "ix_trackedtask_waiting" in _explain(conn, waiting_q)
    with engine.connect() as conn:  # the same statement without the index, rolled back
        conn.exec_driver_sql("DROP INDEX ix_taskschedule_due")
        without = _explain(conn, due_q)
        conn.rollback()
    assert "Seq Scan on taskschedule" in without, without
    with db.read_session(engine) as s:
        # the indexed select still finds exactly the 1,623 due tasks of test_sweep.py
        ids = due_ids(s, JUNE_16)
        assert len(ids) == 1623 and list(ids) == sorted(ids)
        assert [t.id for t in select_tasks(s, ids, JUNE_16)] == list(ids)


def test_due_rows_at_the_end_of_the_ids_are_read_through_the_index_pg(pg_url, calendar):
    engine = _jilin(pg_url, calendar)
    with engine.begin() as conn:
        # every task so far has its next action in 2021; then 100,000 more like them; then the
        # 1,560 catalog tasks once more, due on 06-16: the last ids of the table
        conn.exec_driver_sql(f"UPDATE taskschedule SET next_action_at = {LATER}")
        _copy_catalog_tasks(conn, ":copy", LATER, COPIES // 1560)
        _copy_catalog_tasks(conn, ":due", "TIMESTAMPTZ '2020-06-16 09:00+08'", 1)
        conn.exec_driver_sql("ANALYZE trackedtask")
        conn.exec_driver_sql("ANALYZE taskschedule")
    due_q, _ = due_queries(JUNE_16)
    with engine.connect() as conn:
        plan = _explain(conn, due_q)
        first_batch = _explain(conn, due_q.order_by(sa.text("task_id")).limit(100))
    assert "ix_taskschedule_due" in plan and "taskschedule_pkey" not in plan, plan
    # what the ids select must not be: a batch small beside the due rows (100 of 1,560 here,
    # 10,000 of 74,100 at national scale), read in id order, walks the primary key
    assert "Index Scan using taskschedule_pkey" in first_batch, first_batch
    with db.read_session(engine) as s:
        ids = due_ids(s, JUNE_16)
        keys = {t.key for t in select_tasks(s, ids, JUNE_16)}
    assert len(ids) == 1560 and all(k.endswith(":due1") for k in keys)


def test_a_batchs_ids_reach_the_planner_as_one_constant_array_pg(pg_url, calendar):
    # The ids are bound as one array literal of unknown type: the server parses it as integer[]
    # and the planner holds a constant (hashed for a scan, or walked on the primary key). Bound
    # as VARCHAR and cast, the same array stays a cast (through cstring) in the plan: a
    # sequential scan would parse the whole list again for every row.
    engine = _jilin(pg_url, calendar)
    ids = list(range(1, 4806, 2))
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE trackedtask")
        plan = _explain(conn, sa.select(T.c.id).where(_any_id(ids)))
        literal = "{" + ",".join(map(str, ids)) + "}"
        as_varchar = sa.cast(sa.bindparam("ids", literal, type_=sa.String), postgresql.ARRAY(sa.Integer))
        cast_plan = _explain(conn, sa.select(T.c.id).where(T.c.id == sa.any_(as_varchar)))
        found = conn.execute(sa.select(sa.func.count()).where(_any_id(ids))).scalar_one()
    assert f"(id = ANY ('{literal}'::integer[]))" in plan, plan[:300]
    assert f"(id = ANY (('{literal}'::cstring)::integer[]))" in cast_plan, cast_plan[:300]
    assert found == len(ids) == 2403


def test_one_province_of_many_is_read_through_its_owners_pg(pg_url, calendar):
    # two counties stay in 220000, every other organization moves to 990000: the province owns
    # 2 × 26 catalog tasks of the 1,560 (and their copies), ~3 % of the table
    engine = _jilin(pg_url, calendar)
    with engine.begin() as conn:
        _copy_catalog_tasks(conn, ":copy", LATER, COPIES // 1560)
        conn.exec_driver_sql("UPDATE organization SET province_code = '990000' "
                             "WHERE code NOT IN ('220102', '220103')")
        conn.exec_driver_sql("ANALYZE")
    with db.read_session(engine) as s:
        due_q, _ = due_queries(JUNE_16, owned=owned_in_province(s, "220000"))
        plan = _explain(s.connection(), due_q)
        ids = due_ids(s, JUNE_16, province_code="220000")
        owners = {t.org_code for t in select_tasks(s, ids, JUNE_16)}
    assert "ix_trackedtask_org_milestone_state" in plan, plan
    assert "Seq Scan on trackedtask" not in plan, plan
    # due on 06-16: the reminder-10 of each county's 26 catalog tasks (due 07-01)
    assert len(ids) == 52 and owners == {"220102", "220103"}
