"""Local-day arithmetic: "X月X日前" = due at the end of that Asia/Shanghai day, inclusive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from rollout.calendar import TZ, at_local, days_left, end_of_day_at, is_overdue, local_day

CST = timezone(timedelta(hours=8))
DUE = date(2020, 4, 17)  # work_plan: "4月17日前"


def test_early_morning_on_due_day_is_still_utc_previous_day():
    now = datetime(2020, 4, 17, 7, 30, tzinfo=CST)
    assert now.astimezone(UTC).date() == date(2020, 4, 16)
    assert local_day(now) == DUE
    assert days_left(DUE, now) == 0
    assert not is_overdue(DUE, now)


def test_last_second_of_due_day_not_overdue():
    now = datetime(2020, 4, 17, 23, 59, 59, tzinfo=CST)
    assert not is_overdue(DUE, now)
    assert days_left(DUE, now) == 0


def test_midnight_after_due_day_is_overdue():
    now = datetime(2020, 4, 18, 0, 0, tzinfo=CST)
    assert is_overdue(DUE, now)
    assert days_left(DUE, now) == -1


def test_days_left_before_due():
    assert days_left(DUE, datetime(2020, 4, 10, 12, tzinfo=CST)) == 7
    # 2020-04-16T16:30Z is 2020-04-17T00:30 in Shanghai.
    assert days_left(DUE, datetime(2020, 4, 16, 16, 30, tzinfo=UTC)) == 0


def test_end_of_day_at():
    end = end_of_day_at(DUE)
    assert end == datetime(2020, 4, 17, 23, 59, 59, 999999, tzinfo=CST)
    assert end.tzinfo is TZ
    assert not is_overdue(DUE, end)
    assert is_overdue(DUE, end + timedelta(microseconds=1))


def test_at_local():
    at = at_local(date(2020, 7, 1), time(9, 0))
    assert at == datetime(2020, 7, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        at_local(date(2020, 7, 1), time(9, 0, tzinfo=UTC))


def test_naive_rejected():
    naive = datetime(2020, 4, 17, 12)
    with pytest.raises(ValueError):
        local_day(naive)
    with pytest.raises(ValueError):
        days_left(DUE, naive)
    with pytest.raises(ValueError):
        is_overdue(DUE, naive)
