"""The outbox dispatcher: digests out by SMTP and webhooks, exactly once as far as SMTP allows.

It takes a unit-of-work factory from the edge (it never imports ``rollout.db``) and works in three
steps per round, each round a batch of up to ``claim_limit`` digests (DESIGN.md, "Transactions";
issue 3, item 5; issue 6 for the batching):

1. One short transaction: ``build_digests`` for the rows of up to two batches' worth of
   recipient keys (set-based; the rest of a large day is built in the following rounds while
   the earlier batches are sent), then claim up to a batch of due digests (``pending`` with
   ``next_attempt_at <= now``, or ``sending`` whose lease expired), ``FOR UPDATE SKIP LOCKED``
   on PostgreSQL (under the ``BEGIN IMMEDIATE`` write lock on SQLite), marking them
   ``sending`` with ``lease_until`` and ``claimed_by`` in one UPDATE.
2. Send with no transaction open over ``connections`` connections at once (SMTP connections
   each reused for many messages; webhook requests), at most ``rate_per_second`` messages a
   second in all.
3. One short transaction for the whole batch's results: accepted → the digests ``sent`` with
   their ``sent_at`` (one statement) and their rows ``sent`` (one set-based UPDATE by digest
   id); refused → ``attempts + 1`` and ``next_attempt_at = at + min(cap, base *
   2**(attempts-1))`` with the rows still pending, or ``failed`` (digest and rows, still listed)
   after ``max_attempts`` or a permanent refusal. One refused digest does not hold up the others
   of its batch.

The database work of a run is overlapped with its sending (``dispatch_async``): while batch k
is sent, batch k-1's results are recorded and batch k+1 is claimed. So a crash can leave two
batches ``sending`` with some of their digests already accepted by the server but not recorded;
once their lease expires they are claimed and sent again with the same Message-IDs: at most
the last two batches (``2 * batch_size`` digests) go twice, each copy recognisable by its
Message-ID, and nothing is lost. (Before issue 6 each result had its own transaction and only
the digest in flight could go twice; that cost one commit per digest.) Two dispatchers never
send one digest twice while leases hold: a claimed digest is skipped by other claims until its
lease expires. The lease must outlast a batch and the one before it: the claim is capped at
``lease_seconds * rate_per_second / 2`` digests, and a batch that nears 80 % of its lease
releases what it has not started. Without an SMTP server email digests are neither built nor
claimed: mail stays pending in the outbox (``rollout outbox list``). Times: ``now`` is the
caller's (simulation moves it); during a run the clock is ``now`` plus the real time elapsed
since the start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select, update

from rollout.calendar import WorkingCalendar
from rollout.models import Channel, Digest, DigestStatus, JobLease, OutboxMessage, OutboxStatus
from rollout.notifications.digest_build import build_digests, one_of
from rollout.notifications.digests import DigestContent, load_contents
from rollout.notifications.smtp import SmtpConfig, SmtpTransport
from rollout.notifications.transport import (
    DeliveryError,
    Outcome,
    Pace,
    Transport,
    send_batch,
)
from rollout.notifications.webhook import WebhookTransport
from rollout.settings import Settings

SWEEP_JOB = "sweep"
"""The ``JobLease`` name of the deadline sweep (``rollout.jobs.JOBS["sweep"].name``)."""

UnitOfWork = Callable[[], AbstractContextManager[Session]]
"""A factory of write transactions (``lambda: rollout.db.unit_of_work(engine)``)."""


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """Delivery settings (from ``Settings`` via ``from_settings``; tests build their own).

    ``smtp`` None: no SMTP server, email stays in the outbox. ``batch_size``: digests per claim
    (and per results transaction; a claim builds digests for up to twice as many recipient
    keys). ``connections``: messages in flight at once (SMTP
    connections, webhook requests). ``rate_per_second``: messages per second across channels
    and connections. ``backoff_*_seconds``: retry delay ``min(cap, base * 2**(n-1))`` after the
    n-th failed attempt. ``lease_seconds``: how long a claim holds. ``settle_seconds``: rows
    younger than this are left for the next round (one digest per recipient and day while a
    sweep is still committing batches). ``message_id_domain``: right side of Message-IDs.
    """

    smtp: SmtpConfig | None = None
    webhook_timeout_seconds: float = 10.0
    batch_size: int = 200
    connections: int = 8
    rate_per_second: float = 10.0
    max_attempts: int = 8
    backoff_base_seconds: float = 60.0
    backoff_cap_seconds: float = 3600.0
    lease_seconds: float = 600.0
    settle_seconds: float = 60.0
    message_id_domain: str = "rollout.invalid"

    @classmethod
    def from_settings(cls, s: Settings) -> DispatchConfig:
        """The config of the ``ROLLOUT_SMTP_*`` / ``ROLLOUT_DISPATCH_*`` settings."""
        smtp = None
        if s.smtp_host:
            smtp = SmtpConfig(
                host=s.smtp_host, port=s.smtp_port, starttls=s.smtp_starttls, ssl=s.smtp_ssl,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout_seconds=s.smtp_timeout_seconds, mail_from=s.mail_from,
                mail_from_name=s.mail_from_name,
            )
        return cls(
            smtp=smtp, webhook_timeout_seconds=s.webhook_timeout_seconds,
            batch_size=s.dispatch_batch_size, connections=s.dispatch_connections,
            rate_per_second=s.dispatch_rate_per_second, max_attempts=s.dispatch_max_attempts,
            backoff_base_seconds=s.dispatch_backoff_base_seconds,
            backoff_cap_seconds=s.dispatch_backoff_cap_seconds,
            lease_seconds=s.dispatch_lease_seconds, settle_seconds=s.dispatch_settle_seconds,
            message_id_domain=s.message_id_domain,
        )

    @property
    def channels(self) -> list[Channel]:
        """The channels that can send now (email only with an SMTP server)."""
        return [Channel.email, Channel.webhook] if self.smtp else [Channel.webhook]

    @property
    def claim_limit(self) -> int:
        """Digests per claim: ``batch_size``, capped so a batch takes under half the lease."""
        return max(1, min(self.batch_size, int(self.lease_seconds * self.rate_per_second / 2)))


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Delay before the next try after ``attempts`` (>= 1) failures: ``min(cap, base *
    2**(attempts-1))``, e.g. base 60, cap 3600 → 60, 120, 240, … 3600."""
    return min(cap, base * 2 ** max(0, attempts - 1))


