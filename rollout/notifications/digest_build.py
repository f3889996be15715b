"""Building digests: one message per (channel, address, local day) carrying that day's pending
notices (the content sent is read by ``rollout.notifications.digests``).

A county whose 26 domains are due the same day gets one mail listing 26 items, not 26 mails
(issue 3, item 4). Functions here take the caller's ``Session`` and never commit; ``now`` is
passed in (DESIGN.md, "Transactions" and "Time").

Rules:

- Only ``pending`` rows without a digest are grouped, written at least ``settle_seconds`` before
  ``now`` (a sweep commits in batches: waiting a little keeps one recipient's rows of one day in
  one digest) and scheduled on or before the local day of ``now``.
- A reminder, escalation or overdue row whose task is no longer open (submitted, accepted,
  waived, cancelled since the sweep wrote it) is marked ``skipped`` and sent to nobody.
- A call may take only the first N (channel, address, day) keys (``key_limit``, the dispatcher's
  slice per round), always with all of a key's candidate rows: a key is never split.
- Rows join a digest of the same key that has never been claimed (status ``pending``,
  ``attempts`` 0, no ``claimed_by``); otherwise a new digest is made. Once a digest has been
  claimed its items never change, so a resend carries the same items under the same Message-ID.
- The Message-ID is fixed when the digest is made: ``<digest-{id}-{YYYYMMDD}.{random}@{domain}>``
  (the random part keeps IDs unique across databases, e.g. after a reset).
- On PostgreSQL the rows and joinable digests are read ``FOR UPDATE SKIP LOCKED`` so two
  dispatchers never put one row in two digests; on SQLite the caller's ``BEGIN IMMEDIATE``
  transaction holds the write lock.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from rollout.calendar import local_day
from rollout.models import (
    OPEN_STATES,
    Channel,
    Digest,
    DigestStatus,
    OutboxMessage,
    OutboxStatus,
    TrackedTask,
)

#: Row kinds that only make sense while the task is still open.
DEADLINE_KINDS = frozenset({"reminder", "escalation", "overdue"})

#: Ids per ``IN (...)`` list (well under SQLite's and PostgreSQL's bound-parameter limits).
CHUNK = 1000

_NEW = "<new-"
_NEW_TOKEN_HEX = 32


def chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    """``values`` in consecutive slices of at most ``size``."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def one_of(column: sa.ColumnElement, name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column IN (…)`` with the values given at execution as the list parameter ``name``.
    PostgreSQL: ``column = ANY(:name)``, one array parameter, so the statement's text and
    compiled form are the same whatever the list; an expanding IN list renders one bound
    parameter per value at every execution (66,000 in a 10,000-digest run, issue 6) and, past
    4 KB, is a statement text psycopg parses anew each time. SQLite: an expanding IN list."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=sa.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def message_id_placeholder(day: date, domain: str) -> str:
    """The Message-ID a digest is inserted with before its id is known:
    ``<new-{32 random hex}{YYYYMMDD}.{8 random hex}@{domain}>`` (unique by its random part);
    ``final_message_id`` turns it into ``<digest-{id}-{YYYYMMDD}.{8 hex}@{domain}>``."""
    return f"{_NEW}{secrets.token_hex(_NEW_TOKEN_HEX // 2)}{day:%Y%m%d}.{secrets.token_hex(4)}@{domain}>"


def final_message_id() -> sa.ColumnElement[str]:
    """SQL for a digest's final Message-ID from its placeholder and id (RFC 5322 msg-id):
    ``'<digest-' || id || '-' || {YYYYMMDD}.{token}@{domain}>``, the same on SQLite and
    PostgreSQL."""
    tail = sa.func.substr(Digest.__table__.c.message_id, len(_NEW) + _NEW_TOKEN_HEX + 1)
    return sa.literal("<digest-") + sa.cast(Digest.__table__.c.id, sa.String) + "-" + tail


