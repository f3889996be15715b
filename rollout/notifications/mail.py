"""A digest as an email message: simplified Chinese, plain text and HTML alternatives, UTF-8.

Headers follow RFC 5322 / RFC 2047 with ``email.policy.SMTP``: a Chinese display name is its own
encoded-word and the address stays outside it, e.g. for 区政务公开办::

    From: =?utf-8?b?5Yy65pS/5Yqh5YWs5byA5Yqe?= <gk-notice@example.org>

The subject is encoded the same way; bodies are base64, so the whole message is 7-bit ASCII and
needs neither 8BITMIME nor SMTPUTF8 from the server. ``Date`` is the digest's creation time and
the MIME boundary derives from the Message-ID, so a resend after a crash is the same message.
"""

from __future__ import annotations

import hashlib
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from rollout.calendar import TZ
from rollout.errors import RolloutError
from rollout.notifications.digests import DigestContent
from rollout.notifications.render import render, subject_for


def mailbox(addr_spec: str, display_name: str = "") -> Address:
    """An ``Address`` for ``addr_spec`` (ASCII ``local@domain``; a non-ASCII local part would
    need SMTPUTF8 and is refused) with a display name.

    Raises ``RolloutError`` (code ``bad_address``) naming the value when it is not an address.
    """
    try:
        addr = Address(display_name=display_name, addr_spec=addr_spec.strip())
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise RolloutError(f"邮件地址无效：'{addr_spec}'", code="bad_address") from exc
    if not addr.username or not addr.domain:
        raise RolloutError(f"邮件地址无效：'{addr_spec}'", code="bad_address")
    return addr


def render_email(content: DigestContent, *, sender: Address) -> EmailMessage:
    """The digest as a ``multipart/alternative`` message (text/plain then text/html).

    Headers: From (``sender``), To (``content.address`` with the recipient's display name),
    Subject (``subject_for``), Date (``content.created_at`` in Asia/Shanghai), Message-ID
    (``content.message_id``), ``Auto-Submitted: auto-generated`` (RFC 3834) and
    ``X-Rollout-Digest`` (the digest id). Raises ``RolloutError`` for an invalid address.
    """
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = mailbox(content.address, content.recipient_name)
    msg["Subject"] = subject_for(content)
    msg["Date"] = format_datetime(content.created_at.astimezone(TZ))
    msg["Message-ID"] = content.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Rollout-Digest"] = str(content.digest_id)
    ctx = {"sender_name": sender.display_name}
    msg.set_content(render("digest.txt.j2", content, **ctx), subtype="plain", cte="base64")
    msg.add_alternative(render("digest.html.j2", content, **ctx), subtype="html", cte="base64")
    msg.set_boundary("=_rollout_" + hashlib.sha256(content.message_id.encode()).hexdigest()[:24])
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as CRLF-terminated 7-bit bytes for SMTP DATA (``email.policy.SMTP``)."""
    return msg.as_bytes(policy=SMTP)