@dataclass
class DispatchReport:
    """What one dispatch run did. ``waiting_without_smtp``: pending email rows left in the
    outbox because no SMTP server is configured. ``errors``: distinct failure messages."""

    digests_built: int = 0
    rows_skipped: int = 0
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    waiting_without_smtp: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        """Add ``other``'s counts to this report and its new error messages."""
        for name in ("digests_built", "rows_skipped", "claimed", "sent", "retrying", "failed",
                     "released", "waiting_without_smtp"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(e for e in other.errors if e not in self.errors)


def claim(
    session: Session, *, now: datetime, config: DispatchConfig, calendar: WorkingCalendar,
    worker: str,
) -> tuple[list[DigestContent], int, int]:
    """Step 1 in the caller's transaction: build digests (for at most ``2 * claim_limit``
    recipient keys), claim due ones, load their content.

    While a sweep holds its job lease (``JobLease`` ``sweep``, see ``rollout.jobs``) no new
    digests are built, so rows of a sweep still committing batches do not split one recipient's
    day into two mails; digests built earlier are still claimed. Returns (contents of the
    claimed digests in id order, digests built, rows skipped).
    """
    built, skipped = [], 0
    if not sweep_running(session, now):
        built, skipped = build_digests(
            session, now=now, channels=config.channels, settle_seconds=config.settle_seconds,
            message_id_domain=config.message_id_domain, key_limit=2 * config.claim_limit,
        )
    d = Digest.__table__.c
    due = sa.or_(
        (d.status == DigestStatus.pending)
        & (d.next_attempt_at.is_(None) | (d.next_attempt_at <= now)),
        (d.status == DigestStatus.sending)
        & (d.lease_until.is_(None) | (d.lease_until <= now)),
    )
    ids = list(session.execute(
        sa.select(d.id).where(due, d.channel.in_(config.channels)).order_by(d.id)
        .limit(config.claim_limit).with_for_update(skip_locked=True)
    ).scalars())
    if ids:
        conn = session.connection()
        conn.execute(
            sa.update(Digest.__table__).where(one_of(d.id, "ids", conn.dialect.name))
            .values(status=DigestStatus.sending, claimed_by=worker,
                    lease_until=now + timedelta(seconds=config.lease_seconds)),
            {"ids": ids})
    return load_contents(session, ids, calendar), len(built), skipped


def sweep_running(session: Session, now: datetime) -> bool:
    """True while some process holds the sweep's job lease (``holder`` set, not expired)."""
    lease = session.get(JobLease, SWEEP_JOB)
    return bool(lease and lease.holder and lease.lease_until and lease.lease_until > now)


_SENT_PG = sa.text(
    f"UPDATE {Digest.__tablename__} AS d SET status = :sent, sent_at = v.at, "
    "lease_until = NULL, last_error = NULL, attempts = d.attempts + 1 "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[])) AS v(id, at) "
    "WHERE d.id = v.id AND d.status <> :sent"
)


