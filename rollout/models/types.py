"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa


class AwareDateTime(sa.types.TypeDecorator):
    """An aware datetime column, stored in UTC.

    PostgreSQL keeps it as ``timestamptz``; SQLite, which has no zone, keeps the UTC wall time.
    Reads always return an aware datetime in UTC. Binding a naive datetime raises ``ValueError``:
    every ``_at`` value in rollout is aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: rollout stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # PostgreSQL sessions run in UTC (rollout.db)
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum: type[StrEnum], length: int = 20) -> sa.Enum:
    """A VARCHAR(``length``) column holding a ``StrEnum``'s values (no native PostgreSQL enum
    type, so adding a member needs no type migration); reads return enum members."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
