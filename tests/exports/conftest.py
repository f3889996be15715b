"""The assessment scenario, set up through the state machine with explicit times.

County 220102 (南关区, city 220100 长春市), catalog tasks due 2020-07-01 (a Wednesday):
- social_assistance submitted 2020-07-06 (3 working days late: 07-02, 07-03, 07-06);
- employment submitted 2020-07-08 (5 working days late: ... 07-07, 07-08);
- elderly_care submitted 06-29, returned by the city, resubmitted 06-30 (on time, returned once);
- the other 23 domains submitted 06-30; the city accepts all 26 on 07-09.
County 220103 (宽城区): household_registration extended to 2020-07-10 (original 07-01 kept) and
submitted 07-08: on time. City 220100 files its implementation plan (due 05-06) on 05-08: 2
working days late (05-07, 05-08).
"""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar, end_of_day_at
from rollout.models import Domain, TrackedTask
from rollout.workflow import Action, Actor, Role, transition

COUNTY, COUNTY_B, CITY = "220102", "220103", "220100"
LATE = {"social_assistance": 3, "employment": 5}
RETURNED = "elderly_care"
EXTENDED = "household_registration"


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """2020-month-day hour:minute, Beijing time."""
    return datetime(2020, month, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def assessed(jilin: sa.Engine, calendar: WorkingCalendar) -> sa.Engine:
    """``jilin`` with the scenario above applied."""
    county, city = Actor(COUNTY, Role.county, "南关区联络员"), Actor(CITY, Role.city, "长春市复核员")

    def act(s, key: str, action: Action, who: Actor, now: datetime, **kw) -> None:
        task = s.exec(select(TrackedTask).where(TrackedTask.key == key)).one()
        transition(s, task.id, action, who, now=now, calendar=calendar, **kw)

    with db.unit_of_work(jilin) as s:
        domains = [d.key for d in s.exec(select(Domain)).all()]
        assert len(domains) == 26
        for d in domains:
            key = f"catalog:{COUNTY}:{d}"
            if d in LATE:
                act(s, key, Action.submit, county, at(7, 6) if LATE[d] == 3 else at(7, 8, 16))
            elif d == RETURNED:
                act(s, key, Action.submit, county, at(6, 29))
                act(s, key, Action.return_, city, at(6, 29, 15), note="缺少公开依据")
                act(s, key, Action.submit, county, at(6, 30, 11))
            else:
                act(s, key, Action.submit, county, at(6, 30))
        for d in domains:
            act(s, f"catalog:{COUNTY}:{d}", Action.accept, city, at(7, 9))
        # An approved extension, as the extension API records it: due_on moves, original kept.
        ext = s.exec(
            select(TrackedTask).where(TrackedTask.key == f"catalog:{COUNTY_B}:{EXTENDED}")
        ).one()
        ext.due_on = datetime(2020, 7, 10).date()
        ext.due_at = end_of_day_at(ext.due_on)
        s.add(ext)
        s.flush()
        act(s, ext.key, Action.submit, Actor(COUNTY_B, Role.county), at(7, 8))
        act(s, f"city_filing:{CITY}", Action.submit, city, at(5, 8))
    return jilin
