"""Notices are documents: numbered 催办 / 督办 notices written to the outbox (留痕).

A reminder is a 催办 notice, an escalation or overdue notice a 督办 notice (issue 3, item 7).
Each pending row gets a number unique within its plan, per prefix and year of the step day:
``催办〔2020〕0153号`` (four digits, more when a year passes 9999). Numbers come from
``NoticeCounter`` in the caller's transaction: one ``INSERT ... ON CONFLICT DO UPDATE SET
last_number = last_number + k RETURNING last_number`` per (plan, prefix, year), which on
PostgreSQL takes the counter row's lock until the caller commits (what ``SELECT ... FOR UPDATE``
would, without the race on the year's first row) and on SQLite runs under the write lock every
write transaction starts with. Numbers are taken for the rows about to be written and go in
with them; numbers of rows that turned out to exist already are given back before the caller
commits (``enqueue_step_notices``), so the numbers of committed rows are gap-free per (plan,
prefix, year) in insertion order. On PostgreSQL every writer holds the numbering lock first,
and the batches of one sweep write at once with predicted numbers and commit in turn
(``rollout.notifications.numbering``).

Rows honour the outbox's UNIQUE (task_id, due_on, step_key, channel): a duplicate is written as
nothing (``INSERT ... ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL alike). Rows go in as
one statement per 20,000, the values as one JSON document (issue 6: a day's sweep writes tens
of thousands). Domain functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from rollout.calendar import local_day
from rollout.deadlines import Step, StepKind
from rollout.models import NoticeCounter, OutboxMessage, OutboxStatus, TrackedTask
from rollout.models.types import AwareDateTime
from rollout.notifications.numbering import (
    CounterKey,
    NumberingRaced,
    NumberTicket,
    hold_numbering,
)
from rollout.notifications.recipients import Recipient

NOTICE_PREFIXES: dict[StepKind, str] = {
    StepKind.reminder: "催办",
    StepKind.escalation: "督办",
    StepKind.overdue: "督办",
}
"""The document type of a step's notice: reminders are 催办, escalations and overdue 督办."""

_UNIQUE_KEY = ["task_id", "due_on", "step_key", "channel"]


