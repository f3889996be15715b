"""Digest mails: one per recipient address and day, Chinese content, RFC 2047 headers, the
envelope, received by a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date, datetime

from sqlmodel import select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import Channel, Digest, DigestStatus
from rollout.notifications.digests import DigestContent, DigestItem
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.notifications.mail import mailbox, render_email
from rollout.notifications.smtp import SmtpConfig
from tests.notifications.conftest import MAIL_FROM, SENDER_NAME, at

FROM_LINE = b"From: =?utf-8?b?5Yy65pS/5Yqh5YWs5byA5Yqe?= <gk-notice@example.org>\r\n"
CATALOG_TITLE = "完成本领域公开事项梳理、目录编制和信息发布"  # plan 四(一), due 2020-07-01


def config(port: int | None, **kw) -> DispatchConfig:
    smtp = SmtpConfig(host="127.0.0.1", port=port, starttls=False, timeout_seconds=5,
                      mail_from=MAIL_FROM, mail_from_name=SENDER_NAME) if port else None
    base = dict(smtp=smtp, rate_per_second=1000, settle_seconds=0, backoff_base_seconds=60,
                backoff_cap_seconds=3600)
    return DispatchConfig(**{**base, **kw})


def run(engine, now: datetime, cfg: DispatchConfig, calendar: WorkingCalendar):
    return dispatch(lambda: db.unit_of_work(engine), now=now, config=cfg, calendar=calendar)


def notice_numbers(text: str) -> set[str]:
    return set(re.findall(r"[催督]办〔2020〕\d{4}号", text))


def test_one_digest_per_recipient_and_day_with_exactly_its_items(outbox, smtp_server, calendar):
    """南关区 and 宽城区 each have 26 catalog tasks due 2020-07-01 (one per domain): one mail
    each listing 26 items; 南关区's rows of 07-02 make a second mail, not more items."""
    nanguan = outbox.catalog_reminders("220102", date(2020, 7, 1), at(2020, 7, 1))
    kuancheng = outbox.catalog_reminders("220103", date(2020, 7, 1), at(2020, 7, 1))
    late = outbox.add(
        [f"catalog:220102:{d}" for d in outbox.domains()[:3]], kind="escalation",
        step_key="escalation-1", levels_up=1, org_code="220102",
        address="gk-220102@example.org", scheduled_on=date(2020, 7, 2), created_at=at(2020, 7, 2),
    )
    report = run(outbox.engine, at(2020, 7, 2, 9, 5), config(smtp_server.port), calendar)

    assert (report.digests_built, report.sent, report.failed) == (3, 3, 0)
    got = {(r.rcpt_tos[0], r.msg["Subject"]): r for r in smtp_server.sink.received}
    assert len(got) == 3 == len(smtp_server.sink.received)
    a = got[("gk-220102@example.org", "【催办】南关区：26项任务今日到期")]
    b = got[("gk-220103@example.org", "【催办】宽城区：26项任务今日到期")]
    # escalation-1 of a task due Wed 07-01 is Thu 07-02: 1 working day late
    c = got[("gk-220102@example.org", "【督办】南关区：3项任务已逾期")]
    assert notice_numbers(a.text()) == set(nanguan) and len(nanguan) == 26
    assert notice_numbers(b.text()) == set(kuancheng)
    assert notice_numbers(c.text()) == set(late)
    assert notice_numbers(a.html()) == set(nanguan)
    assert "已逾期1个工作日" in c.text()
    with db.read_session(outbox.engine) as s:
        digests = s.exec(select(Digest)).all()
    assert {d.status for d in digests} == {DigestStatus.sent}
    assert {d.message_id for d in digests} == {r.message_id for r in smtp_server.sink.received}
    # a second run sends nothing more
    again = run(outbox.engine, at(2020, 7, 2, 9, 6), config(smtp_server.port), calendar)
    assert (again.claimed, again.sent, len(smtp_server.sink.received)) == (0, 0, 3)