def build_digests(
    session: Session,
    *,
    now: datetime,
    channels: Iterable[Channel] = (Channel.email, Channel.webhook),
    settle_seconds: float = 0.0,
    message_id_domain: str = "rollout.invalid",
    key_limit: int | None = None,
) -> tuple[list[int], int]:
    """Group pending, undigested outbox rows into digests; returns (ids of the new digests,
    rows skipped).

    ``now``: aware datetime (``ValueError`` if naive). ``channels``: only rows of these channels
    are grouped (email is left out when no SMTP server is configured, so those rows stay pending
    without a digest). Rows with an empty address are left alone (nothing to send them to).
    ``key_limit``: at most this many (channel, address, day) keys, the first in (address, day,
    channel) order, each with all of its candidate rows (a key is never split between two
    calls); None = all. New digests get their ids in that order.
    The dispatcher builds a bounded slice per round, so a national day (74,100 rows) is built
    while earlier batches are sent instead of in one long first transaction before any mail
    goes (issue 6).
    Set-based (issue 6): one read of the candidate rows, the new digests with their final
    Message-IDs (``_insert_digests``), then the rows' ``digest_id`` in one statement per chunk
    (``_set_digest_ids``); nothing is loaded as ORM objects. On PostgreSQL the outbox is
    analyzed once if it has no statistics yet (``_ensure_statistics``).
    """
    today = local_day(now)
    channels = list(channels)
    if not channels:
        return [], 0
    o, t = OutboxMessage.__table__.c, TrackedTask.__table__.c
    candidate = (
        o.status == OutboxStatus.pending,
        o.digest_id.is_(None),
        o.channel.in_(channels),
        o.address != "",
        o.scheduled_on <= today,
        o.created_at <= now - timedelta(seconds=settle_seconds),
    )
    # The task's state as a subquery by primary key, not a join: with statistics that expect
    # many candidate rows (taken before the day's rows got digests) PostgreSQL hashed a scan
    # of all 1.2M tasks for each slice of 400 keys (0.1 s a round, national day).
    task_state = sa.select(t.state).where(t.id == o.task_id).scalar_subquery()
    rows_q = (
        sa.select(o.id, o.channel, o.address, o.scheduled_on, o.recipient_org_code, o.kind,
                  task_state)
        .where(*candidate)
        .order_by(o.address, o.scheduled_on, o.channel, o.id)
        .with_for_update(skip_locked=True, of=OutboxMessage.__table__)
    )
    conn = session.connection()
    dialect = conn.dialect.name
    keys, params = None, {}
    if key_limit is not None:
        keys = _first_keys(session, candidate, key_limit)
        if not keys:
            return [], 0
        rows_q = rows_q.where(one_of(o.address, "addresses", dialect))
        params = {"addresses": sorted({address for _, address, _ in keys})}
    groups: dict[tuple[Channel, str, date], list[int]] = defaultdict(list)
    org_of: dict[tuple[Channel, str, date], str] = {}
    skipped: list[int] = []
    for row_id, channel, address, day, org_code, kind, state in session.execute(rows_q, params):
        key = (channel, address, day)
        if keys is not None and key not in keys:
            continue  # another day or channel of one of the addresses: a later call's
        if kind in DEADLINE_KINDS and state not in OPEN_STATES:
            skipped.append(row_id)
            continue
        groups[key].append(row_id)
        org_of.setdefault(key, org_code)
    skip = (sa.update(OutboxMessage.__table__).where(one_of(o.id, "ids", dialect))
            .values(status=OutboxStatus.skipped))
    for ids in chunks(skipped):
        conn.execute(skip, {"ids": list(ids)})
    if not groups:
        return [], len(skipped)

    digest_of = _joinable(session, groups.keys(), channels)
    new_keys = [key for key in groups if key not in digest_of]
    created = _insert_digests(conn, new_keys, org_of, now=now, domain=message_id_domain)
    digest_of.update(zip(new_keys, created, strict=True))
    _set_digest_ids(conn, [(r, digest_of[key]) for key, ids in groups.items() for r in ids])
    _ensure_statistics(conn)
    return created, len(skipped)


