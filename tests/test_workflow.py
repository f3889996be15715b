"""The task state machine: transitions, who may make them, requirements, and the audit trail."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlmodel import Session, func, select

from rollout import db
from rollout.calendar import TZ
from rollout.errors import PermissionDenied, RequirementsPending, StaleVersion, TransitionError
from rollout.models import AuditEvent, TaskSchedule, TaskState, TrackedTask
from rollout.workflow import Action, Actor, Role, allowed_actions, transition, waiting_for

AT = datetime(2020, 6, 20, 10, 0, tzinfo=TZ)
OFFICE = Actor("220000.office", Role.office, "省办")
NANGUAN = Actor("220102", Role.county, "南关区经办人")
KUANCHENG = Actor("220103", Role.county, "宽城区经办人")
CHANGCHUN = Actor("220100", Role.city, "长春市经办人")
JILIN_CITY = Actor("220200", Role.city, "吉林市经办人")
CIVIL_AFFAIRS = Actor("220000.dept.civil_affairs", Role.department, "民政厅")
EDUCATION = Actor("220000.dept.education", Role.department, "教育厅")


def _task(s: Session, key: str) -> TrackedTask:
    return s.exec(select(TrackedTask).where(TrackedTask.key == key)).one()


def _act(engine, key, action, actor, calendar, **kw) -> TrackedTask:
    with db.unit_of_work(engine) as s:
        return transition(s, _task(s, key).id, action, actor, now=AT, calendar=calendar, **kw)


def _next_at(engine, task_id):
    with db.read_session(engine) as s:
        return s.get(TaskSchedule, task_id).next_action_at


def _snapshot(engine, key):
    with db.read_session(engine) as s:
        t = _task(s, key)
        n = s.exec(select(func.count()).select_from(AuditEvent)).one()
        return (t.state, t.version, t.due_on, t.submitted_at, t.completed_at,
                _next_at(engine, t.id)), n


def test_catalog_lifecycle_with_correction_loop(jilin, calendar):
    key = "catalog:220102:social_assistance"
    t = _act(jilin, key, Action.start, NANGUAN, calendar)
    assert (t.state, t.version, t.started_at) == (TaskState.in_progress, 2, AT)
    t = _act(jilin, key, Action.submit, NANGUAN, calendar, note="http://example.org/catalog")
    assert (t.state, t.submitted_at, _next_at(jilin, t.id)) == (TaskState.submitted, AT, None)
    # the city (accepted_by: city) returns it with a new due day 2020-07-10
    t = _act(jilin, key, Action.return_, CHANGCHUN, calendar, note="缺少“临时救助”事项",
             new_due_on=date(2020, 7, 10))
    assert (t.state, t.times_returned, t.due_on, t.original_due_on) == (
        TaskState.returned, 1, date(2020, 7, 10), date(2020, 7, 1))
    # next reminder after 2020-06-20 10:00 for a task due 07-10: 10 working days before 07-10
    # is 06-24 (working days back: 07-09,08,07,06,03,02,01, 06-30,29,28(Sun make-up) -> 06-28)
    # i.e. 07-09(1) 07-08(2) 07-07(3) 07-06(4) 07-03(5) 07-02(6) 07-01(7) 06-30(8) 06-29(9) 06-28(10)
    assert _next_at(jilin, t.id) == datetime(2020, 6, 28, 9, 0, tzinfo=TZ)
    t = _act(jilin, key, Action.submit, NANGUAN, calendar)
    t = _act(jilin, key, Action.accept, CHANGCHUN, calendar)
    assert (t.state, t.completed_at, t.version) == (TaskState.accepted, AT, 6)
    with db.read_session(jilin) as s:
        kinds = s.exec(
            select(AuditEvent.kind).where(AuditEvent.task_id == t.id).order_by(AuditEvent.id)
        ).all()
    assert kinds == ["task_started", "task_submitted", "task_returned", "task_submitted", "task_accepted"]


def test_submit_without_acceptor_completes_the_task(jilin, calendar):
    t = _act(jilin, "work_plan:social_assistance", Action.submit, CIVIL_AFFAIRS, calendar)
    assert (t.state, t.completed_at) == (TaskState.accepted, AT)


@pytest.mark.parametrize(
    ("key", "action", "actor", "error"),
    [
        ("catalog:220102:social_assistance", Action.submit, KUANCHENG, PermissionDenied),
        ("catalog:220102:social_assistance", Action.accept, CHANGCHUN, TransitionError),  # not submitted
        ("catalog:220102:social_assistance", Action.waive, CHANGCHUN, PermissionDenied),
        ("work_plan:social_assistance", Action.submit, EDUCATION, PermissionDenied),
        ("work_plan:social_assistance", Action.accept, OFFICE, TransitionError),  # no acceptor
        ("dept_filing:social_assistance", Action.submit, CIVIL_AFFAIRS, RequirementsPending),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(jilin, calendar, key, action, actor, error):
    before = _snapshot(jilin, key)
    with pytest.raises(error):
        _act(jilin, key, action, actor, calendar, note="x")
    assert _snapshot(jilin, key) == before


def test_only_the_countys_city_accepts_and_returns(jilin, calendar):
    key = "catalog:220102:social_assistance"
    _act(jilin, key, Action.submit, NANGUAN, calendar)
    with db.read_session(jilin) as s:
        t = _task(s, key)
        assert allowed_actions(s, JILIN_CITY, t) == []
        assert allowed_actions(s, NANGUAN, t) == []
        assert allowed_actions(s, CHANGCHUN, t) == [Action.return_, Action.accept]
        assert set(allowed_actions(s, OFFICE, t)) == {Action.waive, Action.cancel}
    with pytest.raises(PermissionDenied):
        _act(jilin, key, Action.accept, JILIN_CITY, calendar)
    with pytest.raises(ValueError, match="退回意见"):
        _act(jilin, key, Action.return_, CHANGCHUN, calendar)


def test_acceptance_by_office_or_the_domains_department(jilin, calendar):
    office_ok = "acceptance:220102:social_assistance"
    with db.unit_of_work(jilin) as s:  # skip ahead: upload delivered, so acceptance may be submitted
        for key in ("upload:220102:social_assistance", "upload:220102:compulsory_education"):
            _task(s, key).state = TaskState.accepted
    for key in (office_ok, "acceptance:220102:compulsory_education"):
        _act(jilin, key, Action.submit, NANGUAN, calendar)
    with pytest.raises(PermissionDenied):
        _act(jilin, "acceptance:220102:compulsory_education", Action.accept, CIVIL_AFFAIRS, calendar)
    assert _act(jilin, office_ok, Action.accept, CIVIL_AFFAIRS, calendar).state == TaskState.accepted
    t = _act(jilin, "acceptance:220102:compulsory_education", Action.accept, OFFICE, calendar)
    assert t.state == TaskState.accepted


def test_city_review_waits_for_all_26_catalogs_and_keeps_its_deadline(jilin, calendar):
    key = "city_review:220102"
    with db.read_session(jilin) as s:
        waits = waiting_for(s, _task(s, key))
        assert len(waits) == 26 and {w.unit_code for w in waits} == {"220102"}
    with pytest.raises(RequirementsPending) as info:
        _act(jilin, key, Action.submit, CHANGCHUN, calendar)
    assert len(info.value.waiting_for) == 26
    with db.read_session(jilin) as s:
        catalogs = s.exec(
            select(TrackedTask.key).where(TrackedTask.key.startswith("catalog:220102:"))
        ).all()
    for cat in catalogs[:25]:
        _act(jilin, cat, Action.submit, NANGUAN, calendar)
    with db.read_session(jilin) as s:
        t = _task(s, key)
        assert [w.key for w in waiting_for(s, t)] == [catalogs[25]]
        assert t.due_on == date(2020, 9, 1)
    _act(jilin, catalogs[25], Action.submit, NANGUAN, calendar)
    assert _act(jilin, key, Action.submit, CHANGCHUN, calendar).state == TaskState.accepted
    # upload of that county now waits for nothing; another county's still waits
    with db.read_session(jilin) as s:
        assert waiting_for(s, _task(s, "upload:220102:employment")) == []
        assert [w.key for w in waiting_for(s, _task(s, "upload:220103:employment"))] == [
            "city_review:220103"
        ]


def test_stale_version_is_refused(jilin, calendar):
    key = "catalog:220102:social_assistance"
    _act(jilin, key, Action.start, NANGUAN, calendar)
    before = _snapshot(jilin, key)
    with pytest.raises(StaleVersion):
        _act(jilin, key, Action.submit, NANGUAN, calendar, expected_version=1)
    assert _snapshot(jilin, key) == before
    assert _act(jilin, key, Action.submit, NANGUAN, calendar, expected_version=2).version == 3