def record_sent(session: Session, sent: list[tuple[int, datetime]]) -> None:
    """Step 3, success, for a batch of (digest id, accepted at): each digest not yet ``sent``
    becomes ``sent`` at its time, and the ``pending`` rows of all of them ``sent`` with their
    digest's ``sent_at`` (one UPDATE per 1,000 digests). A digest already ``sent`` (another
    dispatcher after our lease ran out) keeps its first ``sent_at``. The digests: one
    ``UPDATE … FROM unnest(arrays)`` on PostgreSQL (an executemany of one UPDATE per digest
    took about 40 ms a batch of 200, this about 15; issue 6), an executemany on SQLite
    (in-process)."""
    if not sent:
        return
    d, o = Digest.__table__.c, OutboxMessage.__table__.c
    conn = session.connection()
    sent = sorted(sent)
    if conn.dialect.name == "postgresql":
        conn.execute(_SENT_PG, {"sent": DigestStatus.sent.value, "ids": [i for i, _ in sent],
                                "ats": [at for _, at in sent]})
    else:
        conn.execute(
            sa.update(Digest.__table__)
            .where(d.id == sa.bindparam("digest"), d.status != DigestStatus.sent)
            .values(status=DigestStatus.sent, sent_at=sa.bindparam("at"), lease_until=None,
                    last_error=None, attempts=d.attempts + 1),
            [{"digest": digest_id, "at": at} for digest_id, at in sent],
        )
    rows_sent = (
        sa.update(OutboxMessage.__table__)
        .where(one_of(o.digest_id, "ids", conn.dialect.name),
               o.status == OutboxStatus.pending)
        .values(status=OutboxStatus.sent,
                sent_at=sa.select(d.sent_at).where(d.id == o.digest_id).scalar_subquery())
    )
    ids = [digest_id for digest_id, _ in sent]
    for i in range(0, len(ids), 1000):
        conn.execute(rows_sent, {"ids": ids[i:i + 1000]})


def record_failure(
    session: Session, digest_id: int, error: DeliveryError, *, at: datetime,
    config: DispatchConfig,
) -> DigestStatus | None:
    """Step 3, failure: count the attempt, schedule the retry or give up.

    Returns the digest's new status (``pending`` = will retry, ``failed`` = gave up), or None if
    it was already sent (another dispatcher recorded success).
    """
    d = session.get(Digest, digest_id, with_for_update=True)
    if d is None or d.status == DigestStatus.sent:
        return None
    d.attempts += 1
    d.last_error = str(error)[:1000]
    d.lease_until = None
    if error.permanent or d.attempts >= config.max_attempts:
        d.status = DigestStatus.failed
        session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.digest_id) == digest_id,
                   col(OutboxMessage.status) == OutboxStatus.pending)
            .values(status=OutboxStatus.failed)
        )
    else:
        d.status = DigestStatus.pending
        delay = backoff_seconds(d.attempts, config.backoff_base_seconds, config.backoff_cap_seconds)
        d.next_attempt_at = at + timedelta(seconds=delay)
    return d.status


def record_batch(
    session: Session, outcomes: list[Outcome], *, config: DispatchConfig
) -> DispatchReport:
    """Step 3 for a whole batch in the caller's transaction: ``record_sent`` for the accepted,
    ``record_failure`` for each refused. Returns the counts (sent, retrying, failed) and the
    distinct error messages."""
    report = DispatchReport()
    sent = [(o.digest_id, o.at) for o in outcomes if o.error is None]
    record_sent(session, sent)
    report.sent = len(sent)
    for o in outcomes:
        if o.error is None:
            continue
        status = record_failure(session, o.digest_id, o.error, at=o.at, config=config)
        if status == DigestStatus.failed:
            report.failed += 1
        elif status == DigestStatus.pending:
            report.retrying += 1
        if str(o.error) not in report.errors:
            report.errors.append(str(o.error))
    return report


def release(session: Session, digest_ids: list[int]) -> None:
    """Give back claimed digests that were never handed to a transport (pending again, now)."""
    if digest_ids:
        session.exec(
            update(Digest)
            .where(col(Digest.id).in_(digest_ids), col(Digest.status) == DigestStatus.sending)
            .values(status=DigestStatus.pending, lease_until=None, claimed_by=None)
        )


