"""``rollout serve --demo``: an empty database becomes a simulated Jilin year a newcomer can open."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import select

from rollout import db
from rollout.calendar import local_day
from rollout.cli.serve import DEMO_USERS, prepare_demo
from rollout.demo import draw
from rollout.models import Milestone, TrackedTask, User


def test_demo_fills_an_empty_database_once(sqlite_url):
    assert prepare_demo(sqlite_url, date(2020, 9, 15)) is True
    assert prepare_demo(sqlite_url, date(2020, 9, 15)) is False  # already there: left alone
    engine = db.get_engine(sqlite_url)
    with db.read_session(engine) as s:
        assert sorted(u.username for u in s.exec(select(User))) == sorted(u for u, _, _ in DEMO_USERS)
        rows = s.exec(select(Milestone.key, TrackedTask)
                      .join(TrackedTask, TrackedTask.milestone_id == Milestone.id)).all()
    by = {}
    for key, t in rows:
        by.setdefault(key, []).append(t)
    # everything due before the demo day was delivered at some point, most of it on time
    for key in ("work_plan", "dept_filing", "city_filing", "training"):
        assert all(t.submitted_at for t in by[key]), key
    catalogs = by["catalog"]
    late = [t for t in catalogs if t.submitted_at and local_day(t.submitted_at) > t.original_due_on]
    assert 0.05 < len(late) / len(catalogs) < 0.45
    assert any(t.times_returned for t in catalogs)  # some returned and corrected by a city
    assert sum(t.state.value == "accepted" for t in by["city_review"]) >= 40
    # nothing due after the demo day moved yet, and the outbox holds the year's notices
    assert all(t.submitted_at is None for t in by["acceptance"])
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from outboxmessage")).scalar_one() > 1000


def test_behaviour_is_seeded():
    assert draw(2020, "catalog:220102:social_assistance") == draw(2020, "catalog:220102:social_assistance")
    offsets = [draw(2020, f"catalog:{i}").submit_offset for i in range(2000)]
    late_share = sum(o > 0 for o in offsets) / len(offsets)
    assert 0.2 < late_share < 0.35  # 22% + 6% late by construction