def test_headers_envelope_and_chinese_content(outbox, smtp_factory, calendar):
    """A server without SMTPUTF8 takes the mail: ``MAIL FROM:<gk-notice@example.org>`` with no
    SMTPUTF8 parameter, the From line's exact bytes, the subject decodes to Chinese."""
    server = smtp_factory(smtputf8=False)
    numbers = outbox.catalog_reminders("220102", date(2020, 7, 1), at(2020, 7, 1))
    run(outbox.engine, at(2020, 7, 1, 9, 5), config(server.port), calendar)

    [r] = server.sink.received
    assert r.mail_from == MAIL_FROM
    assert r.mail_line.split()[0:2] == ["MAIL", "FROM:<gk-notice@example.org>"]
    assert "SMTPUTF8" not in r.mail_line.upper() and all(
        "SMTPUTF8" not in o.upper() for o in r.mail_options)
    assert FROM_LINE in r.raw
    assert r.raw.isascii()
    assert r.msg["Subject"] == "【催办】南关区：26项任务今日到期"
    assert str(r.msg["From"]) == "区政务公开办 <gk-notice@example.org>"
    assert r.msg["To"].addresses[0].addr_spec == "gk-220102@example.org"
    assert r.msg["Message-ID"].startswith("<digest-") and r.msg["Message-ID"].endswith(
        "@rollout.invalid>")
    # Date: when the digest was made (the dispatch at 09:05), fixed for every resend
    assert r.msg["Date"].datetime.replace(second=0) == datetime(2020, 7, 1, 9, 5, tzinfo=TZ)
    text = r.text()
    assert CATALOG_TITLE in text and "城乡规划" in text and "社会救助" in text
    assert "截止日期：2020年7月1日" in text and "办理期限：今日到期" in text
    assert text.count("办理要求：请于2020年7月1日（含当日）前完成") == 26
    assert numbers[0] in text

    # a server with SMTPUTF8 gets the same 7-bit message and no SMTPUTF8 parameter either
    utf8 = smtp_factory(smtputf8=True)
    outbox.catalog_reminders("220103", date(2020, 7, 1), at(2020, 7, 1))
    run(outbox.engine, at(2020, 7, 1, 9, 6), config(utf8.port), calendar)
    [u] = utf8.sink.received
    assert "SMTPUTF8" not in u.mail_line.upper() and FROM_LINE in u.raw


def test_days_left_and_working_days_late(outbox, smtp_server, calendar):
    """reminder-3 of a task due Wed 2020-07-01 fires on Sun 06-28 (a make-up working day after
    端午节): 3 calendar days left. escalation-5 fires on Wed 07-08 ((07-01, 07-08] holds 5
    working days), two levels up: 长春市."""
    keys = ["catalog:220102:urban_rural_planning", "catalog:220102:social_assistance"]
    outbox.add(keys[:1], kind="reminder", step_key="reminder-3", levels_up=0, org_code="220102",
               address="gk-220102@example.org", scheduled_on=date(2020, 6, 28),
               created_at=at(2020, 6, 28))
    outbox.add(keys, kind="escalation", step_key="escalation-5", levels_up=2, org_code="220100",
               address="gk-220100@example.org", scheduled_on=date(2020, 7, 8),
               created_at=at(2020, 7, 8))
    run(outbox.engine, at(2020, 7, 8, 9, 5), config(smtp_server.port), calendar)
    mails = {r.rcpt_tos[0]: r for r in smtp_server.sink.received}
    soon, late = mails["gk-220102@example.org"], mails["gk-220100@example.org"]
    assert soon.msg["Subject"] == "【催办】南关区：1项任务即将到期"
    assert "办理期限：距截止还有3天" in soon.text()
    assert late.msg["Subject"] == "【督办】长春市：2项任务已逾期"
    assert late.text().count("办理期限：已逾期5个工作日") == 2
    assert late.text().count("请督促南关区立即办理") == 2
    assert "责任单位：南关区" in late.text()


def _content(**kw) -> DigestContent:
    item = DigestItem(
        notice_number="催办〔2020〕0153号", kind="reminder", step_key="reminder-0", levels_up=0,
        task_key="catalog:220102:social_assistance", milestone_title=CATALOG_TITLE,
        domain_name="社会救助", owner_name="南关区", due_on=date(2020, 7, 1), days_left=0,
        working_days_late=None,
    )
    base = dict(
        digest_id=7, message_id="<digest-7-20200701.0a0b0c0d@rollout.invalid>",
        channel=Channel.email, address="gk-220102@example.org", day=date(2020, 7, 1),
        created_at=datetime(2020, 7, 1, 9, 0, tzinfo=TZ), attempts=0,
        recipient_org_code="220102", recipient_label="南关区", recipient_name="南关区",
        plan_title="吉林省全面推进基层政务公开标准化规范化工作实施方案",
        document_number="吉政公组〔2020〕1号", items=[item],
    )
    return DigestContent(**{**base, **kw})


def test_render_is_independent_of_the_working_directory(tmp_path, monkeypatch):
    """Templates are found by package path; a resend renders the same bytes."""
    monkeypatch.chdir(tmp_path)
    raw = render_email(_content(), sender=mailbox(MAIL_FROM, SENDER_NAME))
    assert FROM_LINE in raw
    assert b"Message-ID: <digest-7-20200701.0a0b0c0d@rollout.invalid>\r\n" in raw
    assert b"Auto-Submitted: auto-generated\r\n" in raw
    assert raw == render_email(_content(), sender=mailbox(MAIL_FROM, SENDER_NAME))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "【催办】南关区：1项任务今日到期"
    body = msg.get_body(("plain",)).get_content()
    assert "吉政公组〔2020〕1号" in body and "催办〔2020〕0153号" in body


def test_an_invalid_address_is_a_clear_error():
    import pytest

    from rollout.errors import RolloutError

    with pytest.raises(RolloutError, match="邮件地址无效"):
        render_email(_content(address="not an address"), sender=mailbox(MAIL_FROM))