def _first_keys(
    session: Session, candidate: tuple[sa.ColumnElement[bool], ...], limit: int
) -> set[tuple[Channel, str, date]]:
    """The first ``limit`` (channel, address, day) keys of the candidate rows in (address, day,
    channel) order: the order of ``ix_outboxmessage_status_address``, so PostgreSQL walks the
    index and stops after ``limit`` keys instead of sorting all of the day's rows each round."""
    o = OutboxMessage.__table__.c
    q = (sa.select(o.channel, o.address, o.scheduled_on).where(*candidate)
         .group_by(o.address, o.scheduled_on, o.channel)
         .order_by(o.address, o.scheduled_on, o.channel).limit(limit))
    return {(channel, address, day) for channel, address, day in session.execute(q)}


_HAS_STATISTICS = sa.text(
    "SELECT EXISTS (SELECT FROM pg_stats WHERE schemaname = current_schema() "
    "AND tablename = :table)"
)


def _ensure_statistics(conn: sa.Connection) -> None:
    """PostgreSQL: ``ANALYZE`` the outbox and digest tables when the outbox has no column
    statistics yet (a new database, or autovacuum off, as on the test server), in the caller's
    transaction, so it sees the rows just digested.

    Without statistics the planner takes ``status = 'pending'`` for 0.5 % of the rows and
    ``digest_id IN (200 ids)`` for all of them, so each batch's rows were read through
    ``ix_outboxmessage_status_address``, every pending row of the day, instead of by digest id:
    0.1 to 0.6 s a batch at 84,100 rows (bench/run.py, national day), 5 to 30 s of a
    10,000-digest run. Once analyzed, later statistics, even stale ones, keep those queries on
    the digest id index. Without the right to analyze, PostgreSQL only warns. SQLite: nothing.
    """
    if conn.dialect.name != "postgresql":
        return
    if not conn.execute(_HAS_STATISTICS, {"table": OutboxMessage.__tablename__}).scalar():
        conn.execute(sa.text(f"ANALYZE {OutboxMessage.__tablename__}, {Digest.__tablename__}"))


_INSERT_DIGESTS_PG = sa.text(
    f"INSERT INTO {Digest.__tablename__} (id, channel, address, recipient_org_code, day, "
    "message_id, status, attempts, created_at, next_attempt_at) "
    "SELECT n.id, n.channel, n.address, n.org, n.day, '<digest-' || n.id || '-' || n.tail, "
    ":pending, 0, :now, :now FROM ("
    f"  SELECT nextval(pg_get_serial_sequence('{Digest.__tablename__}', 'id')) AS id, v.*"
    "   FROM unnest(CAST(:channels AS varchar[]), CAST(:addresses AS varchar[]),"
    "               CAST(:orgs AS varchar[]), CAST(:days AS date[]), CAST(:tails AS varchar[]))"
    "        AS v(channel, address, org, day, tail)"
    ") AS n RETURNING id, channel, address, day"
)


