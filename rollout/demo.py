"""The demo: the Jilin plan as a year of seeded, realistic progress, for a newcomer to open.

``DemoProgress`` is a ``rollout.simulation`` day hook that acts for the units the way a real
rollout goes: most units deliver on or before the due day, some a few working days late, a few
much later; cities sign off their counties once the 26 catalogs are in (now and then returning
one domain for correction); the provincial office accepts uploaded catalogs, returning some for
correction first (plan §四(四) 反馈改正). Every decision is drawn from ``random.Random`` seeded
with (seed, task key), so the same seed gives the same year.

All changes go through the real state machine (``rollout.workflow.transition``) and the real
sign-off (``rollout.actions.reviews.sign_off``), with audit events, as a clerk's would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from rollout.actions.reviews import Finding, sign_off
from rollout.calendar import WorkingCalendar, local_day
from rollout.errors import RolloutError
from rollout.models import (
    OPEN_STATES,
    Domain,
    Milestone,
    Organization,
    ReviewDecision,
    TaskState,
    TrackedTask,
)
from rollout.workflow import Action, Actor, Role, role_for, transition

DEMO_SEED = 2020
#: Working days after the due day a returned item gets to be corrected (plan §四(四)).
CORRECTION_WORKING_DAYS = 10


@dataclass(frozen=True)
class Behaviour:
    """What one unit will do with one task: submit ``submit_offset`` working days from its due day
    (negative = early); an acceptor ``decide_after`` working days after a submission, returning
    it first when ``returned_first``."""

    submit_offset: int
    decide_after: int
    returned_first: bool


def draw(seed: int, task_key: str) -> Behaviour:
    """The seeded behaviour of one task: 72% early or on the due day, 22% 1–6 working days late,
    6% 10–30 working days late; 12% of reviewed submissions are returned once."""
    rng = random.Random(f"{seed}:{task_key}")
    roll = rng.random()
    if roll < 0.72:
        offset = -rng.randint(0, 8)
    elif roll < 0.94:
        offset = rng.randint(1, 6)
    else:
        offset = rng.randint(10, 30)
    return Behaviour(offset, rng.randint(1, 5), rng.random() < 0.12)


class DemoProgress:
    """A day hook for ``rollout.simulation.simulate``: acts for every unit on ``day``."""

    def __init__(self, calendar: WorkingCalendar, seed: int = DEMO_SEED) -> None:
        self.calendar = calendar
        self.seed = seed
        self._actors: dict[str, Actor] = {}
        self._milestones: dict[int, Milestone] = {}

    def _actor(self, session: Session, org_code: str) -> Actor:
        if org_code not in self._actors:
            org = session.get(Organization, org_code)
            assert org is not None
            self._actors[org_code] = Actor(org_code, role_for(org), f"{org.short_name or org.name}经办人")
        return self._actors[org_code]

    def _milestone(self, session: Session, milestone_id: int) -> Milestone:
        if milestone_id not in self._milestones:
            m = session.get(Milestone, milestone_id)
            assert m is not None
            self._milestones[milestone_id] = m
        return self._milestones[milestone_id]

    def __call__(self, session: Session, day: date, now: datetime) -> None:
        """Submit what is planned for ``day`` (when its requirements allow), decide submissions
        awaiting the office, and sign off counties whose catalogs are all in."""
        self._submit(session, day, now)
        self._decide(session, day, now)
        self._sign_off(session, day, now)

    def _try(self, session: Session, task: TrackedTask, action: Action, actor: Actor,
             now: datetime, **kw) -> bool:
        try:
            with session.begin_nested():
                transition(session, task.id, action, actor, now=now, calendar=self.calendar, **kw)
        except RolloutError:
            return False
        return True

    def _submit(self, session: Session, day: date, now: datetime) -> None:
        horizon = self.calendar.add_working_days(day, 8)
        tasks = session.exec(
            select(TrackedTask)
            .where(col(TrackedTask.state).in_(list(OPEN_STATES)), TrackedTask.due_on <= horizon)
            .order_by(TrackedTask.id)
        ).all()
        for task in tasks:
            m = self._milestone(session, task.milestone_id)
            if m.key == "city_review":
                continue  # signed off in _sign_off
            plan = draw(self.seed, task.key)
            offset = min(plan.submit_offset, 0) if task.times_returned else plan.submit_offset
            if self.calendar.add_working_days(task.due_on, offset) > day:
                continue
            self._try(session, task, Action.submit, self._actor(session, task.org_code), now,
                      note="https://example.org/gk/" + task.key)

    def _decide(self, session: Session, day: date, now: datetime) -> None:
        office = session.exec(select(Organization).where(Organization.kind == "office")).one()
        actor = Actor(office.code, Role.office, "省政务公开办验收组")
        tasks = session.exec(
            select(TrackedTask)
            .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .where(TrackedTask.state == TaskState.submitted, Milestone.accepted_by == "office")
        ).all()
        for task in tasks:
            plan = draw(self.seed, task.key)
            submitted_on = local_day(task.submitted_at) if task.submitted_at else day
            if self.calendar.add_working_days(submitted_on, plan.decide_after) > day:
                continue
            if plan.returned_first and task.times_returned == 0:
                self._try(session, task, Action.return_, actor, now,
                          note="事项要素不全：公开时限、公开渠道需补充完善",
                          new_due_on=self.calendar.add_working_days(day, CORRECTION_WORKING_DAYS))
            else:
                self._try(session, task, Action.accept, actor, now)

    def _sign_off(self, session: Session, day: date, now: datetime) -> None:
        reviews = session.exec(
            select(TrackedTask)
            .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .where(Milestone.key == "city_review", col(TrackedTask.state).in_(list(OPEN_STATES)))
        ).all()
        for review in reviews:
            plan = draw(self.seed, review.key)
            if self.calendar.add_working_days(review.due_on, plan.submit_offset) > day:
                continue
            catalogs = session.exec(
                select(TrackedTask)
                .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
                .where(Milestone.key == "catalog", TrackedTask.unit_code == review.unit_code)
            ).all()
            if any(c.state in OPEN_STATES for c in catalogs):
                continue
            returned_before = any(c.times_returned for c in catalogs)
            decision, findings = ReviewDecision.approved, []
            if plan.returned_first and not returned_before:
                dom = session.get(Domain, catalogs[0].domain_key)
                decision = ReviewDecision.returned
                findings = [Finding(domain=dom.key, kind="missing_item",
                                    text=f"{dom.name}目录缺少共性公开事项，请补充")]
            actor = self._actor(session, review.org_code)
            try:
                with session.begin_nested():
                    sign_off(
                        session, actor, review.unit_code, reviewer=actor.name, decision=decision,
                        findings=findings, expected_version=review.version, now=now,
                        calendar=self.calendar,
                        new_due_on=self.calendar.add_working_days(day, CORRECTION_WORKING_DAYS)
                        if decision == ReviewDecision.returned else None,
                    )
            except RolloutError:
                continue