def pending_email_rows(session: Session) -> int:
    """How many email rows are pending in the outbox."""
    return session.exec(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.pending, OutboxMessage.channel == Channel.email)
    ).one()


def new_worker_id() -> str:
    """``host:pid:random``: who holds a claim (``Digest.claimed_by``)."""
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{secrets.token_hex(3)}"


async def dispatch_async(
    uow: UnitOfWork, *, now: datetime, config: DispatchConfig, calendar: WorkingCalendar,
    worker: str | None = None, max_rounds: int = 1000,
    transports: dict[Channel, Transport] | None = None,
) -> DispatchReport:
    """Run rounds of claim → send → record until nothing is due (or a round sends nothing).

    The database work runs in one helper thread, overlapped with sending: while batch k is
    being sent, the results of batch k-1 are recorded and batch k+1 is claimed (so at most two
    batches are claimed by this run at a time, and a crash can leave two batches unrecorded,
    see the module docstring). A round that sends nothing ends the run; the batch claimed
    meanwhile is given back unsent (``released``).

    ``now``: aware datetime of the start. ``max_rounds``: at most this many claims.
    ``transports``: override the channel transports (default: ``SmtpTransport`` with
    ``config.connections`` connections when ``config.smtp``, ``WebhookTransport``). Never raises
    for a delivery failure (it is recorded); database errors propagate (nothing half-recorded:
    a batch's results are one transaction, and a batch not recorded is sent again once its
    lease expires).
    """
    worker = worker or new_worker_id()
    report = DispatchReport()
    t0 = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - t0)

    def claim_tx() -> tuple[list[DigestContent], float, DispatchReport]:
        with uow() as session:
            contents, built, skipped = claim(
                session, now=clock(), config=config, calendar=calendar, worker=worker)
        return contents, time.monotonic(), DispatchReport(
            digests_built=built, rows_skipped=skipped, claimed=len(contents))

    def record_tx(outcomes: list[Outcome], unstarted: list[int]) -> DispatchReport:
        with uow() as session:
            part = record_batch(session, outcomes, config=config)
            release(session, unstarted)
        part.released = len(unstarted)
        return part

    def release_tx(ids: list[int]) -> None:
        with uow() as session:
            release(session, ids)

    def waiting_tx() -> int:
        with uow() as session:
            return pending_email_rows(session)

    owned = transports is None
    transports = dict(transports or {})
    if owned:
        if config.smtp:
            transports[Channel.email] = SmtpTransport(config.smtp, config.connections)
        transports[Channel.webhook] = WebhookTransport(config.webhook_timeout_seconds)
    pace = Pace(config.rate_per_second)
    loop = asyncio.get_running_loop()
    db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-dispatch-db")

    def in_db(fn: Callable, *args: object) -> asyncio.Future:
        return loop.run_in_executor(db_thread, fn, *args)

    try:
        rounds = 1
        contents, claimed_at, part = await in_db(claim_tx)
        report.add(part)
        following = in_db(claim_tx) if contents and rounds < max_rounds else None
        recording: asyncio.Future | None = None
        while contents:
            outcomes, unstarted = await send_batch(
                contents, transports, connections=config.connections, pace=pace, clock=clock,
                deadline=claimed_at + 0.8 * config.lease_seconds)
            if recording is not None:
                report.add(await recording)
            recording = in_db(record_tx, outcomes, unstarted)
            contents, claimed_at = [], 0.0
            if following is not None:
                rounds += 1
                contents, claimed_at, part = await following
                report.add(part)
                following = None
            if not any(o.error is None for o in outcomes):  # nothing went: stop for now
                if contents:
                    await in_db(release_tx, [c.digest_id for c in contents])
                    report.released += len(contents)
                break
            if contents and rounds < max_rounds:
                following = in_db(claim_tx)
        if recording is not None:
            report.add(await recording)
        if not config.smtp:
            report.waiting_without_smtp = await in_db(waiting_tx)
    finally:
        db_thread.shutdown(wait=True)
        if owned:
            for t in transports.values():
                await t.aclose()
    return report


def dispatch(
    uow: UnitOfWork, *, now: datetime, config: DispatchConfig, calendar: WorkingCalendar,
    worker: str | None = None, max_rounds: int = 1000,
) -> DispatchReport:
    """Synchronous ``dispatch_async`` (runs its own event loop; not for use inside one)."""
    return asyncio.run(dispatch_async(
        uow, now=now, config=config, calendar=calendar, worker=worker, max_rounds=max_rounds))
