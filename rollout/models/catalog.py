"""Disclosure-item catalogs (公开事项标准目录): versions, items, compile reports and findings.

Plan §三(一): every county counterpart department compiles its domain's catalog; an item has
nine elements (名称 内容 依据 时限 主体 方式 渠道 公开对象 公开层级) and may link to the
service-platform item of the same name and to the policy document. Each import is a new
``CatalogVersion``; the one the province accepted is marked (§四(四)).

Multi-valued elements (methods, channels, audiences, levels) are JSON lists of enum values.
A channel the importer could not map to ``DisclosureChannel`` is kept verbatim (Chinese text) so
the checks can report it (``FindingKind.unknown_vocabulary``) instead of losing it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime, enum_column


class DisclosureMethod(StrEnum):
    """公开方式 (§三(一)); a guideline row may mark both. Labels: ``METHOD_LABELS``."""

    proactive = "proactive"
    on_request = "on_request"


class Audience(StrEnum):
    """公开对象; both may be marked. Labels: ``AUDIENCE_LABELS``."""

    public = "public"
    specific = "specific"


class DisclosureLevel(StrEnum):
    """公开层级; both allowed. Labels: ``LEVEL_LABELS``."""

    county = "county"
    township = "township"


class DisclosureChannel(StrEnum):
    """公开渠道和载体 (the plan's list, §三(一)). Labels: ``CHANNEL_LABELS``."""

    government_website = "government_website"
    government_gazette = "government_gazette"
    new_media = "new_media"
    service_hall = "service_hall"
    service_station = "service_station"
    bulletin_board = "bulletin_board"
    broadcast = "broadcast"
    press = "press"
    targeted_push = "targeted_push"
    other = "other"


class FindingKind(StrEnum):
    """What a compile or acceptance check found. Labels: ``FINDING_KIND_LABELS``.

    ``extra_item`` (an item the guideline does not list) is allowed: listed, never blocking.
    """

    missing_item = "missing_item"
    bad_element = "bad_element"
    unknown_vocabulary = "unknown_vocabulary"
    bad_time_limit = "bad_time_limit"
    service_name_mismatch = "service_name_mismatch"
    extra_item = "extra_item"


class FindingStatus(StrEnum):
    """Whether a finding still stands. Labels: ``FINDING_STATUS_LABELS``."""

    open = "open"
    resolved = "resolved"


METHOD_LABELS: dict[DisclosureMethod, str] = {
    DisclosureMethod.proactive: "主动公开",
    DisclosureMethod.on_request: "依申请公开",
}
AUDIENCE_LABELS: dict[Audience, str] = {Audience.public: "全社会", Audience.specific: "特定群体"}
LEVEL_LABELS: dict[DisclosureLevel, str] = {
    DisclosureLevel.county: "县级",
    DisclosureLevel.township: "乡级",
}
CHANNEL_LABELS: dict[DisclosureChannel, str] = {
    DisclosureChannel.government_website: "政府网站",
    DisclosureChannel.government_gazette: "政府公报",
    DisclosureChannel.new_media: "政务新媒体",
    DisclosureChannel.service_hall: "政务服务大厅",
    DisclosureChannel.service_station: "便民服务站",
    DisclosureChannel.bulletin_board: "公开栏",
    DisclosureChannel.broadcast: "广播电视",
    DisclosureChannel.press: "报刊",
    DisclosureChannel.targeted_push: "精准推送",
    DisclosureChannel.other: "其他",
}
FINDING_KIND_LABELS: dict[FindingKind, str] = {
    FindingKind.missing_item: "缺项",
    FindingKind.bad_element: "要素不全",
    FindingKind.unknown_vocabulary: "取值不规范",
    FindingKind.bad_time_limit: "公开时限不规范",
    FindingKind.service_name_mismatch: "与政务服务事项名称不一致",
    FindingKind.extra_item: "增列事项",
}
FINDING_STATUS_LABELS: dict[FindingStatus, str] = {
    FindingStatus.open: "待整改",
    FindingStatus.resolved: "已解决",
}

#: Finding kinds that keep a catalog from being submitted or accepted.
BLOCKING_KINDS = frozenset(set(FindingKind) - {FindingKind.extra_item})


def _aware(**kw) -> Column:
    return Column(AwareDateTime(), **kw)


def _json_list() -> Column:
    return Column(sa.JSON, nullable=False)


class Catalog(SQLModel, table=True):
    """The catalog of one county for one domain (one per county × domain).

    ``task_id``: the plan's ``catalog`` task of that county and domain, when the plan is loaded.
    """

    __table_args__ = (sa.UniqueConstraint("county_code", "domain_key"),)

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(foreign_key="organization.code", index=True, max_length=40)
    domain_key: str = Field(foreign_key="domain.key", index=True, max_length=60)
    task_id: int | None = Field(default=None, foreign_key="trackedtask.id", index=True)
    created_at: datetime = Field(sa_column=_aware(nullable=False))


class CatalogVersion(SQLModel, table=True):
    """One import (upload) of a catalog. ``number`` counts from 1 per catalog.

    ``source_filename``: the file's name as uploaded; ``sha256``: hex digest of its bytes.
    ``accepted``: the version the province accepted (at most one per catalog; ``accepted_at``).
    """

    __table_args__ = (sa.UniqueConstraint("catalog_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    catalog_id: int = Field(foreign_key="catalog.id", index=True)
    number: int
    created_at: datetime = Field(sa_column=_aware(nullable=False))
    created_by: str = Field(default="system", max_length=80)
    source_filename: str = Field(default="", max_length=400)
    sha256: str = Field(default="", max_length=64)
    item_count: int = 0
    accepted: bool = False
    accepted_at: datetime | None = Field(default=None, sa_column=_aware())


class CatalogItem(SQLModel, table=True):
    """One disclosure item (公开事项) of one catalog version, with its nine elements.

    ``level1_name`` / ``level2_name``: 一级事项 / 二级事项. ``methods``, ``audiences``, ``levels``:
    lists of ``DisclosureMethod`` / ``Audience`` / ``DisclosureLevel`` values; ``channels``: list of
    ``DisclosureChannel`` values, or verbatim text for a channel outside the vocabulary.
    ``position``: 1-based order in the file. ``source_row``: the row it was read from (1-based).
    """

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="catalogversion.id", index=True)
    position: int
    source_row: int | None = None
    level1_name: str = Field(default="", max_length=200)
    level2_name: str = Field(default="", max_length=200)
    content: str = Field(default="", sa_type=sa.Text)
    basis: str = Field(default="", sa_type=sa.Text)
    time_limit: str = Field(default="", max_length=400)
    subject: str = Field(default="", max_length=400)
    methods: list[str] = Field(default_factory=list, sa_column=_json_list())
    channels: list[str] = Field(default_factory=list, sa_column=_json_list())
    audiences: list[str] = Field(default_factory=list, sa_column=_json_list())
    levels: list[str] = Field(default_factory=list, sa_column=_json_list())
    service_item_link: str | None = Field(default=None, max_length=400)
    policy_link: str | None = Field(default=None, max_length=400)


class CompileReport(SQLModel, table=True):
    """The result of checking one catalog version (``stage``: ``compile`` or ``acceptance``).

    ``clean``: no blocking finding. ``guideline_status``: the status line of the guideline used
    (e.g. ``完整``, ``待补充``). ``summary``: counts by finding kind and what was done to the task.
    """

    id: int | None = Field(default=None, primary_key=True)
    catalog_id: int = Field(foreign_key="catalog.id", index=True)
    version_id: int = Field(foreign_key="catalogversion.id", index=True)
    stage: str = Field(default="compile", max_length=20)
    created_at: datetime = Field(sa_column=_aware(nullable=False))
    clean: bool = False
    item_count: int = 0
    finding_count: int = 0
    guideline_status: str = Field(default="", max_length=40)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))


class Finding(SQLModel, table=True):
    """One thing a check found, in Chinese (``message``), attached to a report and its catalog.

    ``item_position``: the item concerned (None for a missing item). ``element``: the element's
    English name (``time_limit``, ``channels``) or None. ``blocking``: False for ``extra_item``.
    ``status`` turns ``resolved`` (with ``resolved_at``) when a later check of the catalog runs.
    """

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="compilereport.id", index=True)
    catalog_id: int = Field(foreign_key="catalog.id", index=True)
    kind: FindingKind = Field(sa_type=enum_column(FindingKind, length=30))
    blocking: bool = True
    item_position: int | None = None
    element: str | None = Field(default=None, max_length=40)
    message: str = Field(sa_type=sa.Text)
    status: FindingStatus = Field(
        default=FindingStatus.open, sa_type=enum_column(FindingStatus), index=True
    )
    resolved_at: datetime | None = Field(default=None, sa_column=_aware())
