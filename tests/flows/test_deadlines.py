"""The partitioned sweep flow (``rollout.flows.deadlines``) in real Prefect flow runs, on SQLite
and PostgreSQL.

Worked out by hand from the plan and the official 2020 calendar (清明 holiday Apr 4–6, weekends
off) for the Jilin plan loaded on 2020-03-20, swept first at 2020-04-13 09:00:

- ``work_plan`` (26 tasks, one per domain, owned by the domain's provincial department), due
  Fri 2020-04-17: 10 working days before is Apr 2, 5 before is Apr 10, 3 before is Apr 14. At
  Apr 13 09:00 two steps are due: reminder-5 is sent, the missed reminder-10 is recorded as
  skipped.
- ``dept_filing`` (26 tasks, same owners), due Sat 2020-04-25: 10 working days before is Mon
  Apr 13 (24, 23, 22, 21, 20, 17, 16, 15, 14, 13): reminder-10 is sent; reminder-5 is Apr 20.
- ``city_filing`` due May 6: its reminder-10 is Apr 20 (May 1–5 holiday, Sun Apr 26 a make-up
  working day); everything else is due in July or later.

So one reminder row per task to its owner: 52 pending rows (26 + 26) and 26 skipped ones, on 52
tasks. 省住房城乡建设厅 (``220000.dept.housing``) is responsible for 5 of the 26 domains
(国有土地上房屋征收与补偿, 农村危房改造, 城市综合执法, 市政服务, 保障性住房): 10 pending and 5
skipped rows are its own, 42 and 21 the other 17 departments'.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import Milestone, Organization, OrgKind, OutboxMessage, TrackedTask
from rollout.plans.fanout import instantiate_plan

AS_OF = "2020-04-13T09:00+08:00"
LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
HOUSING = "220000.dept.housing"
OTHER_PROVINCE = "990000"  # not a real division: a second partition carved out of Jilin


def _counts(engine: sa.Engine) -> dict[tuple[str, str, str], int]:
    """(milestone key, step key, status) → outbox rows."""
    with Session(engine) as s:
        rows = s.exec(
            select(Milestone.key, OutboxMessage.step_key, OutboxMessage.status, func.count())
            .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
            .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .group_by(Milestone.key, OutboxMessage.step_key, OutboxMessage.status)
        )
        return {(m, k, str(st.value if hasattr(st, "value") else st)): n for m, k, st, n in rows}


def _move_housing_to_another_province(engine: sa.Engine) -> None:
    """A second province: its own office, and 省住房城乡建设厅 moved under it."""
    with Session(engine) as s:
        s.add(Organization(code=f"{OTHER_PROVINCE}.office", name="合成省政务公开办",
                           kind=OrgKind.office, province_code=OTHER_PROVINCE,
                           email="gk-990000-office@example.org"))
        s.commit()
    with engine.begin() as conn:
        conn.execute(sa.update(Organization).where(col(Organization.code) == HOUSING)
                     .values(province_code=OTHER_PROVINCE, parent_code=f"{OTHER_PROVINCE}.office"))


def test_one_province_in_batches(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    result = sweep_deadlines(as_of=AS_OF, database_url=db_url, batch_size=20)
    assert (result["created"], result["skipped"], result["tasks"]) == (52, 26, 52)
    # 52 due tasks in batches of 20: 20, 20, 12 (the short batch ends the loop)
    assert result["provinces"] == {"220000": {
        "created": 52, "skipped": 26, "tasks": 52, "changed_concurrently": 0, "batches": 3}}
    assert result["batches"] == 3 and result["waiting_for_holiday_data"] == []
    assert _counts(jilin) == {
        ("work_plan", "reminder-5", "pending"): 26,
        ("work_plan", "reminder-10", "skipped"): 26,
        ("dept_filing", "reminder-10", "pending"): 26,
    }
    again = sweep_deadlines(as_of=AS_OF, database_url=db_url)
    assert (again["created"], again["skipped"], again["tasks"]) == (0, 0, 0)


def test_two_provinces_are_swept_separately_and_summed(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    _move_housing_to_another_province(jilin)
    result = sweep_deadlines(as_of=AS_OF, database_url=db_url)
    assert result["provinces"] == {
        "220000": {"created": 42, "skipped": 21, "tasks": 42, "changed_concurrently": 0,
                   "batches": 1},
        OTHER_PROVINCE: {"created": 10, "skipped": 5, "tasks": 10, "changed_concurrently": 0,
                         "batches": 1},
    }
    assert (result["created"], result["skipped"], result["tasks"], result["batches"]) == (
        52, 26, 52, 2)
    assert sum(_counts(jilin).values()) == 78


def _block_updates_of(engine: sa.Engine, org_code: str) -> None:
    """A trigger that makes every UPDATE of the schedules of ``org_code``'s tasks (what the
    sweep advances) fail: a real database error, not one a retry can fix."""
    owned = f"(SELECT org_code FROM trackedtask WHERE id = OLD.task_id) = '{org_code}'"
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER block_housing BEFORE UPDATE ON taskschedule "
                f"WHEN {owned} BEGIN SELECT RAISE(ABORT, 'blocked'); END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION block_housing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF {owned} THEN RAISE EXCEPTION 'blocked'; END IF; RETURN NEW; END $$")
            conn.exec_driver_sql(
                "CREATE TRIGGER block_housing BEFORE UPDATE ON taskschedule FOR EACH ROW "
                "EXECUTE FUNCTION block_housing()")


def test_a_failing_province_fails_the_flow_after_the_others_finish(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import ProvinceSweepFailed, sweep_deadlines

    _move_housing_to_another_province(jilin)
    _block_updates_of(jilin, HOUSING)
    with pytest.raises(ProvinceSweepFailed) as failure:
        sweep_deadlines(as_of=AS_OF, database_url=db_url)
    assert failure.value.failed == [OTHER_PROVINCE]
    assert failure.value.result["provinces"] == {"220000": {
        "created": 42, "skipped": 21, "tasks": 42, "changed_concurrently": 0, "batches": 1}}
    assert OTHER_PROVINCE in str(failure.value)
    # the healthy province's rows are committed; the failed one wrote nothing
    assert _counts(jilin) == {
        ("work_plan", "reminder-5", "pending"): 21,
        ("work_plan", "reminder-10", "skipped"): 21,
        ("dept_filing", "reminder-10", "pending"): 21,
    }
    # numbered without a gap, whichever province's batch took its turn first
    with Session(jilin) as s:
        numbers = s.exec(select(OutboxMessage.notice_number).where(
            col(OutboxMessage.notice_number).is_not(None)).order_by(OutboxMessage.id)).all()
    assert numbers == [f"催办〔2020〕{n:04d}号" for n in range(1, 43)]


def test_without_province_codes_everything_is_swept_at_once(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import ALL, sweep_deadlines

    with jilin.begin() as conn:
        conn.execute(sa.update(Organization).where(col(Organization.code) == HOUSING)
                     .values(province_code=None))
    result = sweep_deadlines(as_of=AS_OF, database_url=db_url)
    assert list(result["provinces"]) == [ALL]
    assert (result["created"], result["skipped"], result["tasks"]) == (52, 26, 52)


TWO_PROVINCES = Path(__file__).parents[1] / "data" / "two_provinces" / "plan.yaml"


def test_a_two_province_registry_is_swept_per_province(prefect_harness, engine, db_url, calendar):
    """tests/data/two_provinces: province 220000 has 2 counties and 2 townships, 110000 one
    county and no township; 2 domains. With the spring milestones already submitted, the sweep
    of 2020-06-16 09:00 owes only reminder-10 of ``catalog`` and ``township_catalog`` (both due
    Wed 2020-07-01; 10 working days before: Jun 30, 29, Sun 28 (a make-up working day), 24, 23,
    22, 19, 18, 17, 16, the 端午 holiday being Jun 25–27): 220000 has (2 counties + 2 townships)
    × 2 domains = 8 such tasks, 110000 has 1 county × 2 domains = 2. One row each."""
    from rollout.flows.deadlines import sweep_deadlines

    with db.unit_of_work(engine) as s:
        instantiate_plan(s, TWO_PROVINCES, now=LOADED_AT, calendar=calendar)
    spring = select(Milestone.id).where(
        col(Milestone.key).in_(["work_plan", "dept_filing", "city_filing"]))
    with engine.begin() as conn:
        conn.execute(sa.update(TrackedTask).where(col(TrackedTask.milestone_id).in_(spring))
                     .values(state="submitted"))
    result = sweep_deadlines(as_of="2020-06-16T09:00+08:00", database_url=db_url)
    assert result["provinces"] == {
        "110000": {"created": 2, "skipped": 0, "tasks": 2, "changed_concurrently": 0, "batches": 1},
        "220000": {"created": 8, "skipped": 0, "tasks": 8, "changed_concurrently": 0, "batches": 1},
    }
    assert (result["created"], result["tasks"]) == (10, 10)
    assert _counts(engine) == {
        ("catalog", "reminder-10", "pending"): 6,
        ("township_catalog", "reminder-10", "pending"): 4,
    }
