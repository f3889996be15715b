"""Sending digests by SMTP with aiosmtplib (the province's relay; aiosmtpd in tests).

``SmtpTransport`` keeps up to ``connections`` SMTP connections, opened lazily and each reused for
many messages; concurrent ``send`` calls (the dispatcher runs that many at once) each take an idle
connection, so several messages are in flight at the same time (issue 6: a relay answers each
command after a round trip, one connection alone waits most of the time). The envelope is
``MAIL FROM:<mail_from>`` with no SMTPUTF8 parameter: messages are 7-bit (``rollout.notifications
.mail``), so a server without SMTPUTF8 takes them. Error mapping (RFC 5321 reply codes): a 5xx
reply to RCPT or DATA is permanent for that digest; 4xx is retried; connection, TLS, greeting,
authentication, sender-refused and timeout errors are "connection" failures (retry the whole
batch later); the connection that failed is closed, the others stay.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiosmtplib

from rollout.notifications.digests import DigestContent
from rollout.notifications.mail import mailbox, render_email
from rollout.notifications.transport import DeliveryError


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the SMTP server and whom mail comes from.

    ``port`` None: 465 with ``ssl``, 587 with ``starttls`` True, else 25 (aiosmtplib's default).
    ``starttls`` None: upgrade when the server offers STARTTLS; True: require it; False: never.
    ``ssl``: implicit TLS (port 465). ``timeout_seconds``: to connect, and to send one
    message (MAIL, RCPT and DATA together).
    ``mail_from``: envelope sender and From address (ASCII); ``mail_from_name``: From display
    name (Chinese allowed, RFC 2047 encoded). ``validate_certs``: verify the server certificate.
    """

    host: str
    port: int | None = None
    starttls: bool | None = None
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0
    mail_from: str = "gk-notice@example.org"
    mail_from_name: str = ""
    validate_certs: bool = True


class SmtpTransport:
    """A ``Transport`` for the email channel over a pool of at most ``connections`` (>= 1)
    reusable aiosmtplib connections. Use it from one event loop."""

    def __init__(self, config: SmtpConfig, connections: int = 1) -> None:
        if connections < 1:
            raise ValueError("connections must be >= 1")
        self.config = config
        self.sender = mailbox(config.mail_from, config.mail_from_name)
        self._mail_from = b"FROM:<" + self.sender.addr_spec.encode("ascii") + b">"
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host, port=c.port, username=c.username, password=c.password,
            use_tls=c.ssl, start_tls=None if c.ssl else c.starttls,
            timeout=c.timeout_seconds, validate_certs=c.validate_certs,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:  # MAIL below is sent without the library's check
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise DeliveryError(
                f"无法连接 SMTP 服务器 {c.host}:{c.port or '默认端口'}：{exc}", connection=True
            ) from exc
        return client

    async def send(self, content: DigestContent) -> None:
        """Send one digest to ``content.address``; returns after the server's 250 to DATA.
        Waits for a free connection when all are busy.

        Raises ``DeliveryError`` (see the module docstring for which are permanent) and
        ``RolloutError`` (``bad_address``) for an invalid address.
        """
        data = render_email(content, sender=self.sender)
        async with self._slots:
            client = None
            while self._idle and client is None:
                client = self._idle.pop()
                if not client.is_connected:
                    client = None
            if client is None:
                client = await self._connect()
            keep = False  # a connection that broke or was cancelled mid-command is closed
            try:
                await self._sendmail(client, content.address, data)
                keep = True
            except DeliveryError as exc:
                keep = not exc.connection
                raise
            finally:
                if keep:
                    self._idle.append(client)
                else:
                    client.close()

    async def _sendmail(self, client: aiosmtplib.SMTP, address: str, data: bytes) -> None:
        """MAIL, RCPT and DATA for one recipient; ``address`` was checked by ``mailbox``.

        This is the dispatcher's hot path (issue 6): MAIL and RCPT go through
        ``SMTP.execute_command`` because ``SMTP.sendmail`` / ``mail`` / ``rcpt`` parse each
        address again with ``email.utils`` (a quarter of the client's CPU per message), and one
        timer covers the whole exchange. After a refused RCPT or DATA the envelope is reset
        (RSET) so the connection can carry the next message."""
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                reply = await client.execute_command(b"MAIL", self._mail_from, timeout=None)
                if reply.code != 250:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message,
                                                       self.sender.addr_spec)
                reply = await client.execute_command(
                    b"RCPT", b"TO:<" + address.strip().encode("ascii") + b">", timeout=None)
                if reply.code not in (250, 251):
                    raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)
                await client.data(data, timeout=None)
        except TimeoutError as exc:
            raise DeliveryError(
                f"SMTP 服务器 {self.config.timeout_seconds:g} 秒内未应答", connection=True) from exc
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPAuthenticationError,
                aiosmtplib.SMTPHeloError) as exc:
            raise DeliveryError(f"SMTP 服务器拒绝会话：{exc.code} {exc.message}",
                                connection=True) from exc
        except aiosmtplib.SMTPRecipientRefused as exc:
            await self._reset(client)
            raise DeliveryError(f"收件地址被拒收：{exc.code} {exc.message}",
                                permanent=exc.code >= 500) from exc
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(client)
            raise DeliveryError(f"SMTP 服务器拒收邮件：{exc.code} {exc.message}",
                                permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP 连接中断：{exc}", connection=True) from exc

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            client.close()  # not reused: the pool skips a closed connection

    async def aclose(self) -> None:
        """QUIT and close the idle connections (errors on the way out are ignored)."""
        idle, self._idle = self._idle, []
        for client in idle:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
