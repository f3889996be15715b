"""The digest mail written directly as bytes (issue 6): parsed back with the standard library it
says what the digest says, its header lines stay within RFC 2047's 76 characters, and it is
7-bit ASCII with CRLF line ends only."""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header

from rollout.notifications.mail import mailbox, render_email
from tests.notifications.conftest import MAIL_FROM, SENDER_NAME
from tests.notifications.test_mail import _content

LONG_NAME = "长白山保护开发区管理委员会政务公开领导小组办公室暨政务服务和数字化建设管理局"


def test_long_chinese_names_fold_and_parse_back():
    """A 39-character recipient name (117 UTF-8 bytes) in To and in the subject: several
    encoded-words on continuation lines, no such line longer than 76 characters (no header
    line over 78), decoding to the name; the bodies decode to the rendered text."""
    raw = render_email(_content(recipient_name=LONG_NAME, recipient_label=LONG_NAME),
                       sender=mailbox(MAIL_FROM, SENDER_NAME))
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert all(len(line) <= 76 for line in head.split("\r\n") if "=?utf-8?" in line)
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    assert head.count("\r\n ") >= 2  # To and Subject each folded at least once

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # RFC 2047 6.2: the folding between encoded-words is not part of the text (the standard
    # library's address parser keeps it as a space, for its own output too)
    to = email.message_from_bytes(raw, policy=email.policy.compat32)["To"]
    assert str(make_header(decode_header(to))) == f"{LONG_NAME} <gk-220102@example.org>"
    assert msg["To"].addresses[0].addr_spec == "gk-220102@example.org"
    assert msg["Subject"] == f"【催办】{LONG_NAME}：1项任务今日到期"
    assert str(msg["From"]) == f"{SENDER_NAME} <{MAIL_FROM}>"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = (p.get_content() for p in msg.iter_parts())
    assert plain.startswith(f"{LONG_NAME}：\r\n")  # text in canonical CRLF form
    assert "催办〔2020〕0153号" in plain
    assert "催办〔2020〕0153号" in html and "<" in html


def test_ascii_display_names_are_quoted_and_control_characters_never_reach_a_header():
    """An ASCII name with a comma is quoted; a name with a line break is refused as an address
    (no header injection)."""
    import pytest

    from rollout.errors import RolloutError

    raw = render_email(_content(recipient_name="Office, Nanguan"), sender=mailbox(MAIL_FROM))
    assert b'To: "Office, Nanguan" <gk-220102@example.org>\r\n' in raw
    assert b"From: gk-notice@example.org\r\n" in raw
    with pytest.raises(RolloutError, match="邮件地址无效"):
        render_email(_content(recipient_name="x\r\nBcc: a@evil.example"),
                     sender=mailbox(MAIL_FROM))
