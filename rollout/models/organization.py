"""Organizations (单位/机构), their superiors over time, and the 26 domains (领域)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlmodel import Field, SQLModel

from rollout.models.types import enum_column


class OrgKind(StrEnum):
    """What level an organization is. Chinese labels: ``ORG_KIND_LABELS``."""

    office = "office"
    department = "department"
    city = "city"
    county = "county"
    township = "township"


ORG_KIND_LABELS: dict[OrgKind, str] = {
    OrgKind.office: "省政务公开办",
    OrgKind.department: "中省直部门",
    OrgKind.city: "市（州）",
    OrgKind.county: "县（市、区）",
    OrgKind.township: "乡镇（街道）",
}


class Organization(SQLModel, table=True):
    """One unit of the registry.

    ``code``: the GB/T 2260 division code where it has one (6 digits; townships 9), else a stable
    ``<province>.<kind>.<key>`` code. ``parent_code``: its superior today (county → city → office;
    department → office). ``aliases``: former division codes, space-separated.
    ``email``: the unit's own contact address (placeholders in bundled data).
    """

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=80)
    short_name: str | None = Field(default=None, max_length=40)
    kind: OrgKind = Field(sa_type=enum_column(OrgKind), index=True)
    parent_code: str | None = Field(default=None, foreign_key="organization.code", index=True)
    division_code: str | None = Field(default=None, max_length=12)
    is_zone: bool = False
    aliases: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=200)


class ParentPeriod(SQLModel, table=True):
    """A former superior of an organization, for days before ``until_on`` (exclusive).

    Example: 公主岭市 (220184) was under 四平市 (220300), code 220381, until June 2020.
    ``superior_on`` in the registry module picks the superior in force on a given day.
    """

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    parent_code: str = Field(foreign_key="organization.code")
    division_code: str | None = Field(default=None, max_length=12)
    until_on: date
    basis: str = Field(default="", max_length=400)


class Domain(SQLModel, table=True):
    """One of the 26 pilot domains; ``department_code`` is the responsible provincial department."""

    key: str = Field(primary_key=True, max_length=60)
    name: str = Field(max_length=40)
    department_code: str = Field(foreign_key="organization.code", index=True)
    position: int = 0
