"""Pure working-day calendar and local-time helpers (Asia/Shanghai).

Imports only the standard library, ``chinese_calendar``, ``yaml``, ``pydantic`` and
``rollout.errors``: no settings, database or ORM (DESIGN.md, import contracts).

- ``local_time``: ``TZ``, ``local_day``, ``at_local``, ``end_of_day_at``, ``days_left``,
  ``is_overdue`` ("X月X日前" = due at the end of that local day, inclusive).
- ``workdays``: ``WorkingCalendar`` (weekends, official holidays, make-up working days; override
  files ``YYYY.yaml``), ``default_calendar``.
- ``holiday_files``: the override file format and its validation.
"""

from rollout.calendar.holiday_files import DayEntry, HolidayFile, load_holiday_file
from rollout.calendar.local_time import (
    TZ,
    at_local,
    days_left,
    end_of_day_at,
    is_overdue,
    local_day,
)
from rollout.calendar.workdays import (
    BUNDLED_HOLIDAYS_DIR,
    WorkingCalendar,
    default_calendar,
    package_years,
)

__all__ = [
    "BUNDLED_HOLIDAYS_DIR",
    "TZ",
    "DayEntry",
    "HolidayFile",
    "WorkingCalendar",
    "at_local",
    "days_left",
    "default_calendar",
    "end_of_day_at",
    "is_overdue",
    "load_holiday_file",
    "local_day",
    "package_years",
]
