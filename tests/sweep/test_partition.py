"""``sweep(..., province_code=...)``: a sweep of one province touches only the tasks whose owner
belongs to it (issue 6, item 3: the flow sweeps provinces side by side).

Jilin alone has one province (220000). To get two, 长春市 (220100) and its counties are moved to
a made-up province 990000 (with an office of its own, the top of its chains) by SQL. Expected counts from the plan, as in test_sweep.py: on
2020-06-16 every catalog task (county × 26 domains) gets reminder-10, and every city_filing task
(one per city, overdue since 05-06) its latest step; 1,623 due tasks in all.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import Organization, OrgKind, OutboxMessage, TrackedTask
from rollout.sweep import SweepReport, sweep_all

JUNE_16 = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)


def _sweep_province(engine, calendar, province: str | None, batch_size: int = 100) -> SweepReport:
    return sweep_all(lambda: db.unit_of_work(engine), JUNE_16, calendar, batch_size=batch_size,
                     province_code=province)


def test_two_provinces_swept_apart_cover_the_day_once(jilin, calendar):
    with db.unit_of_work(jilin) as s:
        counties = s.exec(select(sa.func.count()).select_from(Organization)
                          .where(Organization.parent_code == "220100")).one()
        s.execute(sa.update(Organization)
                  .where(sa.or_(Organization.code == "220100", Organization.parent_code == "220100"))
                  .values(province_code="990000"))
        s.add(Organization(code="990000.office", name="测试省政务公开办", kind=OrgKind.office,
                           province_code="990000", email="gk-990000@example.org"))
    assert counties >= 1
    moved = 26 * counties + 1  # their catalog tasks and 长春市's city_filing

    other = _sweep_province(jilin, calendar, "990000")
    assert (other.created, other.tasks) == (moved, moved)
    assert other.skipped == 11  # city_filing: 12 steps by 06-16, the latest sent (test_sweep.py)
    with Session(jilin) as s:
        owners = set(s.exec(select(TrackedTask.org_code).join(
            OutboxMessage, OutboxMessage.task_id == TrackedTask.id)))
    assert owners == {"220100"} | set(_children(jilin, "220100"))

    assert _sweep_province(jilin, calendar, "210000").tasks == 0  # a province with no units
    home = _sweep_province(jilin, calendar, "220000")
    assert (home.created, home.tasks) == (1623 - moved, 1623 - moved)
    assert home.skipped == 745 - 11
    rest = _sweep_province(jilin, calendar, None)  # everything is done: a full sweep finds nothing
    assert (rest.created, rest.skipped, rest.tasks) == (0, 0, 0)


def _children(engine, parent: str) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(Organization.code).where(Organization.parent_code == parent)))
