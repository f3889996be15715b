"""Sending digests to webhooks with httpx: generic JSON, WeCom and DingTalk group robots.

Formats (the robots' documented message bodies):

- WeCom (企业微信群机器人): ``{"msgtype": "markdown", "markdown": {"content": ...}}``; content at
  most 4096 bytes of UTF-8, so long digests list the first items and say how many more there are.
  Success is HTTP 200 with ``{"errcode": 0}``.
- DingTalk (钉钉自定义机器人): ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``;
  success is ``{"errcode": 0}``.
- generic: ``{"type": "rollout.digest", "message_id", "digest_id", "day", "subject",
  "recipient": {...}, "items": [...], "text": ...}``.

Every request carries ``Idempotency-Key`` (the digest's Message-ID) so a receiver can drop a
resend after a crash. Failures: HTTP 4xx other than 408/429 is permanent; 408, 429, 5xx, a
non-zero ``errcode`` and network errors are retried with backoff.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from rollout.models import WebhookKind
from rollout.notifications.digests import DigestContent
from rollout.notifications.render import item_views, render, subject_for
from rollout.notifications.transport import DeliveryError

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 20000

_HOSTS = {"qyapi.weixin.qq.com": WebhookKind.wecom, "oapi.dingtalk.com": WebhookKind.dingtalk}


def kind_of(content: DigestContent) -> WebhookKind:
    """The format for a webhook digest: the contact's ``webhook_kind``, else from the URL host
    (``qyapi.weixin.qq.com`` → WeCom, ``oapi.dingtalk.com`` → DingTalk), else generic."""
    if content.webhook_kind is not None:
        return content.webhook_kind
    return _HOSTS.get(urlsplit(content.address).hostname or "", WebhookKind.generic)


def markdown(content: DigestContent, max_bytes: int) -> str:
    """The digest as robot markdown of at most ``max_bytes`` UTF-8 bytes: as many items as fit,
    then ``……另有N项，详见邮件或系统``."""
    n = len(content.items)
    text = render("digest.md.j2", content, limit=n)
    while len(text.encode()) > max_bytes and n > 0:
        n -= 1
        text = render("digest.md.j2", content, limit=n)
    return text


def payload(content: DigestContent) -> dict[str, Any]:
    """The JSON body for the digest in its webhook format (see the module docstring)."""
    kind = kind_of(content)
    subject = subject_for(content)
    if kind == WebhookKind.wecom:
        return {"msgtype": "markdown",
                "markdown": {"content": markdown(content, WECOM_MAX_BYTES)}}
    if kind == WebhookKind.dingtalk:
        return {"msgtype": "markdown",
                "markdown": {"title": subject, "text": markdown(content, DINGTALK_MAX_BYTES)}}
    return {
        "type": "rollout.digest",
        "message_id": content.message_id,
        "digest_id": content.digest_id,
        "day": content.day.isoformat(),
        "subject": subject,
        "recipient": {"org_code": content.recipient_org_code, "name": content.recipient_name},
        "items": [
            {
                "notice_number": v.item.notice_number, "kind": v.item.kind,
                "kind_label": v.kind_label, "step_key": v.item.step_key,
                "task_key": v.item.task_key, "milestone": v.item.milestone_title,
                "domain": v.item.domain_name, "owner": v.item.owner_name,
                "due_on": v.item.due_on.isoformat(), "days_left": v.item.days_left,
                "working_days_late": v.item.working_days_late, "status": v.status,
                "todo": v.todo,
            }
            for v in item_views(content)
        ],
        "text": render("digest.txt.j2", content),
    }


class WebhookTransport:
    """A ``Transport`` for the webhook channel: one ``httpx.AsyncClient`` for the batch."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)

    async def send(self, content: DigestContent) -> None:
        """POST the digest's payload to ``content.address``; returns after a success reply.

        Raises ``DeliveryError`` (permanent for HTTP 4xx other than 408/429).
        """
        body = json.dumps(payload(content), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": content.message_id}
        try:
            resp = await self._client.post(content.address, content=body, headers=headers)
        except httpx.InvalidURL as exc:
            raise DeliveryError(f"Webhook 地址无效：{content.address}", permanent=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Webhook 请求失败：{type(exc).__name__} {exc}") from exc
        if resp.status_code >= 400 or resp.status_code < 200:
            permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
            raise DeliveryError(f"Webhook 返回 HTTP {resp.status_code}：{resp.text[:200]}",
                                permanent=permanent)
        if kind_of(content) in (WebhookKind.wecom, WebhookKind.dingtalk):
            try:
                errcode = resp.json().get("errcode")
            except (ValueError, AttributeError):
                errcode = "?"
            if errcode != 0:
                raise DeliveryError(f"机器人返回错误：{resp.text[:200]}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