def _insert_digests(
    conn: sa.Connection, keys: list[tuple[Channel, str, date]], org_of: dict, *,
    now: datetime, domain: str,
) -> list[int]:
    """Insert one pending digest per (channel, address, day) of ``keys``, recipient organization
    ``org_of[key]``; returns their ids in the order of ``keys``. Message-IDs: ``<digest-{id}-
    {YYYYMMDD}.{8 random hex}@{domain}>``. PostgreSQL: one INSERT … SELECT from arrays that
    takes each id from the sequence and writes the final Message-ID at once (the multi-row
    VALUES insert of 400 digests, 3,600 parameters, then an UPDATE of their Message-IDs, cost
    about 120 ms a round, bench/run.py); SQLite: a multi-row INSERT with placeholder Message-IDs
    (``message_id_placeholder``), then one UPDATE to the final ones (``final_message_id``)."""
    if not keys:
        return []
    d = Digest.__table__.c
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_INSERT_DIGESTS_PG, {
            "pending": DigestStatus.pending.value, "now": now,
            "channels": [ch.value for ch, _, _ in keys], "addresses": [a for _, a, _ in keys],
            "orgs": [org_of[k] for k in keys], "days": [day for _, _, day in keys],
            "tails": [f"{day:%Y%m%d}.{secrets.token_hex(4)}@{domain}>" for _, _, day in keys],
        })
        id_of = {(channel, address, day): digest_id for digest_id, channel, address, day in rows}
        return [id_of[key] for key in keys]
    created = list(conn.execute(
        sa.insert(Digest.__table__).returning(d.id, sort_by_parameter_order=True),
        [{"channel": ch, "address": addr, "day": day, "recipient_org_code": org_of[key],
          "message_id": message_id_placeholder(day, domain), "status": DigestStatus.pending,
          "attempts": 0, "created_at": now, "next_attempt_at": now}
         for key in keys for ch, addr, day in [key]],
    ).scalars())
    conn.execute(
        sa.update(Digest.__table__)
        .where(d.id.between(min(created), max(created)), d.message_id.startswith(_NEW))
        .values(message_id=final_message_id())
    )
    return created


_SET_DIGEST_IDS_PG = sa.text(
    f"UPDATE {OutboxMessage.__tablename__} AS o SET digest_id = v.digest_id "
    "FROM unnest(CAST(:row_ids AS integer[]), CAST(:digest_ids AS integer[])) AS v(id, digest_id) "
    "WHERE o.id = v.id"
)


def _set_digest_ids(conn: sa.Connection, pairs: list[tuple[int, int]]) -> None:
    """Set ``digest_id`` of outbox rows, ``pairs`` of (row id, digest id). PostgreSQL: one
    UPDATE … FROM unnest(arrays) per chunk (an executemany of one UPDATE per row took 2.2 s of
    3.6 for the 74,100 rows of a national reminder day, bench/run.py); SQLite: executemany,
    which runs in-process."""
    if conn.dialect.name == "postgresql":
        for chunk in chunks(pairs, 50_000):
            conn.execute(_SET_DIGEST_IDS_PG, {"row_ids": [r for r, _ in chunk],
                                              "digest_ids": [d for _, d in chunk]})
        return
    o = OutboxMessage.__table__.c
    conn.execute(
        sa.update(OutboxMessage.__table__).where(o.id == sa.bindparam("row_id"))
        .values(digest_id=sa.bindparam("to_digest")),
        [{"row_id": r, "to_digest": d} for r, d in pairs],
    )


def _joinable(
    session: Session, keys: Iterable[tuple[Channel, str, date]], channels: list[Channel]
) -> dict[tuple[Channel, str, date], int]:
    """Digests that rows of ``keys`` may join (never claimed: ``pending``, ``attempts`` 0, no
    ``claimed_by``), the oldest per key, locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""
    d = Digest.__table__.c
    keys = set(keys)
    days = sorted({day for _, _, day in keys})
    dialect = session.connection().dialect.name
    q = (
        sa.select(d.id, d.channel, d.address, d.day)
        .where(d.status == DigestStatus.pending, d.attempts == 0, d.claimed_by.is_(None),
               d.channel.in_(channels), one_of(d.day, "days", dialect),
               one_of(d.address, "addresses", dialect))
        .order_by(d.id)
        .with_for_update(skip_locked=True)
    )
    found: dict[tuple[Channel, str, date], int] = {}
    for addresses in chunks(sorted({addr for _, addr, _ in keys})):
        for digest_id, channel, address, day in session.execute(
                q, {"days": days, "addresses": list(addresses)}):
            if (channel, address, day) in keys:
                found.setdefault((channel, address, day), digest_id)
    return found
