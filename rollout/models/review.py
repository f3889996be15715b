"""Review packets (复核材料): what a city sees of one county before it signs off its catalogs.

Plan §四(三): "9月1日前，各市（州）完成对所辖县（市、区）26个领域公开事项…的复核". The
``review`` flow (``rollout.flows.review``) writes one packet per county each run; the newest
packet of a county is the one the city's sign-off (``rollout.actions.reviews``) acts on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime


class ReviewPacket(SQLModel, table=True):
    """One county's review packet at ``created_at`` (aware).

    ``city_code``: the county's city on that day; ``task_id``: the county's ``city_review`` task
    (None when no plan is loaded). Counts over the registry's domains (26 in Jilin):
    ``domains_total``, ``domains_clean`` (newest version compiled with no blocking finding),
    ``domains_missing`` (no catalog imported), ``open_findings`` (blocking findings still open).
    ``complete``: every domain clean. ``detail``: the packet itself, JSON:
    ``{"domains": [{"domain", "name", "status", "task_state", "version", "report_id",
    "blocking"}], "findings": [{"domain", "kind", "message"}], "changes": [{"domain",
    "from_version", "to_version", "added", "removed", "changed"}]}`` (see
    ``rollout.catalogs.review``).
    """

    id: int | None = Field(default=None, primary_key=True)
    county_code: str = Field(foreign_key="organization.code", index=True, max_length=40)
    city_code: str = Field(foreign_key="organization.code", index=True, max_length=40)
    task_id: int | None = Field(default=None, foreign_key="trackedtask.id")
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    domains_total: int = 0
    domains_clean: int = 0
    domains_missing: int = 0
    open_findings: int = 0
    complete: bool = False
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
