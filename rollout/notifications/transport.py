"""The interface between the dispatcher and a delivery channel (SMTP, webhooks)."""

from __future__ import annotations

from typing import Protocol

from rollout.errors import RolloutError
from rollout.notifications.digests import DigestContent


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