def format_notice_number(prefix: str, year: int, number: int) -> str:
    """``format_notice_number("催办", 2020, 153) == "催办〔2020〕0153号"``."""
    return f"{prefix}〔{year}〕{number:04d}号"


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """One outbox row to write: ``task``'s ``step`` to ``recipient``.

    ``status``: ``pending`` (to send, numbered) or ``skipped`` (a missed step, recorded only).
    """

    task: TrackedTask
    step: Step
    recipient: Recipient
    status: OutboxStatus = OutboxStatus.pending


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def take_notice_numbers(
    session: Session, plan_id: int, prefix: str, year: int, count: int
) -> list[int]:
    """Reserve ``count`` consecutive numbers of (plan, prefix, year); returns them ascending.

    Atomic upsert on ``NoticeCounter`` (see the module docstring). ``count`` must be >= 1
    (``ValueError`` otherwise).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    ins = _insert(session)(NoticeCounter).values(
        plan_id=plan_id, prefix=prefix, year=year, last_number=count
    )
    stmt = ins.on_conflict_do_update(
        index_elements=["plan_id", "prefix", "year"],
        set_={"last_number": NoticeCounter.__table__.c.last_number + count},
    ).returning(NoticeCounter.__table__.c.last_number)
    last = int(session.execute(stmt).scalar_one())
    return list(range(last - count + 1, last + 1))


_COLUMNS = (
    "plan_id", "task_id", "due_on", "step_key", "kind", "levels_up", "recipient_org_code",
    "recipient_name", "channel", "address", "notice_number", "scheduled_on", "status",
)
"""Columns of an outbox row a draft fills (``created_at`` is the one ``now`` of the call)."""
_PG_TYPES = (
    "integer", "integer", "date", "varchar", "varchar", "integer", "varchar",
    "varchar", "varchar", "varchar", "varchar", "date", "varchar",
)
_NUMBER = _COLUMNS.index("notice_number")
_CHUNK = 20_000  # rows per INSERT statement


@dataclass(frozen=True, slots=True)
class StepNotices:
    """The rows of one ``step`` of tasks sharing ``plan_id`` and due day ``due_on``: one per
    (task id, recipient) of ``targets``, in that order. ``status`` as in ``NoticeDraft``. The
    sweep writes a day's rows this way (a few steps, thousands of targets each)."""

    plan_id: int
    due_on: date
    step: Step
    targets: Sequence[tuple[int, Recipient]]
    status: OutboxStatus = OutboxStatus.pending


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Ids of the rows ``enqueue_step_notices`` / ``enqueue_drafts`` inserted, ascending, by
    status."""

    pending: list[int]
    skipped: list[int]


def _insert_json(session: Session, rows: list[list], now: datetime, fields: str, source: str,
                 columns: Sequence[str] = _COLUMNS) -> list[tuple]:
    """``INSERT … (<columns>) SELECT <fields> FROM <source> ON CONFLICT DO NOTHING RETURNING``,
    one chunk of rows at a time, each chunk bound as one JSON array of arrays (``:rows``)."""
    stmt = sa.text(
        f"INSERT INTO {OutboxMessage.__tablename__} ({', '.join(columns)}, created_at) "
        f"SELECT {fields}, :created_at FROM {source} "
        f"ON CONFLICT ({', '.join(_UNIQUE_KEY)}) DO NOTHING "
        "RETURNING id, task_id, step_key, channel, status"
    ).bindparams(sa.bindparam("created_at", type_=AwareDateTime()))
    out: list[tuple] = []
    for i in range(0, len(rows), _CHUNK):
        text = json.dumps(rows[i : i + _CHUNK], ensure_ascii=False, default=date.isoformat)
        out += session.execute(stmt, {"rows": text, "created_at": now}).all()
    return out


def _insert_pg(session: Session, rows: list[list], now: datetime, with_ids: bool = False) -> list[tuple]:
    """PostgreSQL: ``jsonb_array_elements(:rows)``: a chunk's rows travel as one JSON array of
    arrays (encoded in C by ``json``, parsed by PostgreSQL in one pass); measured faster here
    than one array parameter per column (``unnest``) or a VALUES list, whose parameters psycopg
    adapts value by value in Python. ``with_ids``: each row ends with its id (reserved by
    ``reserve_ids``); otherwise the id sequence gives them as the rows go in."""
    types = (*_PG_TYPES, "integer") if with_ids else _PG_TYPES
    fields = ", ".join(f"CAST(e->>{i} AS {t})" for i, t in enumerate(types))
    return _insert_json(session, rows, now, fields,
                        "jsonb_array_elements(CAST(:rows AS jsonb)) AS e",
                        (*_COLUMNS, "id") if with_ids else _COLUMNS)


def _insert_sqlite(session: Session, rows: list[list], now: datetime) -> list[tuple]:
    """SQLite (JSON1, built in since 3.38): ``json_each(:rows)`` (``WHERE true`` keeps the
    upsert clause unambiguous). A multi-row VALUES list of bound parameters took SQLAlchemy
    seconds to compile per few thousand rows."""
    fields = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(_COLUMNS)))
    return _insert_json(session, rows, now, fields, "json_each(:rows) WHERE true")


def enqueue_drafts(session: Session, drafts: Sequence[NoticeDraft], now: datetime) -> Enqueued:
    """Write ``drafts`` (aware ``now`` stamps ``created_at``) and number the pending ones, as
    ``enqueue_step_notices`` does (each draft a ``StepNotices`` of one target)."""
    return enqueue_step_notices(session, [
        StepNotices(d.task.plan_id, d.task.due_on, d.step, [(d.task.id, d.recipient)], d.status)
        for d in drafts
    ], now)


def enqueue_step_notices(
    session: Session, notices: Sequence[StepNotices], now: datetime,
    ticket: NumberTicket | None = None,
) -> Enqueued:
    """Write the rows of ``notices`` (aware ``now`` stamps ``created_at``; a pending row belongs
    to the digest of ``now``'s local day, a skipped one to its step's day) and number the pending
    ones. Returns the ids inserted.

    A row whose (task, due day, step, channel) already exists is written as nothing. Pending
    rows are numbered in id order per (plan, prefix, year of the step day), gap-free.

    ``ticket`` None (lock first, ``rollout.notifications.numbering``): hold the numbering lock,
    take the numbers (one counter upsert per (plan, prefix, year)), write the rows with them;
    only when some row of a series was written as nothing (it exists: a rerun, a sweep at once)
    are that series' untaken numbers given back (the counter row is ours until commit) and its
    inserted rows renumbered in id order.

    ``ticket`` of a ``NumberSequencer`` (its holder holds the numbering lock): predict the
    numbers and ids, write the rows with them, wait for the batches before to end, then take
    from the counter as many numbers as rows were written (recorded in ``ticket.settled``); a
    series whose first number came out lower than predicted (a batch before failed or wrote
    fewer rows than it planned), or that lost rows, is renumbered down in id order. Raises
    ``TurnTimeout`` (waited too long for the batch before) and ``NumberingRaced`` (the counter
    was ahead of the prediction). The caller ends the ticket after its commit or failure.
    """
    today = local_day(now)
    rows: list[list] = []
    groups: dict[CounterKey, list[int]] = {}  # (plan, prefix, year) -> row indexes
    for n in notices:
        pending = n.status == OutboxStatus.pending
        step_cols = (n.due_on, n.step.key, n.step.kind.value, n.step.levels_up)
        tail = (None, today if pending else n.step.on, n.status.value)
        start = len(rows)
        rows += [[n.plan_id, task_id, *step_cols, r.org_code, r.name[:80], r.channel.value,
                  r.address, *tail] for task_id, r in n.targets]
        if pending and len(rows) > start:
            key = (n.plan_id, NOTICE_PREFIXES[n.step.kind], n.step.on.year)
            groups.setdefault(key, []).extend(range(start, len(rows)))
    if not rows:
        return Enqueued([], [])
    if ticket is None:
        hold_numbering(session)
        firsts = {key: take_notice_numbers(session, *key, len(groups[key]))[0]
                  for key in sorted(groups)}
    else:
        firsts, ids = ticket.predict(session, {key: len(idx) for key, idx in groups.items()},
                                     len(rows))
        for row, rid in zip(rows, ids, strict=True):
            row.append(rid)
    for key, idx in groups.items():
        for number, i in enumerate(idx, start=firsts[key]):
            rows[i][_NUMBER] = format_notice_number(key[1], key[2], number)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        written = _insert_pg(session, rows, now, with_ids=ticket is not None)
    elif dialect == "sqlite" and ticket is None:
        written = _insert_sqlite(session, rows, now)
    else:
        raise NotImplementedError(f"unsupported database dialect {dialect!r}")
    inserted = _inserted_by_series(rows, groups, written)
    if ticket is None:
        actual = firsts
        _give_back(session, {key: len(idx) - len(inserted.get(key, [])) for key, idx in groups.items()})
    else:
        if groups:  # a batch that numbers nothing need not wait
            ticket.wait_turn()
        actual = {}
        for key in sorted(inserted):
            actual[key] = take_notice_numbers(session, *key, len(inserted[key]))[0]
            if actual[key] > firsts[key]:
                raise NumberingRaced(f"{key[1]}〔{key[2]}〕号已被本次清扫以外的事务取用，本批回滚")
            ticket.settled[key] = actual[key] + len(inserted[key])
    for key, ids in sorted(inserted.items()):
        if actual[key] != firsts[key] or len(ids) < len(groups[key]):
            _renumber(session, key, ids, actual[key])
    pending_value = OutboxStatus.pending.value
    return Enqueued(sorted(r[0] for r in written if r[4] == pending_value),
                    sorted(r[0] for r in written if r[4] != pending_value))


def _inserted_by_series(
    rows: list[list], groups: dict[CounterKey, list[int]], written: list[tuple]
) -> dict[CounterKey, list[int]]:
    """Series → ids of its pending rows the INSERT wrote (``written``: its RETURNING rows),
    ascending; a series that wrote none is absent."""
    series_of = {}
    for key, idx in groups.items():
        for i in idx:
            series_of[(rows[i][1], rows[i][3], rows[i][8])] = key  # task, step key, channel
    inserted: dict[CounterKey, list[int]] = {}
    for rid, task_id, step_key, channel, status in written:
        if status == OutboxStatus.pending.value:
            inserted.setdefault(series_of[(task_id, step_key, channel)], []).append(rid)
    for ids in inserted.values():
        ids.sort()
    return inserted


def _give_back(session: Session, lost: dict[CounterKey, int]) -> None:
    """Lower each series' counter by the numbers it took for rows not written (lock first: the
    counter row is still this transaction's)."""
    counter = NoticeCounter.__table__
    for (plan_id, prefix, year), n in sorted(lost.items()):
        if n:
            session.execute(
                sa.update(counter)
                .where(counter.c.plan_id == plan_id, counter.c.prefix == prefix,
                       counter.c.year == year)
                .values(last_number=counter.c.last_number - n)
            )


def _renumber(session: Session, key: CounterKey, ids: list[int], first: int) -> None:
    """Number the rows ``ids`` (ascending) of series ``key`` from ``first`` on, one UPDATE a
    row that changes. Every row moves down or stays (``first`` is never above the number the
    row was written with), so in ascending order UNIQUE (plan, number) holds at every step."""
    _, prefix, year = key
    table = OutboxMessage.__table__
    for number, rid in enumerate(ids, start=first):
        label = format_notice_number(prefix, year, number)
        session.execute(sa.update(table).where(table.c.id == rid, table.c.notice_number != label)
                        .values(notice_number=label))


def enqueue_notice(
    session: Session, task: TrackedTask, step: Step, recipient: Recipient, now: datetime
) -> OutboxMessage | None:
    """Write one pending, numbered notice of ``task``'s ``step`` to ``recipient``.

    Returns the new row, or None when the row of (task, due day, step, channel) already exists
    (nothing is written, no number is taken). ``now``: aware, stamps ``created_at``; the row
    belongs to the digest of ``now``'s local day.
    """
    ids = enqueue_drafts(session, [NoticeDraft(task, step, recipient)], now).pending
    return session.get(OutboxMessage, ids[0]) if ids else None
