"""Shapes of tasks, their history and transitions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rollout.api.schemas.common import Id, day, text
from rollout.models import TaskState
from rollout.workflow import Action


class TrackedTaskPublic(BaseModel):
    """One unit's obligation under one milestone, as the API shows it."""

    id: int = Field(description="任务编号")
    key: str = Field(description="计划内唯一键，如 catalog:220102:social_assistance")
    milestone: str = Field(description="进度节点 key，如 dept_filing")
    milestone_title: str = Field(description="进度节点名称")
    org_code: str = Field(description="责任单位代码（县×领域任务为该县，由其对口部门办理）")
    unit_code: str | None = Field(description="任务涉及的单位代码（如复核任务所复核的县）")
    domain: str | None = Field(description="领域 key")
    state: TaskState = Field(description="状态")
    state_label: str = Field(description="状态中文名")
    due_on: date = Field(description="现行截止日（本地日期 YYYY-MM-DD，当日 24 时前）")
    original_due_on: date = Field(description="计划原定截止日（本地日期；考核保留）")
    due_at: datetime = Field(description="截止时刻（带时区 ISO 8601，现行截止日 23:59:59.999999 +08:00）")
    overdue: bool = Field(description="当前是否逾期（未完成且已过截止时刻）")
    opened_at: datetime = Field(description="任务生成时间（带时区 ISO 8601）")
    started_at: datetime | None = Field(description="开始办理时间（带时区 ISO 8601）")
    submitted_at: datetime | None = Field(description="最近提交时间（带时区 ISO 8601）")
    completed_at: datetime | None = Field(description="完成时间（带时区 ISO 8601）")
    next_action_at: datetime | None = Field(description="下一次催办/督办时间（带时区 ISO 8601）")
    times_returned: int = Field(description="被退回改正次数")
    version: int = Field(description="版本号：办理时回传，用于防止并发覆盖")


class TaskPage(BaseModel):
    """One page of a task list."""

    total: int = Field(description="符合条件的任务总数")
    limit: int = Field(description="本页最多条数")
    offset: int = Field(description="跳过的条数")
    items: list[TrackedTaskPublic]


class AuditEventPublic(BaseModel):
    """One audit event (留痕)."""

    id: int
    at: datetime = Field(description="发生时间（带时区 ISO 8601）")
    kind: str = Field(description="事件类型，如 task_submitted、filing_recorded")
    task_id: int | None = Field(description="涉及的任务编号")
    actor: str = Field(description="经办人（令牌名称）或 system")
    actor_org_code: str | None = Field(description="经办单位代码")
    before: dict[str, Any] | None = Field(description="变更前")
    after: dict[str, Any] | None = Field(description="变更后")
    detail: dict[str, Any] | None = Field(description="附加信息（意见、文号、链接等）")
    request_id: str | None = Field(description="请求编号（X-Request-ID）")


class TrackedTaskDetail(TrackedTaskPublic):
    """A task with what the caller can do and its history."""

    waiting_for: list[str] = Field(description="尚未完成的前置任务 key（提交前须完成）")
    allowed_actions: list[Action] = Field(description="您现在可执行的办理动作")
    history: list[AuditEventPublic] = Field(description="办理记录，按时间顺序")


class TransitionCreate(BaseModel):
    """One transition request: the action and the version the caller saw."""

    model_config = ConfigDict(extra="forbid")

    action: Action = Field(description="start 开始 / submit 提交 / return 退回 / accept 验收通过 / waive 豁免 / cancel 取消")
    version: int = Field(ge=1, le=2**31 - 1, description="您看到的任务版本号（不一致返回 409）")
    note: text(10_000, "佐证说明、退回意见（return 必填）或理由（waive/cancel 必填）") | None = None
    evidence_url: text(1000, "佐证链接（http:// 或 https://），提交时可附") | None = None
    attachment_id: Id | None = Field(default=None, description="已上传的佐证附件编号（POST /api/tasks/{id}/attachments）")
    new_due_on: day("退回改正的新截止日，不早于今天") | None = None


class AttachmentPublic(BaseModel):
    """An uploaded evidence file."""

    id: int
    task_id: int
    sha256: str = Field(description="文件内容的 SHA-256（十六进制）")
    filename: str = Field(description="上传时的文件名")
    content_type: str = Field(description="按文件内容识别的 MIME 类型")
    size_bytes: int = Field(description="大小（字节）")
    created_at: datetime = Field(description="上传时间（带时区 ISO 8601）")
