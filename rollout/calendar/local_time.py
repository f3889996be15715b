"""Local (Asia/Shanghai) days and times: the plan's "X月X日前" arithmetic.

Conventions (DESIGN.md, "Time"): ``_on`` values are local Asia/Shanghai calendar dates,
``_at`` values are aware datetimes. Nothing here reads the clock; callers pass ``now``.

"X月X日前" in the plan (吉政公组〔2020〕1号, 四、进度安排) means due at the *end* of that local day,
inclusive: a task due 2020-04-17 is on time at 2020-04-17 23:59:59.999999+08:00 and overdue one
microsecond later.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
"""The plan's time zone. (China has had no daylight-saving time since 1991.)"""


def _require_aware(at: datetime, name: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at!r}")


def local_day(at: datetime) -> date:
    """The Asia/Shanghai calendar date of ``at``.

    ``at``: aware datetime (any zone). Returns the local date, e.g. 2020-04-16T23:30Z -> 2020-04-17.
    Raises ``ValueError`` if ``at`` is naive (a naive time has no defined local day).
    """
    _require_aware(at)
    return at.astimezone(TZ).date()


def at_local(day: date, t: time) -> datetime:
    """The aware datetime at local (Asia/Shanghai) wall-clock time ``t`` on ``day``.

    ``t`` must be naive (its wall-clock value is interpreted in Asia/Shanghai); an aware ``t``
    raises ``ValueError`` to avoid silently ignoring its zone.
    """
    if t.tzinfo is not None:
        raise ValueError(f"t must be a naive wall-clock time, got aware {t!r}")
    return datetime.combine(day, t, tzinfo=TZ)


def end_of_day_at(day: date) -> datetime:
    """The last instant of local ``day``: ``day`` 23:59:59.999999 Asia/Shanghai (aware).

    This is a task's ``due_at`` for "``day``前" (due by the end of that day, inclusive).
    """
    return at_local(day, time.max)


def days_left(due_on: date, now: datetime) -> int:
    """Calendar days from the local day of ``now`` to ``due_on``.

    0 on the due day itself, 1 the day before, -1 the day after (late), and so on.
    ``now``: aware datetime; raises ``ValueError`` if naive. Counts calendar days, not working
    days (use ``WorkingCalendar.working_days_between`` for those).
    """
    return (due_on - local_day(now)).days


def is_overdue(due_on: date, now: datetime) -> bool:
    """True once ``now`` is past the end of local ``due_on`` (``now > end_of_day_at(due_on)``).

    ``now``: aware datetime; raises ``ValueError`` if naive.
    """
    _require_aware(now, "now")
    return now > end_of_day_at(due_on)
