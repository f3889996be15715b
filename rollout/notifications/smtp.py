"""Sending digests by SMTP with aiosmtplib (the province's relay; aiosmtpd in tests).

One connection is opened lazily and reused for a batch. The envelope is
``MAIL FROM:<mail_from>`` with no SMTPUTF8 parameter: messages are 7-bit (``rollout.notifications
.mail``), so a server without SMTPUTF8 takes them. Error mapping (RFC 5321 reply codes): a 5xx
reply to RCPT or DATA is permanent for that digest; 4xx is retried; connection, TLS, greeting,
authentication, sender-refused and timeout errors are "connection" failures (retry the whole
batch later).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosmtplib

from rollout.notifications.digests import DigestContent
from rollout.notifications.mail import mailbox, render_email, to_bytes
from rollout.notifications.transport import DeliveryError


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the SMTP server and whom mail comes from.

    ``port`` None: 465 with ``ssl``, 587 with ``starttls`` True, else 25 (aiosmtplib's default).
    ``starttls`` None: upgrade when the server offers STARTTLS; True: require it; False: never.
    ``ssl``: implicit TLS (port 465). ``timeout_seconds``: per connection / command.
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
    """A ``Transport`` for the email channel over one reusable aiosmtplib connection."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.sender = mailbox(config.mail_from, config.mail_from_name)
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host, port=c.port, username=c.username, password=c.password,
            use_tls=c.ssl, start_tls=None if c.ssl else c.starttls,
            timeout=c.timeout_seconds, validate_certs=c.validate_certs,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise DeliveryError(
                f"无法连接 SMTP 服务器 {c.host}:{c.port or '默认端口'}：{exc}", connection=True
            ) from exc
        self._client = client
        return client

    async def send(self, content: DigestContent) -> None:
        """Send one digest to ``content.address``; returns after the server's 250 to DATA.

        Raises ``DeliveryError`` (see the module docstring for which are permanent).
        """
        msg = render_email(content, sender=self.sender)
        data = to_bytes(msg)
        client = await self._connected()
        try:
            errors, _ = await client.sendmail(self.sender.addr_spec, [content.address], data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(
                f"收件地址被拒收：{'; '.join(f'{r.code} {r.message}' for r in exc.recipients)}",
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPAuthenticationError,
                aiosmtplib.SMTPHeloError) as exc:
            await self._drop()
            raise DeliveryError(f"SMTP 服务器拒绝会话：{exc.code} {exc.message}",
                                connection=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP 服务器拒收邮件：{exc.code} {exc.message}",
                                permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise DeliveryError(f"SMTP 连接中断：{exc}", connection=True) from exc
        if errors:
            raise DeliveryError(
                "收件地址被拒收：" + "; ".join(f"{a} {r.code} {r.message}" for a, r in errors.items()),
                permanent=all(r.code >= 500 for r in errors.values()),
            )

    async def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    async def aclose(self) -> None:
        """QUIT and close the connection if one is open (errors on the way out are ignored)."""
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
