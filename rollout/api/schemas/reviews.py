"""Shapes of city review sign-offs (复核)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rollout.api.schemas.common import day, text
from rollout.models import ReviewDecision


class FindingIn(BaseModel):
    """One problem found in a county's catalog."""

    model_config = ConfigDict(extra="forbid")

    domain: text(60, "领域 key，如 social_assistance", 1)
    kind: Literal["missing_item", "wrong_element", "other"] = Field(
        description="missing_item 缺项少项 / wrong_element 要素错误 / other 其他"
    )
    text: text(2000, "问题说明", 1)


class ReviewCreate(BaseModel):
    """A city's sign-off of one county's 26 catalogs."""

    model_config = ConfigDict(extra="forbid")

    reviewer: text(80, "复核人姓名", 1)
    decision: ReviewDecision = Field(description="approved 复核通过 / returned 退回改正")
    findings: list[FindingIn] = Field(default_factory=list, max_length=200,
                                      description="问题清单（退回时至少一条，只退回涉及的领域）")
    version: int = Field(ge=1, le=2**31 - 1, description="该县复核任务（city_review）的版本号，不一致返回 409")
    new_due_on: day("退回改正的新截止日") | None = None


class CityReviewPublic(BaseModel):
    """A recorded sign-off."""

    id: int
    task_id: int = Field(description="复核任务编号")
    county_code: str
    city_code: str
    reviewer: str
    decision: ReviewDecision
    findings: list[dict] = Field(description="问题清单：domain、kind、text")
    created_at: datetime = Field(description="签署时间（带时区 ISO 8601）")
    task_state: str = Field(description="签署后复核任务的状态")
    task_version: int = Field(description="签署后复核任务的版本号")
