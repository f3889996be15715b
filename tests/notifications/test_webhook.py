"""Webhooks to a real loopback HTTP server: WeCom and DingTalk group-robot formats, generic JSON,
with the outbox's digests, retries and records."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from rollout import db
from rollout.models import Channel, Contact, Digest, DigestStatus, OutboxMessage, OutboxStatus
from rollout.models.contact import WebhookKind
from rollout.notifications.webhook import WECOM_MAX_BYTES, kind_of
from tests.notifications.conftest import at
from tests.notifications.test_mail import _content as content
from tests.notifications.test_mail import config, notice_numbers, run

DAY = date(2020, 7, 1)
T0 = at(2020, 7, 1, 9, 5)
SUBJECT = "【催办】南关区：26项任务今日到期"


def _contact(engine, org: str, url: str, kind: WebhookKind) -> None:
    with db.unit_of_work(engine) as s:
        s.add(Contact(org_code=org, name="联络员", webhook_url=url, webhook_kind=kind))


def _digests(engine) -> list[Digest]:
    with db.read_session(engine) as s:
        return list(s.exec(select(Digest).order_by(col(Digest.id))))


def test_wecom_dingtalk_and_generic_payloads(outbox, http_sink, calendar):
    """Three counties, one webhook each (WeCom, DingTalk, generic); SMTP is not configured, so
    the email rows of the same day stay pending while the webhooks go out."""
    urls = {"220102": http_sink.url("/cgi-bin/webhook/send?key=k1"),
            "220103": http_sink.url("/robot/send?access_token=t1"),
            "220104": http_sink.url("/hooks/rollout")}
    kinds = {"220102": WebhookKind.wecom, "220103": WebhookKind.dingtalk,
             "220104": WebhookKind.generic}
    numbers = {}
    for org, url in urls.items():
        _contact(outbox.engine, org, url, kinds[org])
        numbers[org] = outbox.catalog_reminders(org, DAY, at(2020, 7, 1), address=url,
                                                channel=Channel.webhook)
    email_numbers = outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    report = run(outbox.engine, T0, config(None), calendar)
    assert (report.sent, report.waiting_without_smtp) == (3, 26)

    by_path = {r["path"]: r for r in http_sink.requests}
    assert len(by_path) == 3 == len(http_sink.requests)
    wecom = by_path["/cgi-bin/webhook/send?key=k1"]["json"]
    assert set(wecom) == {"msgtype", "markdown"} and wecom["msgtype"] == "markdown"
    assert set(wecom["markdown"]) == {"content"}
    text = wecom["markdown"]["content"]
    assert text.startswith(f"### {SUBJECT}\n")
    assert len(text.encode()) <= WECOM_MAX_BYTES
    shown = notice_numbers(text)
    # 26 items of about 170 bytes each exceed WeCom's 4096: the first ones, then how many more
    assert shown <= set(numbers["220102"]) and 1 <= len(shown) < 26
    assert f"……另有{26 - len(shown)}项，详见邮件或系统" in text

    ding = by_path["/robot/send?access_token=t1"]["json"]
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == "【催办】宽城区：26项任务今日到期"
    assert notice_numbers(ding["markdown"]["text"]) == set(numbers["220103"])

    generic = by_path["/hooks/rollout"]
    body = generic["json"]
    assert body["type"] == "rollout.digest" and body["day"] == "2020-07-01"
    assert body["subject"] == "【催办】朝阳区：26项任务今日到期"
    assert sorted(i["notice_number"] for i in body["items"]) == sorted(numbers["220104"])
    assert {i["status"] for i in body["items"]} == {"今日到期"}
    assert {i["due_on"] for i in body["items"]} == {"2020-07-01"}
    assert generic["headers"]["Idempotency-Key"] == body["message_id"]

    with db.read_session(outbox.engine) as s:
        rows = list(s.exec(select(OutboxMessage)))
    assert {r.status for r in rows if r.channel == Channel.webhook} == {OutboxStatus.sent}
    assert {r.notice_number for r in rows if r.status == OutboxStatus.pending} == set(email_numbers)


def test_webhook_failures_retry_then_succeed_or_fail_for_good(outbox, http_sink, calendar):
    """HTTP 500, then a robot errcode (45009, rate limit) are retried with backoff; HTTP 404 is
    permanent."""
    ok_url = http_sink.url("/cgi-bin/webhook/send?key=ok")
    gone_url = http_sink.url("/gone")
    _contact(outbox.engine, "220102", ok_url, WebhookKind.wecom)
    outbox.catalog_reminders("220102", DAY, at(2020, 7, 1), address=ok_url, channel=Channel.webhook)
    http_sink.responses = [(500, "oops")]
    run(outbox.engine, T0, config(None), calendar)
    [d] = _digests(outbox.engine)
    assert (d.status, d.attempts) == (DigestStatus.pending, 1) and "HTTP 500" in d.last_error

    http_sink.responses = [(200, '{"errcode":45009,"errmsg":"api freq out of limit"}')]
    run(outbox.engine, T0 + timedelta(seconds=61), config(None), calendar)
    [d] = _digests(outbox.engine)
    assert (d.status, d.attempts) == (DigestStatus.pending, 2) and "45009" in d.last_error

    run(outbox.engine, T0 + timedelta(seconds=61 + 121), config(None), calendar)
    [d] = _digests(outbox.engine)
    assert (d.status, d.attempts) == (DigestStatus.sent, 3)
    assert len({r["json"]["markdown"]["content"] for r in http_sink.requests}) == 1

    outbox.catalog_reminders("220103", DAY, at(2020, 7, 1), address=gone_url,
                             channel=Channel.webhook)
    http_sink.responses = [(404, "not found")]
    report = run(outbox.engine, T0 + timedelta(hours=1), config(None), calendar)
    gone = _digests(outbox.engine)[-1]
    assert (report.failed, gone.status, gone.attempts) == (1, DigestStatus.failed, 1)


def test_webhook_kind_from_the_host_when_no_contact_names_it():
    assert kind_of(content(address="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x")) \
        == WebhookKind.wecom
    assert kind_of(content(address="https://oapi.dingtalk.com/robot/send?access_token=x")) \
        == WebhookKind.dingtalk
    assert kind_of(content(address="https://hooks.example.org/x")) == WebhookKind.generic
    assert kind_of(content(address="https://hooks.example.org/x",
                           webhook_kind=WebhookKind.wecom)) == WebhookKind.wecom
