"""Contacts (联络人) of organizations: who hears about a unit's tasks, by email or webhook."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime, enum_column


class WebhookKind(StrEnum):
    """Message format of a webhook: generic JSON POST, or a WeCom / DingTalk group robot."""

    generic = "generic"
    wecom = "wecom"
    dingtalk = "dingtalk"


class Contact(SQLModel, table=True):
    """A contact of an organization, optionally for one domain.

    A county × domain task belongs to the county's counterpart department for that domain: its
    notices go to the county's contact for that ``domain_key`` when there is one, else to the
    county's general contact (``domain_key`` None), else to ``Organization.email``. Recipients are
    resolved when a notice is made, so whoever is the contact then receives it.
    """

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    domain_key: str | None = Field(default=None, foreign_key="domain.key")
    name: str = Field(max_length=60)
    role: str = Field(default="联络员", max_length=60)
    email: str | None = Field(default=None, max_length=200)
    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_kind: WebhookKind | None = Field(default=None, sa_type=enum_column(WebhookKind))
    active: bool = True
    updated_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
