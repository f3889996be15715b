"""Constrained field types shared by the schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

#: A database id: 1 … 2**31-1.
Id = Annotated[int, Field(ge=1, le=2**31 - 1, description="编号（正整数）")]

#: Text with no control characters (NUL cannot be stored in PostgreSQL text).
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"


def text(max_length: int, description: str, min_length: int = 0):
    """A text field type of at most ``max_length`` characters, without control characters."""
    return Annotated[
        str,
        Field(min_length=min_length, max_length=max_length, pattern=NO_CONTROL,
              description=description),
    ]


DAY_MIN, DAY_MAX = date(2000, 1, 1), date(2099, 12, 31)


def day(description: str):
    """A local (Asia/Shanghai) day between 2000-01-01 and 2099-12-31."""
    return Annotated[
        date, Field(ge=DAY_MIN, le=DAY_MAX, description=f"{description}（本地日期 YYYY-MM-DD，Asia/Shanghai）")
    ]


def _sane(at: datetime) -> datetime:
    if not 2 <= at.year <= 9998 or not 1900 <= at.astimezone(UTC).year <= 2999:
        raise ValueError("时间超出范围（1900–2999 年）")
    return at


def moment(description: str):
    """An aware datetime (years 1900–2999)."""
    return Annotated[
        AwareDatetime, AfterValidator(_sane),
        Field(description=f"{description}（带时区的 ISO 8601 时间，如 2020-07-01T09:00:00+08:00）"),
    ]
