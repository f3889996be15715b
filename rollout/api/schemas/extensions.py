"""Shapes of extension requests (延期申请) and contacts (联络人)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rollout.api.schemas.common import day, text
from rollout.models import ExtensionStatus, WebhookKind


class ExtensionCreate(BaseModel):
    """A request to move a task's due day."""

    model_config = ConfigDict(extra="forbid")

    reason: text(2000, "延期理由", 1)
    new_due_on: day("申请的新截止日，须晚于现行截止日")


class ExtensionDecision(BaseModel):
    """The decision of the unit above."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"] = Field(description="approve 批准 / refuse 不批准")
    note: text(2000, "审批意见") | None = None


class ExtensionPublic(BaseModel):
    """An extension request and its decision."""

    id: int
    task_id: int
    org_code: str = Field(description="申请单位（任务责任单位）")
    requested_by: str
    reason: str
    previous_due_on: date = Field(description="申请时的截止日（本地日期）")
    requested_due_on: date = Field(description="申请的新截止日（本地日期）")
    status: ExtensionStatus = Field(description="pending 待审批 / approved 已批准 / refused 未批准")
    decided_by_org_code: str | None
    decided_by: str | None
    decision_note: str | None
    created_at: datetime = Field(description="申请时间（带时区 ISO 8601）")
    decided_at: datetime | None = Field(description="审批时间（带时区 ISO 8601）")


class ContactCreate(BaseModel):
    """A contact of an organization, optionally for one domain."""

    model_config = ConfigDict(extra="forbid")

    name: text(60, "姓名", 1)
    role: text(60, "职务或角色，如 联络员") = "联络员"
    domain_key: text(60, "只负责该领域时填写领域 key；不填为本单位总联络人") | None = None
    email: text(200, "邮箱") | None = None
    webhook_url: text(500, "Webhook 地址（http/https），如企业微信、钉钉群机器人") | None = None
    webhook_kind: WebhookKind | None = Field(default=None, description="generic / wecom / dingtalk")
    active: bool = Field(default=True, description="是否接收通知")


class ContactUpdate(BaseModel):
    """Fields to change (absent ones stay)."""

    model_config = ConfigDict(extra="forbid")

    name: text(60, "姓名", 1) | None = None
    role: text(60, "职务或角色") | None = None
    domain_key: text(60, "领域 key") | None = None
    email: text(200, "邮箱") | None = None
    webhook_url: text(500, "Webhook 地址") | None = None
    webhook_kind: WebhookKind | None = None
    active: bool | None = None


class ContactPublic(BaseModel):
    """A stored contact."""

    id: int
    org_code: str
    domain_key: str | None
    name: str
    role: str
    email: str | None
    webhook_url: str | None
    webhook_kind: WebhookKind | None
    active: bool
    updated_at: datetime | None = Field(description="最近修改时间（带时区 ISO 8601）")
