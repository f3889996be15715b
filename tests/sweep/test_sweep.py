"""The sweep on SQLite and PostgreSQL: exactly-once rows, recipients, missed steps, missing years.

Expected values are worked out by hand from the plan (吉政公组〔2020〕1号: catalog due 07-01,
work_plan 04-17, dept_filing 04-25, city_filing 05-06, training 07-10) and the official 2020
calendar (端午节 06-25..27 off, Sunday 06-28 worked; 劳动节 05-01..05 off, Sunday 04-26 and
Saturday 05-09 worked). The registry has 60 counties, 11 cities, 26 domains.
"""

from __future__ import annotations

import gc
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import (
    Contact,
    Milestone,
    Organization,
    OrgKind,
    OutboxMessage,
    TaskSchedule,
    TaskState,
    TrackedTask,
)
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.sweep import due_ids, select_tasks
from tests.conftest import LOADED_AT
from tests.sweep.conftest import sweep_all

JUNE_16 = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
JULY_10 = datetime(2020, 7, 10, 9, 0, tzinfo=TZ)
FIXTURE_2027 = Path(__file__).parents[1] / "calendar" / "fixtures" / "holidays"


def _catalog_rows(engine, **where) -> list[tuple[OutboxMessage, TrackedTask]]:
    with Session(engine) as s:
        q = select(OutboxMessage, TrackedTask).join(
            TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id
        ).where(col(TrackedTask.key).startswith("catalog:"))
        for k, v in where.items():
            q = q.where(getattr(OutboxMessage, k) == v)
        return list(s.exec(q))


def test_june_16_every_catalog_task_gets_reminder_10_once(jilin, calendar):
    # reminder-10 of a task due 07-01: counting back 06-30, 29, 28 (Sunday make-up day), 24, 23,
    # 22, 19, 18, 17, 16 -> 06-16. Nothing of catalog is due before it.
    first = sweep_all(jilin, JUNE_16, calendar)
    # each swept task gets exactly one pending row: 1,560 catalog (60 counties x 26 domains) and
    # the latest step of 26 work_plan + 26 dept_filing + 11 city_filing tasks = 1,623
    assert first.created == 1623
    # skipped (never swept before): work_plan (due Fri 04-17): reminders 10/5/3/1/0,
    # escalation-1 (04-20), -5 (04-24), overdue-1..7 (04-30 .. 06-15) = 14 steps, 13 skipped;
    # dept_filing (due Sat 04-25, reminder-1 merges into reminder-0 on 04-24): 4 reminders,
    # escalation-1 (Sun 04-26, a working day), -5 (04-30), overdue-1..6 (05-11 .. 06-15) = 12,
    # 11 skipped; city_filing (due 05-06): 5 reminders, escalation-1 05-07, -5 05-12, overdue-1..5
    # (05-19, 05-26, 06-02, 06-09, 06-16) = 12, 11 skipped.  26*13 + 26*11 + 11*11 = 745
    assert first.skipped == 745
    assert first.batches == 2
    rows = _catalog_rows(jilin)
    assert len(rows) == 1560
    assert {(m.step_key, m.status.value, m.levels_up, m.scheduled_on) for m, _ in rows} == {
        ("reminder-10", "pending", 0, date(2020, 6, 16))
    }
    # no domain contacts exist: every row goes to the county's own address
    for m, t in rows:
        assert m.recipient_org_code == t.unit_code
        assert m.address == f"gk-{t.unit_code}@example.org"
        assert m.notice_number.startswith("催办〔2020〕")

    again = sweep_all(jilin, JUNE_16, calendar)
    assert (again.created, again.skipped, again.tasks) == (0, 0, 0)
    with Session(jilin) as s:
        assert len(s.exec(select(OutboxMessage.id)).all()) == 1623 + 745


def test_a_task_closed_by_plain_sql_gets_nothing_and_leaves_the_due_index(jilin, calendar):
    # the 63 spring tasks (26 work_plan + 26 dept_filing + 11 city_filing) submitted behind the
    # workflow's back: their schedules keep a next action (in April/May, long due on 06-16)
    spring = select(Milestone.id).where(
        col(Milestone.key).in_(["work_plan", "dept_filing", "city_filing"]))
    with jilin.begin() as conn:
        conn.execute(sa.update(TrackedTask).where(col(TrackedTask.milestone_id).in_(spring))
                     .values(state=TaskState.submitted.value))
    with db.read_session(jilin) as s:
        assert len(due_ids(s, JUNE_16)) == 1560 + 63
    report = sweep_all(jilin, JUNE_16, calendar)
    assert (report.created, report.skipped, report.tasks) == (1560, 0, 1560)
    with db.read_session(jilin) as s:
        assert len(due_ids(s, JUNE_16)) == 0  # the 1,560 moved on, the 63 were cleared
        closed = s.exec(select(TaskSchedule.next_action_at).join(
            TrackedTask, col(TrackedTask.id) == TaskSchedule.task_id).where(
            col(TrackedTask.milestone_id).in_(spring))).all()
        assert len(closed) == 63 and set(closed) == {None}
        sent = s.exec(select(OutboxMessage.id).join(
            TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id).where(
            col(TrackedTask.milestone_id).in_(spring))).all()
        assert sent == []


