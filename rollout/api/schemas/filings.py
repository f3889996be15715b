"""Shapes of filings (备案)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rollout.api.schemas.common import NO_CONTROL, day, text


class FilingCreate(BaseModel):
    """The text fields of a filing form (the document goes in the ``file`` part)."""

    model_config = ConfigDict(extra="ignore")

    milestone: Literal["dept_filing", "city_filing"] = Field(
        description="备案节点：dept_filing（中省直部门工作方案通知，4月25日前）或 city_filing（市州实施计划，5月6日前）"
    )
    document_number: text(60, "文号，如 吉教发〔2020〕12号（年份用六角括号〔〕，序号不编虚位）", 1)
    title: text(200, "文件标题", 1)
    issued_on: day("成文日期，不晚于今天，与文号年份一致")
    domain: text(60, "领域 key（dept_filing：负责多个领域的部门须指明）") | None = None
    org: text(60, "代为备案的单位代码（仅省政务公开办）") | None = None
    note: str | None = Field(
        default=None, pattern=NO_CONTROL,
        description="备注（长度只受表单字段上限约束，默认 1 MB，超过返回 413）",
    )


class FilingPublic(BaseModel):
    """A recorded filing."""

    id: int
    task_id: int = Field(description="备案任务编号")
    org_code: str = Field(description="备案单位代码")
    document_number: str = Field(description="文号")
    title: str = Field(description="文件标题")
    issued_on: date = Field(description="成文日期（本地日期 YYYY-MM-DD）")
    note: str | None = Field(description="备注")
    sha256: str = Field(description="文件内容 SHA-256（十六进制），文件库按此命名")
    filename: str = Field(description="上传时的文件名")
    content_type: str = Field(description="按文件内容识别的 MIME 类型")
    size_bytes: int = Field(description="文件大小（字节）")
    days_late: int = Field(description="逾期工作日数（按现行截止日，含调休上班日；按时为 0）")
    superseded_by_id: int | None = Field(description="被哪次备案替代（两次都保留）")
    filed_by: str = Field(description="经办人")
    created_at: datetime = Field(description="备案时间（带时区 ISO 8601）")
