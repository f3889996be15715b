"""The interface between the dispatcher and a delivery channel (SMTP, webhooks), and sending
one batch of digests over the channels' transports with several senders at once under one
rate limit (``send_batch``, step 2 of ``rollout.notifications.dispatch``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rollout.errors import RolloutError
from rollout.models import Channel
from rollout.notifications.digests import DigestContent

log = logging.getLogger(__name__)


class DeliveryError(RolloutError):
    """A digest was not delivered.

    ``permanent``: retrying cannot help (e.g. SMTP 550 no such mailbox, HTTP 404): the digest is
    marked failed at once. ``connection``: the server itself is unreachable or refused the
    session (connect, TLS, auth, timeout): the dispatcher stops using that transport for the rest
    of the batch and every remaining digest of it is retried later. Otherwise the failure concerns
    this digest only and it is retried with backoff.
    """

    code = "delivery_failed"

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


class Transport(Protocol):
    """Sends digests of one channel. ``send`` returns only once the far side accepted the
    message (SMTP 250 after DATA, HTTP 2xx with a success body) and raises ``DeliveryError``
    otherwise; ``aclose`` releases connections."""

    async def send(self, content: DigestContent) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one send: ``error`` None = accepted at ``at`` (aware datetime)."""

    digest_id: int
    error: DeliveryError | None
    at: datetime


class Pace:
    """At most ``rate_per_second`` starts a second across all callers of one event loop: each
    ``wait`` takes the next free slot, then sleeps until it comes."""

    def __init__(self, rate_per_second: float) -> None:
        self.interval = 1.0 / rate_per_second
        self.next = time.monotonic()

    async def wait(self) -> None:
        """Return at this caller's slot (at once when the rate leaves room)."""
        now = time.monotonic()
        delay = self.next - now
        self.next = max(self.next, now) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


async def send_batch(
    contents: list[DigestContent], transports: dict[Channel, Transport], *,
    connections: int, pace: Pace, clock: Callable[[], datetime], deadline: float,
) -> tuple[list[Outcome], list[int]]:
    """Send ``contents`` with ``connections`` (>= 1) senders at once; ``clock()`` gives the
    aware time an outcome is stamped with.

    A channel whose transport fails with a connection error is not tried again in this batch
    (its remaining digests get that error, to be retried later). Digests not started by
    ``deadline`` (a ``time.monotonic()`` value, 80 % of the lease) are not sent. Returns
    (outcomes, ids of the digests not started).
    """
    outcomes: list[Outcome] = []
    unstarted: list[int] = []
    down: dict[Channel, DeliveryError] = {}
    queue = iter(contents)

    async def sender() -> None:
        for content in queue:  # one iterator shared by the senders: each digest goes once
            if time.monotonic() > deadline:
                unstarted.append(content.digest_id)
                continue
            error = down.get(content.channel)
            if not content.items:  # its rows were settled elsewhere: nothing to say
                error = DeliveryError("没有待发送的通知", permanent=True)
            elif error is None:
                await pace.wait()
                error = await _send(transports, content)
                if error is not None and error.connection:
                    down[content.channel] = error
            outcomes.append(Outcome(content.digest_id, error, clock()))

    await asyncio.gather(*(sender() for _ in range(max(1, min(connections, len(contents))))))
    return outcomes, unstarted


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
