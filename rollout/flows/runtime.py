"""What every flow needs at run time: the ``as_of`` parameter parsed, and which failures a
Prefect task retries (I/O, not bugs)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from rollout.calendar import TZ


def parse_as_of(as_of: str | None) -> datetime:
    """``as_of`` (ISO text; without an offset it is Asia/Shanghai local time) as an aware
    datetime; None means now. Raises ``ValueError`` on text that is not a time."""
    if as_of is None:
        return datetime.now(TZ)
    value = datetime.fromisoformat(as_of)
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def io_failure(_task, _task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the task failed on I/O (a file, or the
    database connection), never on a bug or bad data, which a retry cannot fix."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return isinstance(exc, OSError | sa.exc.OperationalError | sa.exc.InterfaceError)