def test_select_tasks_gives_each_field_the_value_of_its_column(jilin, calendar):
    # select_tasks returns positional named tuples; every field is compared with the ORM's
    # reading of the same task and schedule. One catalog task returned after a submission
    # (submitted_at set), another waiting for holiday data (no next action, a note), the rest
    # swept once on 06-16 (last step reminder-10 at 06-16 09:00, next reminder-5 on 06-23).
    sweep_all(jilin, JUNE_16, calendar)
    with db.read_session(jilin) as s:
        returned_id, waiting_id = s.exec(select(TrackedTask.id).where(
            col(TrackedTask.key).startswith("catalog:")).order_by(TrackedTask.id).limit(2)).all()
    with jilin.begin() as conn:
        conn.execute(sa.update(TrackedTask).where(TrackedTask.id == returned_id).values(
            state=TaskState.returned.value, submitted_at=datetime(2020, 6, 20, 10, tzinfo=TZ)))
        conn.execute(sa.update(TrackedTask).where(TrackedTask.id == waiting_id).values(
            schedule_note="等待节假日数据（2021年）"))
        conn.execute(sa.update(TaskSchedule).where(TaskSchedule.task_id == waiting_id).values(
            next_action_at=None))
    june_23 = datetime(2020, 6, 23, 9, 0, tzinfo=TZ)
    with db.read_session(jilin) as s:
        rows = select_tasks(s, due_ids(s, june_23), june_23)
        # the 1,560 catalog tasks and the 63 spring ones, overdue weekly (work_plan and
        # dept_filing last on Monday 06-15, city_filing on Tuesday 06-16: next 06-22 / 06-23)
        assert len(rows) == 1623
        for row in rows:
            t, sched = s.get(TrackedTask, row.id), s.get(TaskSchedule, row.id)
            assert row._asdict() == {
                "id": t.id, "key": t.key, "plan_id": t.plan_id, "milestone_id": t.milestone_id,
                "org_code": t.org_code, "domain_key": t.domain_key, "due_on": t.due_on,
                "next_action_at": sched.next_action_at, "last_step_at": sched.last_step_at,
                "submitted_at": t.submitted_at, "schedule_note": t.schedule_note,
            }
    by_id = {r.id: r for r in rows}
    assert by_id[returned_id].submitted_at == datetime(2020, 6, 20, 10, tzinfo=TZ)
    assert by_id[waiting_id].next_action_at is None
    assert by_id[waiting_id].schedule_note == "等待节假日数据（2021年）"
    other = next(r for r in rows if r.key.startswith("catalog:")
                 and r.id not in (returned_id, waiting_id))
    assert other.last_step_at == JUNE_16
    assert other.next_action_at == june_23  # reminder-5 of 07-01: 06-30, 29, 28, 24, 23


def test_the_garbage_collector_runs_once_a_batch_and_young_only(jilin, calendar):
    # rollout.gc_pause: no automatic collection during the sweep (each 700 new containers would
    # start one, and their survivors full ones over the whole process), one of generation 0 as
    # each batch ends and one as the sweep ends
    seen: list[int] = []

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        report = sweep_all(jilin, JUNE_16, calendar)  # 1,623 tasks in batches of 1,000
    finally:
        gc.callbacks.remove(record)
    assert report.batches == 2
    assert seen == [0, 0, 0]


def test_a_domain_contact_receives_its_domains_notice(jilin, calendar):
    with db.unit_of_work(jilin) as s:
        s.add(Contact(org_code="220102", domain_key="fiscal_budget", name="张三",
                      email="czys@nanguan.example.org"))
    sweep_all(jilin, JUNE_16, calendar)
    rows = _catalog_rows(jilin)
    mine = [(m, t) for m, t in rows if t.unit_code == "220102"]
    assert len(mine) == 26
    by_domain = {t.domain_key: m.address for m, t in mine}
    assert by_domain.pop("fiscal_budget") == "czys@nanguan.example.org"
    assert set(by_domain.values()) == {"gk-220102@example.org"}


