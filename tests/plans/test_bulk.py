"""Bulk inserts (``rollout.plans.bulk``): COPY on PostgreSQL, executemany on SQLite, in the
caller's transaction; ``rollout init`` through them gives the same tasks on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from rollout import db
from rollout.calendar import TZ
from rollout.models import AuditEvent, Milestone, Organization, TrackedTask
from rollout.plans.bulk import begin_bulk_load, insert_rows
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN

AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
# From the plan and the registry (26 domains, 11 city-level addressees, 60 counties), not the code.
EXPECTED = {"work_plan": 26, "dept_filing": 26, "city_filing": 11, "catalog": 60 * 26,
            "training": 1, "city_review": 60, "upload": 60 * 26, "acceptance": 60 * 26,
            "go_live": 1}
COLUMNS = [c.name for c in TrackedTask.__table__.c if c.name != "id"]


def _init(url: str, calendar) -> tuple[int, int]:
    with db.unit_of_work(db.get_engine(url)) as s:
        report = instantiate_plan(s, BUNDLED_PLAN, now=AT, calendar=calendar)
    return report.created, report.total


def _snapshot(url: str) -> dict[str, tuple]:
    """Every task by key: its milestone key and every column but the id."""
    with db.read_session(db.get_engine(url)) as s:
        rows = s.exec(select(TrackedTask, Milestone.key).join(Milestone)).all()
    return {t.key: (m, *(getattr(t, c) for c in COLUMNS if c not in ("plan_id", "milestone_id")))
            for t, m in rows}


def _pg_schema(url: str) -> set[tuple[str, str]]:
    with db.get_engine(url).connect() as c:
        idx = c.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes "
                                "WHERE tablename = 'trackedtask'")).all()
        cons = c.execute(sa.text("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                 "WHERE conrelid = 'trackedtask'::regclass")).all()
    return {tuple(r) for r in idx + cons}


def test_init_gives_the_same_4805_tasks_on_both_backends_and_is_idempotent(
    sqlite_url, pg_url, calendar
):
    schema = _pg_schema(pg_url)
    assert len(schema) >= 15  # 10 indexes + primary key, unique key and 5 foreign keys
    assert _init(sqlite_url, calendar) == (4805, 4805)
    assert _init(pg_url, calendar) == (4805, 4805)
    lite, pg = _snapshot(sqlite_url), _snapshot(pg_url)
    assert len(lite) == 4805
    assert {k: sum(1 for v in lite.values() if v[0] == k) for k in EXPECTED} == EXPECTED
    assert lite == pg
    # the load dropped PostgreSQL's indexes and keys and made them again, same names and definitions
    assert _pg_schema(pg_url) == schema
    assert _init(sqlite_url, calendar) == (0, 4805)
    assert _init(pg_url, calendar) == (0, 4805)
    assert _snapshot(pg_url) == pg


def test_insert_rows_round_trips_awkward_values(db_url):
    odd = "制表\t换行\n回车\r反斜杠\\N 结束"
    rows = [
        {"at": AT, "kind": "bulk_test", "actor": odd, "detail": {"说明": odd, "n": [1, None]},
         "before": None},
        {"at": datetime(2020, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "kind": "bulk_test",
         "actor": "\\", "detail": None, "before": {"x": "\t"}},
    ]
    engine = db.get_engine(db_url)
    with db.unit_of_work(engine) as s:
        assert insert_rows(s, AuditEvent.__table__, rows) == 2
    with db.read_session(engine) as s:
        got = s.exec(select(AuditEvent).where(AuditEvent.kind == "bulk_test")
                     .order_by(AuditEvent.id)).all()
    assert [(e.at, e.actor, e.detail, e.before) for e in got] == [
        (AT, odd, {"说明": odd, "n": [1, None]}, None),
        (datetime(2021, 1, 1, 7, 59, 59, 999999, tzinfo=TZ), "\\", None, {"x": "\t"}),
    ]
    assert [e.request_id for e in got] == [None, None]


def test_insert_rows_refuses_rows_of_different_shapes(db_url):
    with db.unit_of_work(db.get_engine(db_url)) as s:
        with pytest.raises(ValueError, match="row 1"):
            insert_rows(s, AuditEvent.__table__, [{"at": AT, "kind": "a"}, {"at": AT}])
        with pytest.raises(ValueError, match="no column"):
            insert_rows(s, AuditEvent.__table__, [{"at": AT, "kind": "a", "colour": 1}])


def test_a_failed_bulk_load_writes_nothing_and_keeps_the_schema(jilin, calendar):
    """A row breaking a foreign key fails the load; the rollback keeps every index and key."""
    url = jilin.url.render_as_string(hide_password=False)
    before = _pg_schema(url) if jilin.dialect.name == "postgresql" else set()
    with db.read_session(jilin) as s:
        plan_id, ms_id = s.exec(select(Milestone.plan_id, Milestone.id)).first()
        n_orgs = len(s.exec(select(Organization.code)).all())
    row = dict(plan_id=plan_id, milestone_id=ms_id, key="x:1", org_code="999999",
               unit_code=None, domain_key=None, state="pending", due_on=date(2020, 7, 1),
               original_due_on=date(2020, 7, 1), due_at=AT, opened_at=AT,
               schedule_note=None, times_returned=0, version=1)
    with pytest.raises(sa.exc.IntegrityError), db.unit_of_work(jilin) as s:
        s.execute(sa.text("DELETE FROM trackedtask"))  # empty: only then is the load prepared
        prepared = begin_bulk_load(s, TrackedTask.__table__)
        assert prepared == (jilin.dialect.name == "postgresql")
        insert_rows(s, TrackedTask.__table__, [row])
    with db.read_session(jilin) as s:
        assert s.exec(select(sa.func.count()).select_from(TrackedTask)).one() == 4805
        assert len(s.exec(select(Organization.code)).all()) == n_orgs
    if before:
        assert _pg_schema(url) == before
