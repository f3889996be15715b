"""Filings (备案), city review sign-offs (复核), extension requests (延期申请) and evidence
attachments: the records behind the HTTP API's actions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime, enum_column


class Filing(SQLModel, table=True):
    """One filed document (备案) for one filing task (``dept_filing`` / ``city_filing``).

    ``document_number``: the 文号, e.g. ``吉教发〔2020〕12号``. ``issued_on``: the document's date
    (local day). ``sha256``: hex digest of the stored bytes (the file store names the file by
    it); ``size_bytes``: its length in bytes; ``content_type``: the MIME type found from the bytes.
    ``days_late``: working days after the task's due day in force on the local day it was filed
    (0 when on time). ``superseded_by_id``: the later filing that replaced this one (both kept).
    """

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="trackedtask.id", index=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    document_number: str = Field(max_length=60)
    title: str = Field(max_length=200)
    issued_on: date
    note: str | None = Field(default=None, sa_column=Column(sa.Text))
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    days_late: int = 0
    superseded_by_id: int | None = Field(default=None, foreign_key="filing.id")
    filed_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))


class Attachment(SQLModel, table=True):
    """An evidence file uploaded for a task (e.g. the catalog table submitted with ``submit``).

    Same file fields as ``Filing``; the file store names the bytes by ``sha256``.
    """

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="trackedtask.id", index=True)
    org_code: str = Field(foreign_key="organization.code")
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int = Field(sa_column=Column(sa.BigInteger, nullable=False))
    uploaded_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))


class ReviewDecision(StrEnum):
    """A city's review (复核) decision on one county's catalogs."""

    approved = "approved"
    returned = "returned"


class CityReview(SQLModel, table=True):
    """One city sign-off of one county's 26 catalogs (``city_review`` task ``task_id``).

    ``findings``: list of ``{"domain": key, "kind": "missing_item"|"wrong_element"|"other",
    "text": ...}`` (缺项少项 / 要素错误 / 其他).
    """

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="trackedtask.id", index=True)
    county_code: str = Field(foreign_key="organization.code", index=True)
    city_code: str = Field(foreign_key="organization.code")
    reviewer: str = Field(max_length=80)
    decision: ReviewDecision = Field(sa_type=enum_column(ReviewDecision))
    findings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(sa.JSON, nullable=False)
    )
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))


class ExtensionStatus(StrEnum):
    """An extension request's state."""

    pending = "pending"
    approved = "approved"
    refused = "refused"


EXTENSION_STATUS_LABELS: dict[ExtensionStatus, str] = {
    ExtensionStatus.pending: "待审批",
    ExtensionStatus.approved: "已批准",
    ExtensionStatus.refused: "未批准",
}


class ExtensionRequest(SQLModel, table=True):
    """A unit's request (延期申请) to move one task's due day, and the decision on it.

    ``previous_due_on``: the due day in force when asked; ``requested_due_on``: the day asked
    for (local days). ``org_code``: the asking unit (the task's owner); ``decided_by_org_code``:
    the unit above that decided.
    """

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="trackedtask.id", index=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    requested_by: str = Field(default="", max_length=80)
    reason: str = Field(max_length=2000)
    previous_due_on: date
    requested_due_on: date
    status: ExtensionStatus = Field(
        default=ExtensionStatus.pending, sa_type=enum_column(ExtensionStatus)
    )
    decided_by_org_code: str | None = Field(default=None, foreign_key="organization.code")
    decided_by: str | None = Field(default=None, max_length=80)
    decision_note: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