def test_system_down_sends_the_latest_step_and_records_the_missed_ones(jilin, calendar):
    sweep_all(jilin, JUNE_16, calendar)  # reminder-10 of every catalog task sent
    report = sweep_all(jilin, JULY_10, calendar)
    assert report.tasks >= 1560
    # due 07-01: reminder-5 06-23, reminder-3 06-28, reminder-1 06-30, reminder-0 07-01,
    # escalation-1 07-02, escalation-5 07-08 (07-02, 03, 06, 07, 08); overdue-1 07-15 > 07-10.
    rows = _catalog_rows(jilin)
    per_task: dict[int, Counter] = {}
    for m, _ in rows:
        per_task.setdefault(m.task_id, Counter())[(m.step_key, m.status.value)] += 1
    expected = Counter({
        ("reminder-10", "pending"): 1,
        ("reminder-5", "skipped"): 1, ("reminder-3", "skipped"): 1,
        ("reminder-1", "skipped"): 1, ("reminder-0", "skipped"): 1,
        ("escalation-1", "skipped"): 1,
        ("escalation-5", "pending"): 1,
    })
    assert len(per_task) == 1560
    assert all(c == expected for c in per_task.values())
    esc = _catalog_rows(jilin, step_key="escalation-5")
    skipped_days = {m.scheduled_on for m, _ in _catalog_rows(jilin, status="skipped")}
    assert skipped_days == {date(2020, 6, 23), date(2020, 6, 28), date(2020, 6, 30),
                            date(2020, 7, 1), date(2020, 7, 2)}
    with Session(jilin) as s:
        parents = {o.code: o.parent_code for o in s.exec(select(Organization))}
    for m, t in esc:
        # two levels up from the counterpart department: the county's city
        assert m.levels_up == 2 and m.scheduled_on == date(2020, 7, 10)
        assert m.recipient_org_code == parents[t.unit_code]
        assert m.notice_number.startswith("督办〔2020〕")
    with Session(jilin) as s:
        t = s.get(TrackedTask, esc[0][1].id)
        sched = s.get(TaskSchedule, t.id)
        assert sched.last_step_key == "escalation-5"
        assert sched.next_action_at == datetime(2020, 7, 15, 9, 0, tzinfo=TZ)
        assert t.version == 1  # schedule-only changes leave the clerks' version alone


def _plan_with_2027(tmp_path: Path) -> Path:
    spec = yaml.safe_load(BUNDLED_PLAN.read_text(encoding="utf-8"))
    spec["registry"] = str(BUNDLED_PLAN.parent / spec["registry"])
    spec["milestones"].append({
        "key": "review_2027", "title": "2027年复查", "section": "测试", "due": "2027-03-01",
        "fan_out": {"over": ["city"], "owner": "city"},
    })
    path = tmp_path / "plan-2027.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def test_a_schedule_reaching_a_year_without_data_is_reported_and_the_rest_swept(
    engine, calendar, tmp_path
):
    plan = _plan_with_2027(tmp_path)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, plan, now=LOADED_AT, calendar=calendar)
    report = sweep_all(engine, JUNE_16, calendar)
    # chinesecalendar covers up to 2026 and no 2027 file is bundled: the 11 city tasks wait
    assert sorted(report.waiting_for_holiday_data) == sorted(
        f"review_2027:{c}" for c in _city_codes(engine)
    )
    assert len(report.waiting_for_holiday_data) == 11
    assert (report.created, report.skipped) == (1623, 745)
    with Session(engine) as s:
        waiting = s.exec(select(TrackedTask).where(
            col(TrackedTask.key).startswith("review_2027:"))).all()
        assert {(s.get(TaskSchedule, t.id).next_action_at, t.schedule_note) for t in waiting} == {
            (None, "等待节假日数据（2027年）")}
    # once the year's data is there, the next sweep schedules them (nothing due yet)
    with_2027 = WorkingCalendar([FIXTURE_2027])
    later = sweep_all(engine, JUNE_16, with_2027)
    assert later.waiting_for_holiday_data == [] and later.created == 0 and later.tasks == 11
    with Session(engine) as s:
        t = s.exec(select(TrackedTask).where(
            col(TrackedTask.key).startswith("review_2027:"))).first()
        # reminder-10 before Mon 2027-03-01 in the fixture year: 02-26 back to 02-15
        assert t.schedule_note is None
        assert s.get(TaskSchedule, t.id).next_action_at == datetime(2027, 2, 15, 9, 0, tzinfo=TZ)


def _city_codes(engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Organization.code).where(Organization.kind == OrgKind.city)))


def test_flow_sweeps_in_batches(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    result = sweep_deadlines(as_of="2020-06-16T09:00+08:00", database_url=db_url, batch_size=500)
    assert result["created"] == 1623 and result["skipped"] == 745
    assert result["batches"] == 4  # 1,623 due tasks in batches of 500
    again = sweep_deadlines(as_of="2020-06-16T09:00", database_url=db_url)
    assert again["created"] == 0 and again["skipped"] == 0
