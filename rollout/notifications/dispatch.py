"""The outbox dispatcher: digests out by SMTP and webhooks, exactly once as far as SMTP allows.

It takes a unit-of-work factory from the edge (it never imports ``rollout.db``) and works in three
steps per round (DESIGN.md, "Transactions"; issue 3, item 5):

1. One short transaction: ``build_digests`` for pending rows, then claim up to a batch of due
   digests (``pending`` with ``next_attempt_at <= now``, or ``sending`` whose lease expired),
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (under the ``BEGIN IMMEDIATE`` write lock on SQLite),
   marking them ``sending`` with ``lease_until`` and ``claimed_by``.
2. Send with no transaction open, at most ``rate_per_second`` messages a second.
3. One short transaction per result: accepted → the digest and its rows ``sent`` with
   ``sent_at``; refused → ``attempts + 1`` and ``next_attempt_at = at + min(cap, base *
   2**(attempts-1))`` with the rows still pending, or ``failed`` (digest and rows, still listed)
   after ``max_attempts`` or a permanent refusal.

A crash between 2 and 3 leaves that digest ``sending``; once its lease expires it is claimed and
sent again with the same Message-ID, so at most the in-flight digest goes twice. The lease must
outlast a batch: the claim is capped at ``lease_seconds * rate_per_second / 2`` digests, and a
batch that nears 80 % of its lease releases what it has not sent. Without an SMTP server email
digests are neither built nor claimed: mail stays pending in the outbox (``rollout outbox list``).
Times: ``now`` is the caller's (simulation moves it); during a run the clock is ``now`` plus the
real time elapsed since the start.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, or_, select, update

from rollout.calendar import WorkingCalendar
from rollout.errors import RolloutError
from rollout.models import Channel, Digest, DigestStatus, JobLease, OutboxMessage, OutboxStatus
from rollout.notifications.digests import DigestContent, build_digests, load_contents
from rollout.notifications.smtp import SmtpConfig, SmtpTransport
from rollout.notifications.transport import DeliveryError, Transport
from rollout.notifications.webhook import WebhookTransport
from rollout.settings import Settings

log = logging.getLogger(__name__)

SWEEP_JOB = "sweep"
"""The ``JobLease`` name of the deadline sweep (``rollout.jobs.JOBS["sweep"].name``)."""

UnitOfWork = Callable[[], AbstractContextManager[Session]]
"""A factory of write transactions (``lambda: rollout.db.unit_of_work(engine)``)."""


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """Delivery settings (from ``Settings`` via ``from_settings``; tests build their own).

    ``smtp`` None: no SMTP server, email stays in the outbox. ``rate_per_second``: messages per
    second across channels. ``backoff_*_seconds``: retry delay ``min(cap, base * 2**(n-1))``
    after the n-th failed attempt. ``lease_seconds``: how long a claim holds. ``settle_seconds``:
    rows younger than this are left for the next round (one digest per recipient and day while a
    sweep is still committing batches). ``message_id_domain``: right side of Message-IDs.
    """

    smtp: SmtpConfig | None = None
    webhook_timeout_seconds: float = 10.0
    batch_size: int = 100
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
            batch_size=s.dispatch_batch_size, rate_per_second=s.dispatch_rate_per_second,
            max_attempts=s.dispatch_max_attempts,
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


def claim(
    session: Session, *, now: datetime, config: DispatchConfig, calendar: WorkingCalendar,
    worker: str,
) -> tuple[list[DigestContent], int, int]:
    """Step 1 in the caller's transaction: build digests, claim due ones, load their content.

    While a sweep holds its job lease (``JobLease`` ``sweep``, see ``rollout.jobs``) no new
    digests are built, so rows of a sweep still committing batches do not split one recipient's
    day into two mails; digests built earlier are still claimed. Returns (contents of the
    claimed digests, digests built, rows skipped).
    """
    built, skipped = [], 0
    if not sweep_running(session, now):
        built, skipped = build_digests(
            session, now=now, channels=config.channels, settle_seconds=config.settle_seconds,
            message_id_domain=config.message_id_domain,
        )
    due = or_(
        (Digest.status == DigestStatus.pending)
        & (col(Digest.next_attempt_at).is_(None) | (col(Digest.next_attempt_at) <= now)),
        (Digest.status == DigestStatus.sending)
        & (col(Digest.lease_until).is_(None) | (col(Digest.lease_until) <= now)),
    )
    q = (
        select(Digest)
        .where(due, col(Digest.channel).in_(config.channels))
        .order_by(col(Digest.id))
        .limit(config.claim_limit)
        .with_for_update(skip_locked=True)
    )
    digests = list(session.exec(q))
    lease_until = now + timedelta(seconds=config.lease_seconds)
    for d in digests:
        d.status, d.lease_until, d.claimed_by = DigestStatus.sending, lease_until, worker
    session.flush()
    return load_contents(session, digests, calendar), len(built), skipped


def sweep_running(session: Session, now: datetime) -> bool:
    """True while some process holds the sweep's job lease (``holder`` set, not expired)."""
    lease = session.get(JobLease, SWEEP_JOB)
    return bool(lease and lease.holder and lease.lease_until and lease.lease_until > now)


