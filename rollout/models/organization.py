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
    department → office; township → county). ``aliases``: former division codes, space-separated.
    ``email``: the unit's own contact address (placeholders in bundled data).
    ``province_code``: the 6-digit division code of the unit's province (``220000`` for every
    unit of Jilin; the first two digits of ``code`` + ``0000``); None only for rows written
    before it existed and not backfilled. Indexed: the sweep and the pages filter by province.
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
    province_code: str | None = Field(default=None, max_length=12, index=True)

    @property
    def province(self) -> str:
        """The unit's province code: ``province_code``, or for a row without one the first two
        digits of ``code`` + ``0000`` (the rule the registry and migration 0012 use)."""
        return self.province_code or self.code[:2] + "0000"


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


def department_code(province_code: str, key: str) -> str:
    """The stable code of a province's department with registry ``key``:
    ``department_code("220000", "education") == "220000.dept.education"``."""
    return f"{province_code}.dept.{key}"


class Domain(SQLModel, table=True):
    """One of the 26 pilot domains, shared by every province of the registry.

    ``department_key``: the registry ``key`` of the responsible provincial department
    (``education``, ``drc`` …); the department itself differs per province:
    ``department_code(province_code, department_key)``
    (``220000.dept.education``).
    """

    key: str = Field(primary_key=True, max_length=60)
    name: str = Field(max_length=40)
    department_key: str = Field(max_length=60)
    position: int = 0
