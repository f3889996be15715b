"""The Chinese working-day calendar: weekends, official holidays and make-up working days.

Sources, per year, first match wins:

1. ``YYYY.yaml`` in each of ``WorkingCalendar(override_dirs=...)``, in order;
2. ``YYYY.yaml`` in the bundled folder ``rollout/calendar/holidays/``;
3. the ``chinese_calendar`` package (chinesecalendar 1.11 covers 2004-2026; a year it lacks is
   detected by its own ``NotImplementedError("no available data for year ...")``).

A day in a year none of them covers raises ``rollout.errors.MissingHolidayData`` naming the
bundled file to add. The calendar never falls back to weekends alone (a guessed year would move
every deadline that crosses a holiday). The file format is in ``holiday_files``.

Dates are local (Asia/Shanghai) calendar dates. Each year is loaded once into a per-day flag
array and a sorted array of working-day ordinals, so ``is_working_day`` is O(1) and
``add_working_days`` / ``working_days_between`` are O(log n) plus one step per year crossed.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import chinese_calendar

from rollout.calendar.holiday_files import load_holiday_file
from rollout.errors import MissingHolidayData

BUNDLED_HOLIDAYS_DIR = Path(__file__).with_name("holidays")
"""The override files shipped in the package (``rollout/calendar/holidays/YYYY.yaml``)."""

_HINT = "rollout/calendar/holidays/{year}.yaml"
_FILE_RE = re.compile(r"^(\d{4})\.yaml$")
_WEEKEND = "周末"
_MAKE_UP_SUFFIX = "调休上班"

# chinese_calendar stores English names; the Chinese official names used in the notices.
_CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}


def _package_name(english: str) -> str:
    if english in _CHINESE_NAMES:
        return _CHINESE_NAMES[english]
    try:  # a name added in a later chinesecalendar release
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


def _base_name(name: str) -> str:
    """``春节调休`` / ``春节调休上班`` / ``春节`` -> ``春节``."""
    for suffix in (_MAKE_UP_SUFFIX, "调休", "补班", "上班"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True, slots=True)
class _Year:
    year: int
    first: int  # ordinal of Jan 1
    flags: bytes  # flags[ordinal - first] == 1 if working day
    working: list[int]  # sorted ordinals of the working days
    names: dict[int, str]  # ordinal -> holiday name (days off) or base name (make-up days)
    source: str


def _build_year(year: int, off: dict[date, str], make_up: dict[date, str], source: str) -> _Year:
    first = date(year, 1, 1).toordinal()
    n = date(year + 1, 1, 1).toordinal() - first
    flags = bytearray(n)
    names: dict[int, str] = {}
    for i in range(n):
        d = date.fromordinal(first + i)
        if d in make_up:
            flags[i] = 1
            names[first + i] = _base_name(make_up[d])
        elif d in off:
            names[first + i] = off[d]
        elif d.weekday() < 5:
            flags[i] = 1
    working = [first + i for i in range(n) if flags[i]]
    return _Year(year, first, bytes(flags), working, names, source)


@cache
def package_years() -> tuple[int, ...]:
    """The years the installed ``chinese_calendar`` covers, found with its own
    "no available data" signal (``NotImplementedError``) rather than a hard-coded range."""
    years = []
    for y in range(1900, 2201):
        try:
            chinese_calendar.is_workday(date(y, 1, 1))
        except NotImplementedError:
            continue
        years.append(y)
    return tuple(years)


def _package_year(year: int) -> _Year | None:
    off: dict[date, str] = {}
    make_up: dict[date, str] = {}
    d = date(year, 1, 1)
    try:
        while d.year == year:
            is_off, name = chinese_calendar.get_holiday_detail(d)
            if name is not None:
                (off if is_off else make_up)[d] = _package_name(name)
            elif is_off != (d.weekday() >= 5):  # unnamed deviation: keep it, named generically
                (off if is_off else make_up)[d] = "节假日"
            d += timedelta(days=1)
    except NotImplementedError:
        return None
    return _build_year(year, off, make_up, f"chinese_calendar {chinese_calendar.__version__}")


class WorkingCalendar:
    """Working days of mainland China (State Council holiday arrangements), with overrides.

    ``override_dirs``: folders searched, in order, for ``YYYY.yaml`` before the bundled folder
    and the ``chinese_calendar`` package (see the module docstring). Years are loaded lazily and
    cached on the instance; an instance is safe to share between threads (loading is idempotent).

    Every method taking a ``date`` raises ``MissingHolidayData(year, hint)`` when it needs a year
    no source covers, and ``PlanError`` when the override file for that year is invalid.
    Passing a ``datetime`` raises ``TypeError`` (take ``local_day(at)`` first).
    """

    def __init__(self, override_dirs: Sequence[Path | str] = ()) -> None:
        self.override_dirs: tuple[Path, ...] = tuple(Path(p) for p in override_dirs)
        self._years: dict[int, _Year | None] = {}

    def __repr__(self) -> str:
        return f"WorkingCalendar(override_dirs={list(map(str, self.override_dirs))!r})"

    # -- loading ---------------------------------------------------------------------------

    def _search_dirs(self) -> tuple[Path, ...]:
        return (*self.override_dirs, BUNDLED_HOLIDAYS_DIR)

    def override_file(self, year: int) -> Path | None:
        """The override file that defines ``year`` (first found), or None if none exists."""
        for folder in self._search_dirs():
            path = folder / f"{year}.yaml"
            if path.is_file():
                return path
        return None

    def _load(self, year: int) -> _Year | None:
        path = self.override_file(year)
        if path is not None:
            f = load_holiday_file(path)
            return _build_year(year, f.days_off(), f.make_up_days(), str(path))
        return _package_year(year)

    def _year(self, year: int) -> _Year:
        try:
            y = self._years[year]
        except KeyError:
            y = self._years[year] = self._load(year)
        if y is None:
            raise MissingHolidayData(year, _HINT.format(year=year))
        return y

    def has_year(self, year: int) -> bool:
        """True if some source covers ``year`` (raises ``PlanError`` if its file is invalid)."""
        try:
            self._year(year)
        except MissingHolidayData:
            return False
        return True

    def years_covered(self) -> list[int]:
        """Sorted years with data: override files (all search folders) and the package."""
        years = set(package_years())
        for folder in self._search_dirs():
            if folder.is_dir():
                for p in folder.iterdir():
                    m = _FILE_RE.match(p.name)
                    if m:
                        years.add(int(m.group(1)))
        return sorted(years)

    def source_of(self, year: int) -> str:
        """Where ``year``'s data comes from: the override file path or ``chinese_calendar X.Y``."""
        return self._year(year).source

    # -- queries ---------------------------------------------------------------------------

    @staticmethod
    def _check(day: date) -> int:
        if isinstance(day, datetime):
            raise TypeError(f"expected a local date, got datetime {day!r}; use local_day(at)")
        return day.toordinal()

    def is_working_day(self, day: date) -> bool:
        """True if ``day`` is a working day (Mon-Fri not a holiday, or a make-up working day)."""
        o = self._check(day)
        y = self._year(day.year)
        return y.flags[o - y.first] == 1

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is special, in Chinese, or None for an ordinary working day.

        - an official day off: the holiday's name, e.g. ``端午节`` (2020-06-25);
        - a make-up working day: ``<holiday>调休上班``, e.g. ``端午节调休上班`` (2020-06-28);
        - an ordinary Saturday/Sunday: ``周末``;
        - an ordinary Monday-Friday working day: None.

        With ``is_working_day`` this gives the CLI's "yes/no (name)" answer.
        """
        o = self._check(day)
        y = self._year(day.year)
        name = y.names.get(o)
        working = y.flags[o - y.first] == 1
        if name is not None:
            return f"{name}{_MAKE_UP_SUFFIX}" if working else name
        return None if working else _WEEKEND

    def add_working_days(self, day: date, n: int) -> date:
        """Move ``n`` working days from ``day``.

        n > 0: the n-th working day after ``day`` (``day`` itself not counted);
        n < 0: the |n|-th working day before ``day``; n == 0: ``day`` itself (even if ``day``
        is not a working day). ``day`` need not be a working day.
        Example: ``add_working_days(date(2020, 7, 1), -3) == date(2020, 6, 28)`` (a Sunday
        make-up working day after 端午节).
        """
        o = self._check(day)
        if n == 0:
            return day
        y = self._year(day.year)
        arr = y.working
        if n > 0:
            i = bisect_right(arr, o)  # index of the first working day after `day`
            while i + n > len(arr):
                n -= len(arr) - i
                y = self._year(y.year + 1)
                arr, i = y.working, 0
            return date.fromordinal(arr[i + n - 1])
        n = -n
        i = bisect_left(arr, o)  # number of working days before `day` in its year
        while i < n:
            n -= i
            y = self._year(y.year - 1)
            arr = y.working
            i = len(arr)
        return date.fromordinal(arr[i - n])

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in (start, end] (start excluded, end included).

        0 when ``start == end``; ``-working_days_between(end, start)`` when ``end < start``.
        So ``add_working_days(d, k)`` is the first day ``e`` with ``working_days_between(d, e)
        == k`` for k > 0. Example: (2020-07-01, 2020-07-08] holds 5 working days.
        """
        s, e = self._check(start), self._check(end)
        if s == e:
            return 0
        if e < s:
            return -self.working_days_between(end, start)
        count = -bisect_right(self._year(start.year).working, s)
        for yr in range(start.year, end.year):
            count += len(self._year(yr).working)
        return count + bisect_right(self._year(end.year).working, e)


@cache
def default_calendar() -> WorkingCalendar:
    """The shared calendar over the bundled override files and the package only (no extra dirs)."""
    return WorkingCalendar()
