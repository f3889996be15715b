"""The dashboards' pre-aggregated counts stay exact: after real workflow transitions, an approved
extension, a bulk init and plain SQL writes, every aggregate the provincial dashboard and
``rollout status`` show equals a count over the tasks themselves (computed here, row by row).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from rollout import db
from rollout.actions.extensions import decide_extension, decider_of, request_extension
from rollout.api.pages.board import load_board, overdue_tasks, soon_limit
from rollout.api.pages.charts import delivered_by_day
from rollout.calendar import TZ
from rollout.models import Milestone, Organization, Plan, TaskCount, TaskState, TrackedTask
from rollout.progress import city_units, plan_progress
from rollout.workflow import Action, Actor, Role, role_for, transition

OFFICE = Actor("220000.office", Role.office, "省政务公开办")
OPEN = {TaskState.pending, TaskState.in_progress, TaskState.returned}
DONE = {TaskState.accepted, TaskState.waived}
DELIVERED = {TaskState.submitted, TaskState.accepted, TaskState.waived}
# as-of times on both sides of the catalog due day (2020-07-01, end of day Asia/Shanghai)
AS_OF = [datetime(2020, 6, 30, 12, 0, tzinfo=TZ), datetime(2020, 7, 2, 0, 0, tzinfo=TZ),
         datetime(2020, 12, 31, 23, 0, tzinfo=TZ)]


def _day(i: int) -> datetime:
    return datetime(2020, 6, 1, 10, 0, tzinfo=TZ) + timedelta(days=i % 20)


def _work(engine: sa.Engine, calendar) -> None:
    """Move tasks through the real workflow and extension functions, one unit of work each."""
    with db.read_session(engine) as s:
        catalogs = s.exec(
            select(TrackedTask.id, TrackedTask.unit_code).join(Milestone)
            .where(Milestone.key == "catalog").order_by(TrackedTask.id)
        ).all()[:240]
        parents = dict(s.exec(select(Organization.code, Organization.parent_code)).all())
        plans = s.exec(select(TrackedTask.id).join(Milestone)
                       .where(Milestone.key == "work_plan").order_by(TrackedTask.id)).all()
        uploads = s.exec(select(TrackedTask.id).join(Milestone)
                         .where(Milestone.key == "upload").order_by(TrackedTask.id)).all()[:30]
    for i, (tid, county) in enumerate(catalogs):
        at = _day(i)
        with db.unit_of_work(engine) as s:
            if i % 5 == 0:
                transition(s, tid, Action.start, OFFICE, now=at, calendar=calendar)
                continue
            transition(s, tid, Action.submit, OFFICE, now=at, calendar=calendar, note="https://example.org/catalog")
            city = Actor(parents[county], Role.city, "复核人")
            if i % 5 == 2:
                transition(s, tid, Action.accept, city, now=at + timedelta(days=3), calendar=calendar)
            elif i % 5 == 3:
                transition(s, tid, Action.return_, city, now=at + timedelta(days=1), calendar=calendar,
                           note="缺少依据", new_due_on=date(2020, 7, 20))
    for i, tid in enumerate(plans[:12]):
        with db.unit_of_work(engine) as s:
            action = Action.waive if i % 2 else Action.cancel
            transition(s, tid, action, OFFICE, now=_day(i), calendar=calendar, note="试点已完成")
    for tid in uploads[:10]:  # extensions approved by the unit above the owner
        with db.unit_of_work(engine) as s:
            task = s.get(TrackedTask, tid)
            req = request_extension(s, OFFICE, tid, reason="系统改造", new_due_on=date(2020, 11, 2),
                                    now=_day(3))
            decider_org = s.get(Organization, decider_of(s, task))
            decider = Actor(decider_org.code, role_for(decider_org), "审批人")
            decide_extension(s, decider, req.id, approve=True, note=None, now=_day(4), calendar=calendar)
    with db.unit_of_work(engine) as s:  # plain SQL, as a repair script would write
        s.execute(sa.update(TrackedTask).where(TrackedTask.id.in_(uploads[10:30]))
                  .values(schedule_note="等待节假日数据（2021年）"))
        s.execute(sa.update(TrackedTask).where(TrackedTask.id.in_(uploads[25:30]))
                  .values(state=TaskState.in_progress))
        s.execute(sa.delete(TrackedTask).where(TrackedTask.key.in_(["go_live", "training"])))


def _tasks(engine: sa.Engine) -> tuple[Plan, list[tuple[TrackedTask, str]], dict[str, str]]:
    with db.read_session(engine) as s:
        plan = s.exec(select(Plan)).one()
        rows = s.exec(select(TrackedTask, Milestone.key).join(Milestone)).all()
        parents = dict(s.exec(select(Organization.code, Organization.parent_code)).all())
    return plan, list(rows), parents


@pytest.fixture
def worked(jilin: sa.Engine, calendar) -> sa.Engine:
    """The Jilin plan with a few hundred tasks moved by the workflow."""
    _work(jilin, calendar)
    return jilin


def test_plan_progress_equals_a_count_over_the_tasks(worked, calendar):
    plan, rows, _ = _tasks(worked)
    states = Counter(t.state for t, _ in rows)
    # the work above, counted from its own loop: 48 started, 192 submitted, of which 48 accepted,
    # 48 returned; 6 waived, 6 cancelled; 5 uploads put in progress by SQL
    assert states[TaskState.accepted] == 48 and states[TaskState.returned] == 48
    assert states[TaskState.waived] == 6 and states[TaskState.cancelled] == 6
    assert states[TaskState.submitted] == 96
    for as_of in AS_OF:
        expected = {key: Counter() for key in ("go_live", "training")}  # deleted: zeros
        for t, key in rows:
            c = expected.setdefault(key, Counter())
            c["total"] += t.state != TaskState.cancelled
            c["done"] += t.state in DONE
            c["submitted"] += t.state == TaskState.submitted
            c["open"] += t.state in OPEN
            c["overdue"] += t.state in OPEN and t.due_at < as_of
            c["waiting"] += t.state in OPEN and t.schedule_note is not None
        with db.read_session(worked) as s:
            got = plan_progress(s, plan, as_of)
        assert {p.key: Counter({"total": p.total, "done": p.done, "submitted": p.submitted,
                                "open": p.open, "overdue": p.overdue,
                                "waiting": p.waiting_for_holiday_data}) for p in got} == expected
    assert sum(p.waiting_for_holiday_data for p in got) == 20  # the 20 notes set by SQL
    assert sum(p.total for p in got) == 4805 - 6 - 2  # 6 cancelled, 2 deleted


def test_city_progress_counts_only_its_units(worked):
    plan, rows, parents = _tasks(worked)
    city = "220100"  # 长春市
    with db.read_session(worked) as s:
        units = city_units(s, s.get(Organization, city))
        got = plan_progress(s, plan, AS_OF[1], units)
    mine = [(t, k) for t, k in rows if (t.unit_code or t.org_code) in units]
    assert units == {city} | {c for c, p in parents.items() if p == city}
    assert sum(p.total for p in got) == sum(t.state != TaskState.cancelled for t, _ in mine) > 0
    assert sum(p.overdue for p in got) == sum(
        t.state in OPEN and t.due_at < AS_OF[1] for t, _ in mine)


def _status(t: TrackedTask, now: datetime, soon_on: date) -> str | None:
    if t.state == TaskState.cancelled:
        return None
    if t.state in DONE:
        return "done"
    if t.state == TaskState.submitted:
        return "submitted"
    if t.due_at < now:
        return "overdue"
    return "soon" if t.due_on <= soon_on else "later"


def test_dashboard_board_overdue_and_delivered_equal_counts_over_the_tasks(worked, calendar):
    plan, rows, _ = _tasks(worked)
    for now in AS_OF:
        soon_on = soon_limit(now.astimezone(TZ).date(), calendar)
        expected: dict[tuple[str, str], Counter] = {}
        for t, key in rows:
            status = _status(t, now, soon_on)
            if status:
                expected.setdefault((t.unit_code or t.org_code, key), Counter())[status] += 1
        late = sorted((t.due_on, t.key) for t, _ in rows if t.state in OPEN and t.due_at < now)
        with db.read_session(worked) as s:
            board = load_board(s, plan, now, calendar)
            total, listed = overdue_tasks(s, plan, now, calendar, limit=100)
        got = {cell: Counter({k: v for k, v in vars(c).items() if v}) for cell, c in board.cells.items()}
        assert got == expected
        assert total == len(late)
        assert [(t.due_on, t.key) for t in listed] == late[:100]
    delivered: dict[str, Counter] = {}
    for t, key in rows:
        at = t.submitted_at or t.completed_at
        if t.state in DELIVERED and at is not None:
            delivered.setdefault(key, Counter())[at.astimezone(TZ).date()] += 1
    with db.read_session(worked) as s:
        got_days = delivered_by_day(s, plan)
    assert {k: Counter(dict(v)) for k, v in got_days.items()} == delivered
    assert sum(delivered["catalog"].values()) == 96 + 48  # submitted + accepted (returned are not)


def test_counts_follow_a_rolled_back_write(jilin, calendar):
    """A transition that fails half-way leaves the counts as they were (same transaction)."""
    with db.read_session(jilin) as s:
        before = s.exec(select(sa.func.sum(TaskCount.n))).one()
        tid = s.exec(select(TrackedTask.id).order_by(TrackedTask.id)).first()
    with pytest.raises(RuntimeError), db.unit_of_work(jilin) as s:
        s.execute(sa.update(TrackedTask).where(TrackedTask.id == tid).values(state=TaskState.waived))
        raise RuntimeError("abort")
    with db.read_session(jilin) as s:
        assert s.exec(select(sa.func.sum(TaskCount.n))).one() == before == 4805
        waived = s.exec(select(sa.func.sum(TaskCount.n)).where(TaskCount.state == TaskState.waived)).one()
        assert not waived
