"""A digest as an email message: simplified Chinese, plain text and HTML alternatives, UTF-8.

The message is written directly as bytes (the ``email`` package's header objects cost about
7 ms a message, more than everything else a dispatcher does per digest; issue 6). What it
writes follows RFC 5322 / RFC 2045 / RFC 2047, checked by parsing it back in the tests:

- a Chinese display name is its own encoded-word (``email.header.Header``, split into words of
  at most 75 characters) and the address stays outside it, e.g. for 区政务公开办::

      From: =?utf-8?b?5Yy65pS/5Yqh5YWs5byA5Yqe?= <gk-notice@example.org>

- the subject is encoded the same way; both bodies are base64 (76-character lines), so the
  whole message is 7-bit ASCII with CRLF line ends and needs neither 8BITMIME nor SMTPUTF8;
- ``Date`` is the digest's creation time and the MIME boundary derives from the Message-ID, so
  a resend after a crash is byte for byte the same message.
"""

from __future__ import annotations

import base64
import hashlib
import re
from email.errors import HeaderParseError
from email.header import Header
from email.headerregistry import Address
from email.utils import format_datetime, formataddr
from functools import lru_cache

from rollout.calendar import TZ
from rollout.errors import RolloutError
from rollout.notifications.digests import DigestContent
from rollout.notifications.render import context, render_context

CRLF = "\r\n"
#: Folding width for encoded-words: each line (with its leading space) at most 76 characters,
#: each encoded-word at most 75 (RFC 2047, section 2).
MAX_WORD_LINE = 75


#: An addr-spec that is a dot-atom on both sides (RFC 5322, section 3.4.1), ASCII only: what the
#: ``email`` parser would return unchanged, so it is taken without running the parser.
_PLAIN_ADDR_SPEC = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
)


def mailbox(addr_spec: str, display_name: str = "") -> Address:
    """An ``Address`` for ``addr_spec`` (ASCII ``local@domain``; a non-ASCII local part would
    need SMTPUTF8 and is refused) with a display name.

    A plain ``dot-atom@dot-atom`` address is split directly (the ``email`` parser took 65 µs
    of the 360 µs a message cost to render; issue 6); anything else (quoted local parts, domain
    literals, comments, errors) goes through the parser. Raises ``RolloutError`` (code
    ``bad_address``) naming the value when it is not an address.
    """
    plain = _PLAIN_ADDR_SPEC.fullmatch(addr_spec.strip())
    try:
        if plain:  # a display name with a line break still raises ValueError here
            return Address(display_name=display_name, username=plain["local"],
                           domain=plain["domain"])
        addr = Address(display_name=display_name, addr_spec=addr_spec.strip())
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise RolloutError(f"邮件地址无效：'{addr_spec}'", code="bad_address") from exc
    if not addr.username or not addr.domain or not addr.addr_spec.isascii():
        raise RolloutError(f"邮件地址无效：'{addr_spec}'", code="bad_address")
    return addr


@lru_cache(maxsize=4096)
def encoded_header(name: str, value: str) -> str:
    """``Name: value`` as one header field (no line end): ASCII values as they are, others as
    RFC 2047 ``=?utf-8?b?…?=`` words folded onto continuation lines (CRLF + space)."""
    if value.isascii() and value.isprintable():
        return f"{name}: {value}"
    return f"{name}: " + _words(name, value)


def address_header(name: str, addr: Address) -> str:
    """``From`` / ``To`` with a display name: ASCII names quoted as needed, Chinese names as
    encoded-words, then ``<addr-spec>``."""
    return _address_header(name, addr.display_name, addr.addr_spec)


def _address_header(name: str, display_name: str, addr_spec: str) -> str:
    if not display_name:
        return f"{name}: {addr_spec}"
    if display_name.isascii() and display_name.isprintable():
        return f"{name}: " + formataddr((display_name, addr_spec))
    return f"{name}: {_words(name, display_name)} <{addr_spec}>"


@lru_cache(maxsize=4096)  # the sender's and recipients' names recur; their addresses do not
def _words(name: str, text: str) -> str:
    return Header(text, "utf-8", maxlinelen=MAX_WORD_LINE, header_name=name).encode(linesep=CRLF)


def _text_part(text: str, subtype: str) -> str:
    body = CRLF.join(text.splitlines()) + CRLF
    b64 = base64.encodebytes(body.encode("utf-8")).decode("ascii").replace("\n", CRLF)
    return (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{b64}")


def render_email(content: DigestContent, *, sender: Address) -> bytes:
    """The digest as a ``multipart/alternative`` message (text/plain then text/html): 7-bit
    ASCII bytes with CRLF line ends, ready for SMTP DATA.

    Headers: From (``sender``), To (``content.address`` with the recipient's display name),
    Subject (``subject_for``), Date (``content.created_at`` in Asia/Shanghai), Message-ID
    (``content.message_id``), ``Auto-Submitted: auto-generated`` (RFC 3834),
    ``X-Rollout-Digest`` (the digest id), MIME-Version and Content-Type. Raises
    ``RolloutError`` (code ``bad_address``) for an invalid recipient address.
    """
    to = mailbox(content.address, content.recipient_name)
    boundary = "=_rollout_" + hashlib.sha256(content.message_id.encode()).hexdigest()[:24]
    ctx = context(content, sender_name=sender.display_name)
    headers = [
        address_header("From", sender),
        address_header("To", to),
        encoded_header("Subject", ctx["subject"]),
        f"Date: {format_datetime(content.created_at.astimezone(TZ))}",
        f"Message-ID: {content.message_id}",
        "Auto-Submitted: auto-generated",
        f"X-Rollout-Digest: {content.digest_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
    ]
    parts = [
        _text_part(render_context("digest.txt.j2", ctx), "plain"),
        _text_part(render_context("digest.html.j2", ctx), "html"),
    ]
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return f"{CRLF.join(headers)}{CRLF}{CRLF}{body}--{boundary}--{CRLF}".encode("ascii")
