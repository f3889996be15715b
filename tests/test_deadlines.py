"""Deadline steps with the real 2020 calendar (dates counted by hand from the State Council notice
国办发明电〔2019〕16号: 端午节 Jun 25-27 with make-up Sun Jun 28; 劳动节 May 1-5 with make-up
Sun Apr 26 and Sat May 9; 国庆节+中秋节 Oct 1-8 with make-up Sun Sep 27 and Sat Oct 10)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from pydantic import ValidationError

from rollout.calendar import WorkingCalendar, local_day
from rollout.deadlines import (
    ChainLevel,
    DeadlinePolicy,
    EscalationRule,
    Step,
    StepKind,
    due_steps,
    escalation_target,
    iter_steps,
    next_step,
    recipient_levels,
    steps_for,
)
from rollout.errors import MissingHolidayData

CST = timezone(timedelta(hours=8))
CAL = WorkingCalendar()
POLICY = DeadlinePolicy()


def at9(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 0, tzinfo=CST)


def brief(steps: list[Step]) -> list[tuple[str, date, int]]:
    return [(s.key, s.on, s.levels_up) for s in steps]


def test_catalog_due_july_first_default_policy():
    # Due Wed 2020-07-01 (catalog, "7月1日前"), a working day.
    # Working days before it, counting back: Tue 06-30 (1), Mon 06-29 (2), Sun 06-28 make-up (3),
    # Jun 25-27 端午节 off, Wed 06-24 (4), Tue 06-23 (5), Mon 06-22 (6), weekend 06-20/21,
    # Fri 06-19 (7), Thu 06-18 (8), Wed 06-17 (9), Tue 06-16 (10).
    # After it: Thu 07-02 (1), Fri 07-03 (2), Mon 07-06 (3), Tue 07-07 (4), Wed 07-08 (5),
    # Thu 07-09 (6), Fri 07-10 (7), Mon 07-13 (8), Tue 07-14 (9), Wed 07-15 (10), ... no July
    # holidays, so every 5 working days is the next Wednesday: 07-22 (15), 07-29 (20).
    steps = steps_for(date(2020, 7, 1), POLICY, CAL, until=date(2020, 7, 31))
    assert brief(steps) == [
        ("reminder-10", date(2020, 6, 16), 0),
        ("reminder-5", date(2020, 6, 23), 0),
        ("reminder-3", date(2020, 6, 28), 0),
        ("reminder-1", date(2020, 6, 30), 0),
        ("reminder-0", date(2020, 7, 1), 0),
        ("escalation-1", date(2020, 7, 2), 1),
        ("escalation-5", date(2020, 7, 8), 2),
        ("overdue-1", date(2020, 7, 15), 2),
        ("overdue-2", date(2020, 7, 22), 2),
        ("overdue-3", date(2020, 7, 29), 2),
    ]
    assert all(s.at == at9(s.on.year, s.on.month, s.on.day) for s in steps)
    assert [s.kind for s in steps[4:8]] == [
        StepKind.reminder,
        StepKind.escalation,
        StepKind.escalation,
        StepKind.overdue,
    ]
    assert steps[0].working_days_before == 10 and steps[0].working_days_late is None
    assert steps[6].working_days_late == 5 and steps[7].working_days_late == 10
    # Without `until`: the finite part only.
    assert brief(steps_for(date(2020, 7, 1), POLICY, CAL)) == brief(steps[:7])


def test_due_on_ordinary_sunday():
    # Due Sun 2020-05-17 (Sat 05-16 and Sun 05-17 ordinary weekend days).
    # Working days before: Fri 05-15 (1), Thu 05-14 (2), Wed 05-13 (3), Tue 05-12 (4),
    # Mon 05-11 (5), Sun 05-10 off, Sat 05-09 make-up (6), Fri 05-08 (7), Thu 05-07 (8),
    # Wed 05-06 (9), May 1-5 劳动节 off, Thu 04-30 (10).
    # reminder-0 (due day not working -> last working day before) and reminder-1 both fall on
    # Fri 05-15: only reminder-0 is kept. After: Mon 05-18 (1) .. Fri 05-22 (5), Mon 05-25 (6) ..
    # Fri 05-29 (10).
    steps = steps_for(date(2020, 5, 17), POLICY, CAL, until=date(2020, 5, 29))
    assert brief(steps) == [
        ("reminder-10", date(2020, 4, 30), 0),
        ("reminder-5", date(2020, 5, 11), 0),
        ("reminder-3", date(2020, 5, 13), 0),
        ("reminder-0", date(2020, 5, 15), 0),
        ("escalation-1", date(2020, 5, 18), 1),
        ("escalation-5", date(2020, 5, 22), 2),
        ("overdue-1", date(2020, 5, 29), 2),
    ]


def test_due_on_sunday_after_make_up_saturday():
    # Due Sun 2020-05-10: the day before, Sat 05-09, is a make-up working day, so reminder-0 is
    # on that Saturday, not on Friday 05-08. escalation-1: Mon 05-11.
    steps = {s.key: s.on for s in steps_for(date(2020, 5, 10), POLICY, CAL)}
    assert steps["reminder-0"] == date(2020, 5, 9)
    assert "reminder-1" not in steps
    # 3 working days before: Sat 05-09 (1), Fri 05-08 (2), Thu 05-07 (3).
    assert steps["reminder-3"] == date(2020, 5, 7)
    assert steps["escalation-1"] == date(2020, 5, 11)


def test_next_step():
    due = date(2020, 7, 1)
    assert next_step(due, POLICY, CAL, at9(2020, 6, 1)).key == "reminder-10"
    assert next_step(due, POLICY, CAL, at9(2020, 7, 1) - timedelta(seconds=1)).key == "reminder-0"
    assert next_step(due, POLICY, CAL, at9(2020, 7, 1)).key == "escalation-1"  # strictly after


def test_next_step_long_overdue_crosses_national_day():
    # Due 2020-07-01. Working days after it: July 2..31 = 22, August = 21, Sep 1..25 = 19 -> 62
    # by Fri 09-25; Sun 09-27 make-up (63), 09-28 (64), Tue 09-29 (65), 09-30 (66),
    # Oct 1-8 off, Fri 10-09 (67), Sat 10-10 make-up (68), Mon 10-12 (69), Tue 10-13 (70).
    # overdue-i is at 5 + 5i working days late: overdue-12 = 65 -> 09-29, overdue-13 = 70 -> 10-13.
    due = date(2020, 7, 1)
    s = next_step(due, POLICY, CAL, at9(2020, 9, 29) - timedelta(minutes=1))
    assert (s.key, s.on, s.working_days_late) == ("overdue-12", date(2020, 9, 29), 65)
    s = next_step(due, POLICY, CAL, at9(2020, 9, 29))
    assert (s.key, s.on, s.working_days_late) == ("overdue-13", date(2020, 10, 13), 70)


def test_next_step_matches_full_schedule():
    due = date(2020, 4, 17)
    full = steps_for(due, POLICY, CAL, until=date(2021, 6, 30))
    for hours in range(0, 24 * 400, 17):
        after = datetime(2020, 3, 1, tzinfo=CST) + timedelta(hours=hours)
        expected = next(s for s in full if s.at > after)
        assert next_step(due, POLICY, CAL, after) == expected, after


def test_due_steps_after_eight_working_days_down():
    # Due Wed 07-01. The sweep last processed reminder-1 (Tue 06-30 09:00), then was down for
    # 8 working days: 07-01, 07-02, 07-03, 07-06, 07-07, 07-08, 07-09, 07-10. Back Fri 07-10 18:00.
    due = date(2020, 7, 1)
    got = due_steps(due, POLICY, CAL, at9(2020, 6, 30), datetime(2020, 7, 10, 18, tzinfo=CST))
    assert got.latest.key == "escalation-5" and got.latest.on == date(2020, 7, 8)
    assert [s.key for s in got.skipped] == ["reminder-0", "escalation-1"]
    assert (got.next.key, got.next.on) == ("overdue-1", date(2020, 7, 15))
    # Processed: running again with last = latest sends nothing more.
    again = due_steps(due, POLICY, CAL, got.latest.at, datetime(2020, 7, 10, 18, tzinfo=CST))
    assert again.latest is None and again.skipped == [] and again.next == got.next


def test_due_steps_boundaries():
    due = date(2020, 7, 1)
    nothing = due_steps(due, POLICY, CAL, None, at9(2020, 6, 16) - timedelta(seconds=1))
    assert nothing.latest is None and nothing.skipped == []
    assert nothing.next.key == "reminder-10"
    exact = due_steps(due, POLICY, CAL, None, at9(2020, 6, 16))  # at == now is due
    assert exact.latest.key == "reminder-10" and exact.skipped == []
    assert exact.next.key == "reminder-5"
    # Task created late (no step processed yet): earlier steps come back as skipped.
    late = due_steps(due, POLICY, CAL, None, datetime(2020, 6, 29, 12, tzinfo=CST))
    assert late.latest.key == "reminder-3"
    assert [s.key for s in late.skipped] == ["reminder-10", "reminder-5"]


def test_due_steps_long_outage_skips_overdue_notices():
    due = date(2020, 7, 1)
    got = due_steps(due, POLICY, CAL, at9(2020, 7, 15), datetime(2020, 9, 29, 10, tzinfo=CST))
    assert got.latest.key == "overdue-12"  # see test_next_step_long_overdue_crosses_national_day
    assert [s.key for s in got.skipped] == [f"overdue-{i}" for i in range(2, 12)]
    assert got.next.key == "overdue-13"


def test_naive_times_rejected():
    with pytest.raises(ValueError):
        next_step(date(2020, 7, 1), POLICY, CAL, datetime(2020, 7, 1))
    with pytest.raises(ValueError):
        due_steps(date(2020, 7, 1), POLICY, CAL, None, datetime(2020, 7, 1))


def test_missing_year_is_an_error_not_a_guess():
    # Due Mon 2026-12-28: escalation-5 needs working days in 2027, which the package lacks.
    with pytest.raises(MissingHolidayData) as exc:
        steps_for(date(2026, 12, 28), POLICY, CAL)
    assert exc.value.year == 2027


def test_custom_policy_and_validation():
    p = POLICY.with_overrides(
        reminder_working_days_before=[0, 2],
        escalations=[{"after_working_days": 3, "levels_up": 3}],
        overdue_every_working_days=0,
        send_time="08:30",
    )
    assert p.reminder_working_days_before == [2, 0]
    assert p.send_time == time(8, 30)
    steps = steps_for(date(2020, 7, 1), p, CAL, until=date(2021, 1, 1))
    # 2 wd before Wed 07-01: Mon 06-29; 3 wd after: Mon 07-06; no overdue notices.
    assert brief(steps) == [
        ("reminder-2", date(2020, 6, 29), 0),
        ("reminder-0", date(2020, 7, 1), 0),
        ("escalation-3", date(2020, 7, 6), 3),
    ]
    assert steps[0].at == datetime(2020, 6, 29, 8, 30, tzinfo=CST)
    assert next_step(date(2020, 7, 1), p, CAL, at9(2020, 7, 6)) is None
    with pytest.raises(ValidationError):
        DeadlinePolicy(reminders=[1])
    with pytest.raises(ValidationError):
        DeadlinePolicy(reminder_working_days_before=[-1])
    with pytest.raises(ValidationError):
        DeadlinePolicy(escalations=[EscalationRule(after_working_days=1, levels_up=1)] * 2)
    with pytest.raises(ValidationError):
        EscalationRule(after_working_days=0, levels_up=1)


def test_no_escalations_overdue_from_due_day():
    p = DeadlinePolicy(
        reminder_working_days_before=[], escalations=[], overdue_every_working_days=5
    )
    # Infinite: take only the first. 5 wd after Wed 07-01: 07-02, 03, 06, 07, Wed 07-08.
    first = next(iter_steps(date(2020, 7, 1), p, CAL))
    assert (first.key, first.on, first.levels_up) == ("overdue-1", date(2020, 7, 8), 0)


def test_steps_are_strictly_increasing():
    it = iter_steps(date(2020, 9, 30), POLICY, CAL)
    steps = [next(it) for _ in range(40)]
    assert all(a.at < b.at for a, b in zip(steps, steps[1:], strict=False))
    assert len({s.key for s in steps}) == 40
    assert all(CAL.is_working_day(s.on) for s in steps)
    assert all(local_day(s.at) == s.on for s in steps)


# -- escalation chain ----------------------------------------------------------------------


def test_recipient_levels():
    assert recipient_levels("county_department") == [
        ChainLevel.county_department,
        ChainLevel.county_government,
        ChainLevel.city,
        ChainLevel.provincial_office,
    ]
    assert recipient_levels("city") == ["city", "provincial_office"]
    assert recipient_levels("provincial_department") == [
        "provincial_department",
        "provincial_office",
    ]
    assert recipient_levels("provincial_office") == ["provincial_office"]
    # 乡镇（街道）: township -> its county government -> city -> provincial office
    assert recipient_levels("township") == [
        "township", "county_government", "city", "provincial_office"]
    with pytest.raises(ValueError):
        recipient_levels("village")


def test_escalation_target_clamps_at_top():
    chain = [
        ("长春市朝阳区", "教育"),
        ("长春市朝阳区", None),
        ("长春市", None),
        ("省政务公开办", None),
    ]
    assert escalation_target(chain, 0) == ("长春市朝阳区", "教育")
    assert escalation_target(chain, 1) == ("长春市朝阳区", None)
    assert escalation_target(chain, 2) == ("长春市", None)
    assert escalation_target(chain, 3) == ("省政务公开办", None)
    assert escalation_target(chain, 9) == ("省政务公开办", None)
    assert escalation_target(["长春市", "省政务公开办"], 2) == "省政务公开办"
    with pytest.raises(ValueError):
        escalation_target([], 1)
    with pytest.raises(ValueError):
        escalation_target(chain, -1)
