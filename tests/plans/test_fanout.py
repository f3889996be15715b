"""``instantiate_plan``: the Jilin plan's task counts, idempotence, and re-runs with an edited plan."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import func, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import AuditEvent, Milestone, TaskSchedule, TaskState, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.workflow import Action, Actor, Role, transition

# From the plan and the registry, not from the code: 26 domains, 11 city-level addressees
# (9 市州 + 2 管委会), 60 counties.
EXPECTED = {
    "work_plan": 26,
    "dept_filing": 26,
    "city_filing": 11,
    "catalog": 60 * 26,
    "training": 1,
    "city_review": 60,
    "upload": 60 * 26,
    "acceptance": 60 * 26,
    "go_live": 1,
}
AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)


def _counts(engine: sa.Engine) -> dict[str, int]:
    with db.read_session(engine) as s:
        rows = s.exec(
            select(Milestone.key, func.count(TrackedTask.id))
            .join(TrackedTask, TrackedTask.milestone_id == Milestone.id)
            .group_by(Milestone.key)
        ).all()
    return dict(rows)


def test_jilin_plan_gives_4805_tasks_and_rerun_creates_nothing(jilin, calendar):
    assert _counts(jilin) == EXPECTED
    assert sum(EXPECTED.values()) == 4805
    with db.unit_of_work(jilin) as s:
        report = instantiate_plan(s, BUNDLED_PLAN, now=AT, calendar=calendar)
    assert (report.created, report.moved, report.total) == (0, 0, 4805)
    assert _counts(jilin) == EXPECTED


def test_due_at_is_end_of_local_due_day_and_owners(jilin):
    with db.read_session(jilin) as s:
        cat = s.exec(select(TrackedTask).where(TrackedTask.key == "catalog:220102:social_assistance")).one()
        assert cat.due_on == date(2020, 7, 1)
        assert cat.due_at == datetime(2020, 7, 1, 23, 59, 59, 999999, tzinfo=TZ)
        assert (cat.org_code, cat.unit_code) == ("220102", "220102")
        # the first reminder: 10 working days before 07-01 (端午 06-25..27, make-up 06-28) is 06-16
        assert s.get(TaskSchedule, cat.id).next_action_at == datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
        review = s.exec(select(TrackedTask).where(TrackedTask.key == "city_review:220184")).one()
        assert review.org_code == "220100"  # 长春市 reviews 公主岭市 on 2020-09-01
        wp = s.exec(select(TrackedTask).where(TrackedTask.key == "work_plan:social_assistance")).one()
        assert wp.org_code == "220000.dept.civil_affairs"


def test_edited_plan_moves_open_tasks_only(jilin, calendar, tmp_path: Path):
    office = Actor("220000.office", Role.office, "测试")
    with db.unit_of_work(jilin) as s:
        done = s.exec(select(TrackedTask).where(TrackedTask.key == "catalog:220102:social_assistance")).one()
        transition(s, done.id, Action.waive, office, now=AT, calendar=calendar, note="试点已完成")
    edited = tmp_path / "jilin-2020.yaml"
    text = BUNDLED_PLAN.read_text(encoding="utf-8").replace("due: 2020-07-01", "due: 2020-07-15")
    text = text.replace("registry: jilin-registry.yaml", f"registry: {BUNDLED_PLAN.parent / 'jilin-registry.yaml'}")
    edited.write_text(text, encoding="utf-8")
    with db.unit_of_work(jilin) as s:
        report = instantiate_plan(s, edited, now=AT, calendar=calendar)
    # catalog (1,560) and training (starts 07-01, due 07-10: unchanged, "starts" not "due")
    assert (report.created, report.moved) == (0, 1559)
    with db.read_session(jilin) as s:
        dues = dict(
            s.exec(
                select(TrackedTask.state, func.max(TrackedTask.due_on))
                .join(Milestone).where(Milestone.key == "catalog").group_by(TrackedTask.state)
            ).all()
        )
        assert dues == {TaskState.pending: date(2020, 7, 15), TaskState.waived: date(2020, 7, 1)}
        moved = s.exec(select(AuditEvent).where(AuditEvent.kind == "task_due_moved")).all()
        assert len(moved) == 1559
        assert moved[0].before["due_on"] == "2020-07-01" and moved[0].after["due_on"] == "2020-07-15"
    assert sum(_counts(jilin).values()) == 4805
