"""Holiday override files (``YYYY.yaml``): format, validation and loading.

One file describes the *whole* working-day arrangement of one year, as published in the State
Council General Office's notice (国务院办公厅关于YYYY年部分节假日安排的通知)::

    year: 2027
    source: "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）"
    holidays:            # days off that would otherwise be working days, or named days off
      - {name: 元旦, days: [2027-01-01]}
      - {name: 春节, from: 2027-02-06, to: 2027-02-13}
    workdays:            # make-up working days (调休上班) on weekends
      - {name: 春节调休, days: [2027-02-14]}

Rules (checked on load; a violation raises ``rollout.errors.PlanError`` naming the file and field):

- the file name is ``<year>.yaml`` and ``year`` matches it; every date lies in that year;
- each entry has a non-empty ``name`` and either ``days`` (a list of dates) or ``from``/``to``
  (an inclusive range, ``from <= to``), never both;
- ``workdays`` are Saturdays or Sundays (a make-up working day on a weekday is a typo);
- no date is listed twice (in either list, or in both).

Every day not listed follows the weekly rule: Monday-Friday working, Saturday/Sunday off.
A file for a year the ``chinese_calendar`` package also covers *replaces* the package's data for
that year entirely (this is how a mid-year change such as the 2020 Spring Festival extension,
国办发明电〔2020〕1号, or a corrected notice is applied), so list the full year.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rollout.errors import PlanError


class DayEntry(BaseModel):
    """One named group of days: ``{name, days: [..]}`` or ``{name, from, to}`` (inclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    days: list[date] | None = None
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        has_range = self.from_ is not None or self.to is not None
        if self.days is not None and has_range:
            raise ValueError("give either days or from/to, not both")
        if self.days is None and not has_range:
            raise ValueError("give days, or from and to")
        if has_range:
            if self.from_ is None or self.to is None:
                raise ValueError("from and to must both be given")
            if self.from_ > self.to:
                raise ValueError(f"from ({self.from_}) is after to ({self.to})")
        elif not self.days:
            raise ValueError("days is empty")
        return self

    def dates(self) -> list[date]:
        """The listed dates, in order."""
        if self.days is not None:
            return list(self.days)
        assert self.from_ is not None and self.to is not None
        n = (self.to - self.from_).days
        return [self.from_ + timedelta(days=i) for i in range(n + 1)]


class HolidayFile(BaseModel):
    """A parsed, validated ``YYYY.yaml`` override file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=1900, le=2200)
    source: str = Field(min_length=1)
    holidays: list[DayEntry] = Field(default_factory=list)
    workdays: list[DayEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: dict[date, str] = {}
        for field in ("holidays", "workdays"):
            for i, entry in enumerate(getattr(self, field)):
                for d in entry.dates():
                    where = f"{field}[{i}] ({entry.name})"
                    if d.year != self.year:
                        raise ValueError(f"{where}: {d} is not in year {self.year}")
                    if field == "workdays" and d.weekday() < 5:
                        raise ValueError(
                            f"{where}: {d} is a weekday; make-up working days are weekend days"
                        )
                    if d in seen:
                        raise ValueError(f"{where}: {d} is already listed in {seen[d]}")
                    seen[d] = where
        return self

    def days_off(self) -> dict[date, str]:
        """Listed days off -> holiday name."""
        return {d: e.name for e in self.holidays for d in e.dates()}

    def make_up_days(self) -> dict[date, str]:
        """Listed make-up working days -> name as written (e.g. ``春节调休``)."""
        return {d: e.name for e in self.workdays for d in e.dates()}


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def load_holiday_file(path: Path) -> HolidayFile:
    """Read and validate one override file.

    ``path`` must be named ``<year>.yaml``. Raises ``PlanError`` (message names the file and the
    field, e.g. ``holidays[1].from``) if it is unreadable, not YAML, or fails the rules above.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlanError(f"节假日安排文件无法读取 {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise PlanError(
            f"节假日安排文件无效 {path}: (file): "
            "expected a mapping with year, source, holidays, workdays"
        )
    try:
        parsed = HolidayFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PlanError(
            f"节假日安排文件无效 {path}: {_loc(tuple(first['loc']))}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")
        ) from exc
    if path.stem != str(parsed.year):
        raise PlanError(
            f"节假日安排文件无效 {path}: year: {parsed.year} "
            f"does not match the file name {path.name}"
        )
    return parsed