def record_sent(session: Session, digest_id: int, *, at: datetime) -> None:
    """Step 3, success: the digest and its pending rows become ``sent`` at ``at``."""
    done = session.exec(
        update(Digest)
        .where(col(Digest.id) == digest_id, col(Digest.status) != DigestStatus.sent)
        .values(status=DigestStatus.sent, sent_at=at, lease_until=None, last_error=None,
                attempts=col(Digest.attempts) + 1)
    )
    if done.rowcount == 0:  # already recorded (another dispatcher after our lease ran out)
        return
    session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.digest_id) == digest_id,
               col(OutboxMessage.status) == OutboxStatus.pending)
        .values(status=OutboxStatus.sent, sent_at=at)
    )


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

    ``now``: aware datetime of the start. ``transports``: override the channel transports
    (default: ``SmtpTransport`` when ``config.smtp``, ``WebhookTransport``). Never raises for a
    delivery failure (it is recorded); database errors propagate (nothing half-recorded: each
    record is its own transaction).
    """
    worker = worker or new_worker_id()
    report = DispatchReport()
    t0 = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - t0)

    owned = transports is None
    transports = dict(transports or {})
    if owned:
        if config.smtp:
            transports[Channel.email] = SmtpTransport(config.smtp)
        transports[Channel.webhook] = WebhookTransport(config.webhook_timeout_seconds)
    interval = 1.0 / config.rate_per_second
    next_send = time.monotonic()
    try:
        for _ in range(max_rounds):
            with uow() as session:
                contents, built, skipped = claim(
                    session, now=clock(), config=config, calendar=calendar, worker=worker)
            report.digests_built += built
            report.rows_skipped += skipped
            report.claimed += len(contents)
            if not contents:
                break
            claimed_at = time.monotonic()
            sent_before = report.sent
            down: dict[Channel, DeliveryError] = {}
            for i, content in enumerate(contents):
                if time.monotonic() - claimed_at > 0.8 * config.lease_seconds:
                    with uow() as session:
                        release(session, [c.digest_id for c in contents[i:]])
                    report.released += len(contents) - i
                    break
                error = down.get(content.channel)
                if not content.items:  # its rows were settled elsewhere: nothing to say
                    error = DeliveryError("没有待发送的通知", permanent=True)
                elif error is None:
                    delay = next_send - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_send = max(next_send, time.monotonic()) + interval
                    error = await _send(transports, content)
                    if error is not None and error.connection:
                        down[content.channel] = error
                with uow() as session:
                    if error is None:
                        record_sent(session, content.digest_id, at=clock())
                        report.sent += 1
                        continue
                    status = record_failure(session, content.digest_id, error, at=clock(),
                                            config=config)
                if status == DigestStatus.failed:
                    report.failed += 1
                elif status == DigestStatus.pending:
                    report.retrying += 1
                if str(error) not in report.errors:
                    report.errors.append(str(error))
            if report.sent == sent_before:
                break
        if not config.smtp:
            with uow() as session:
                report.waiting_without_smtp = pending_email_rows(session)
    finally:
        if owned:
            for t in transports.values():
                await t.aclose()
    return report


async def _send(transports: dict[Channel, Transport], content: DigestContent) -> DeliveryError | None:
    transport = transports.get(content.channel)
    if transport is None:
        return DeliveryError(f"没有可用的发送通道：{content.channel.value}", connection=True)
    try:
        await transport.send(content)
    except DeliveryError as exc:
        log.warning("digest %s to %s: %s", content.digest_id, content.address, exc)
        return exc
    except RolloutError as exc:  # e.g. an invalid address: retrying cannot fix it
        return DeliveryError(str(exc), permanent=True)
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the digest claimed forever
        log.exception("digest %s: unexpected error while sending", content.digest_id)
        return DeliveryError(f"发送时出错：{type(exc).__name__}: {exc}")
    return None


def dispatch(
    uow: UnitOfWork, *, now: datetime, config: DispatchConfig, calendar: WorkingCalendar,
    worker: str | None = None, max_rounds: int = 1000,
) -> DispatchReport:
    """Synchronous ``dispatch_async`` (runs its own event loop; not for use inside one)."""
    return asyncio.run(dispatch_async(
        uow, now=now, config=config, calendar=calendar, worker=worker, max_rounds=max_rounds))
