"""Pydantic schemas of the plan file and the organization registry file, and their loading.

A plan is data (YAML), not code: another province or year is another file. Loading never touches
the database; every problem raises ``PlanError`` naming the file, the field (a dotted path such as
``milestones[3].fan_out.over[0]``) and what is wrong.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rollout.deadlines import DeadlinePolicy
from rollout.errors import PlanError
from rollout.models.organization import department_code

DATA_DIR = Path(__file__).parent / "data"
BUNDLED_PLAN = DATA_DIR / "jilin-2020.yaml"

OrgKindName = Literal["office", "department", "city", "county", "township"]
Dimension = Literal["office", "department", "city", "county", "township", "domain"]
Owner = Literal["office", "department", "city", "county", "township", "parent"]
Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FanOut(_Strict):
    """How a milestone becomes tasks: ``over`` the dimensions, owned by ``owner``."""

    over: list[Dimension]
    owner: Owner

    @field_validator("over")
    @classmethod
    def _one_org_kind(cls, over: list[str]) -> list[str]:
        kinds = [d for d in over if d != "domain"]
        if len(kinds) > 1:
            raise ValueError(f"至多一个机构层级，现有 {kinds}")
        if len(set(over)) != len(over):
            raise ValueError("维度重复")
        return over


class MilestoneSpec(_Strict):
    """One milestone of the plan file. ``due``: local due day (inclusive, "X月X日前")."""

    key: Key
    title: str
    section: str = ""
    starts: date | None = None
    due: date
    fan_out: FanOut
    accepted_by: OrgKindName | None = None
    requires: list[Key] = []
    follows: list[Key] = []
    policy: dict[str, Any] = {}
    """Overrides of the plan-wide ``policy`` for this milestone (same fields)."""


class PlanSpec(_Strict):
    """A plan file: its identity, its registry file, a default policy, and its milestones."""

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=60)]
    title: str
    document_number: str = ""
    issued_on: date | None = None
    issuer: str = ""
    registry: str
    timezone: str = "Asia/Shanghai"
    policy: DeadlinePolicy = DeadlinePolicy()
    scoring: dict[str, float] = {}
    acceptance_correction_working_days: int = Field(default=10, ge=1, le=250)
    """§四(四) 反馈改正: working days a catalog returned at acceptance has for its correction (the
    returned task's new due day is ``add_working_days(today, N)``)."""
    milestones: list[MilestoneSpec] = Field(min_length=1)


class NamedOrg(_Strict):
    code: str | None = None
    key: Key | None = None
    name: str
    short_name: str | None = None
    email: str | None = None


class CitySpec(_Strict):
    code: str
    name: str
    short_name: str | None = None
    zone: bool = False
    email: str | None = None


class FormerParent(_Strict):
    """The superior (and division code) a unit had until ``until`` (exclusive)."""

    city: str
    code: str | None = None
    until: date
    basis: str = ""


class CountySpec(_Strict):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]
    name: str
    city: str
    aliases: list[str] = []
    history: list[FormerParent] = []
    email: str | None = None


class TownshipSpec(_Strict):
    """A township or street (乡镇（街道）): its 9-digit code (the county's 6 + 3 digits, as in
    the 统计用区划代码), name and the code of its county."""

    code: Annotated[str, Field(pattern=r"^\d{9}$")]
    name: str
    county: str
    email: str | None = None


class DomainSpec(_Strict):
    key: Key
    name: str
    department: Key


class ProvinceSpec(_Strict):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]
    name: str


class ProvinceRegistry(_Strict):
    """The units of one province: its office, departments, cities, counties and townships."""

    province: ProvinceSpec
    office: NamedOrg
    departments: list[NamedOrg]
    cities: list[CitySpec]
    counties: list[CountySpec]
    townships: list[TownshipSpec] = []


class RegistrySpec(_Strict):
    """An organization registry file, in one of two shapes (``blocks`` gives both alike):

    - one province (``data/jilin-registry.yaml``): ``province``, ``office``, ``departments``,
      ``domains``, ``cities``, ``counties`` (and optionally ``townships``) at the top level;
    - several provinces: ``provinces: [{province, office, departments, cities, counties,
      townships}, …]`` and the shared ``domains`` at the top level (``rollout plans synth
      --provinces N``). A domain's ``department`` is a department ``key`` that every province
      lists.
    """

    province: ProvinceSpec | None = None
    office: NamedOrg | None = None
    departments: list[NamedOrg] = []
    cities: list[CitySpec] = []
    counties: list[CountySpec] = []
    townships: list[TownshipSpec] = []
    domains: list[DomainSpec]
    provinces: list[ProvinceRegistry] = []

    @model_validator(mode="after")
    def _one_shape(self) -> Self:
        single = [f for f in ("province", "office", "departments", "cities", "counties", "townships")
                  if getattr(self, f)]
        if self.provinces and single:
            raise ValueError(f"provinces 与单省字段 {single} 不能同时出现")
        if not self.provinces:
            missing = [f for f in ("province", "office") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"缺少 {missing}（或改用 provinces 列出各省）")
        return self

    @property
    def blocks(self) -> list[ProvinceRegistry]:
        """One ``ProvinceRegistry`` per province, in file order (one for the single shape)."""
        if self.provinces:
            return list(self.provinces)
        assert self.province is not None and self.office is not None
        return [ProvinceRegistry(
            province=self.province, office=self.office, departments=self.departments,
            cities=self.cities, counties=self.counties, townships=self.townships,
        )]


class _NoDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without implicit timestamps: ``2020-02-30`` stays a string for pydantic to reject
    with the field's name, instead of failing inside the YAML parser with no field at all.
    Built on libyaml's ``CSafeLoader`` when PyYAML has it (a 2,850-county registry parses in
    0.1 s instead of 0.65 s), else on the pure-Python ``SafeLoader``."""


_NoDatesLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(文件)"


def _json_body(text: str) -> str | None:
    """The text after leading ``#`` comment and blank lines when it is a JSON object, else None."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        line = text[start:end].strip()
        if line and not line.startswith("#"):
            return text[start:] if line.startswith("{") else None
        start = end
    return None


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; raises ``PlanError`` naming the file when missing or malformed.

    A file whose content (after leading ``#`` comment lines) is a JSON object, which is also
    YAML, is parsed with ``json`` instead: PyYAML builds every node in Python (a national
    registry of 41,000 units takes seconds), ``json`` takes a tenth of a second. Anything
    ``json`` rejects goes to the YAML parser, so its error messages stay those of YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: 文件不存在") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: 无法读取（{exc}）") from exc
    body = _json_body(text)
    if body is not None:
        try:
            return json.loads(body)
        except ValueError:
            pass
    try:
        return yaml.load(text, Loader=_NoDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: YAML 格式错误：{exc}") from exc


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {_field_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise PlanError("计划文件有误：\n" + "\n".join(lines)) from exc


def load_plan_spec(path: Path) -> PlanSpec:
    """Read and validate a plan file, including its cross-references.

    Checks beyond the schema: milestone keys unique; ``requires``/``follows`` name milestones of
    the plan (not itself); ``starts`` not after ``due``; ``owner`` is an org kind listed in
    ``over`` or ``parent`` (needs an org kind in ``over``) or ``department`` (needs ``domain``)
    or ``office``. Raises ``PlanError`` (file and field named).
    """
    spec: PlanSpec = _validate(PlanSpec, read_yaml(path), path)
    problems: list[str] = []
    keys = [m.key for m in spec.milestones]
    for i, m in enumerate(spec.milestones):
        where = f"{path}: milestones[{i}]"
        if keys.count(m.key) > 1:
            problems.append(f"{where}.key: 进度节点 '{m.key}' 重复")
        for field in ("requires", "follows"):
            for j, dep in enumerate(getattr(m, field)):
                if dep not in keys:
                    problems.append(
                        f"{where}.{field}[{j}]: 未知的进度节点 '{dep}'（已有：{', '.join(keys)}）"
                    )
                elif dep == m.key:
                    problems.append(f"{where}.{field}[{j}]: 不能依赖自身")
        if m.starts and m.starts > m.due:
            problems.append(f"{where}.starts: 开始日 {m.starts} 晚于截止日 {m.due}")
        kinds = [d for d in m.fan_out.over if d != "domain"]
        owner = m.fan_out.owner
        if owner == "parent" and not kinds:
            problems.append(f"{where}.fan_out.owner: 'parent' 需要在 over 中列出一个机构层级")
        elif owner == "department" and "domain" not in m.fan_out.over:
            problems.append(f"{where}.fan_out.owner: 'department' 需要在 over 中列出 domain")
        elif owner not in ("parent", "department", "office") and owner not in kinds:
            problems.append(f"{where}.fan_out.owner: '{owner}' 不在 over {m.fan_out.over} 中")
        if m.policy:
            try:
                spec.policy.with_overrides(**m.policy)
            except ValidationError as exc:
                problems += [f"{where}.policy.{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
    if problems:
        raise PlanError("计划文件有误：\n" + "\n".join(problems))
    return spec


def effective_policy(spec: PlanSpec, milestone: MilestoneSpec) -> DeadlinePolicy:
    """The plan-wide policy with the milestone's overrides applied."""
    return spec.policy.with_overrides(**milestone.policy) if milestone.policy else spec.policy


def registry_path(plan_path: Path, spec: PlanSpec) -> Path:
    """The registry file a plan names, relative to the plan file's folder."""
    return (plan_path.parent / spec.registry).resolve()


def load_registry_spec(path: Path) -> RegistrySpec:
    """Read and validate a registry file (either shape, see ``RegistrySpec``).

    Checks beyond the schema, per province: departments have a ``key`` and (if given) the code
    ``<province>.dept.<key>``; counties name a city of their province (also in ``history``);
    townships a county of their province; every domain's department is listed by every province.
    Across the file: province codes and unit codes unique. Linear in the number of units
    (a 38,000-township registry checks in well under a second). Raises ``PlanError`` naming the
    file and field.
    """
    reg: RegistrySpec = _validate(RegistrySpec, read_yaml(path), path)
    problems: list[str] = []
    multi = bool(reg.provinces)
    codes: Counter[str] = Counter()
    for p, block in enumerate(reg.blocks):
        at = f"{path}: provinces[{p}]." if multi else f"{path}: "
        prov = block.province.code
        city_codes = {c.code for c in block.cities}
        county_codes = {c.code for c in block.counties}
        dept_keys = {d.key for d in block.departments}
        for i, d in enumerate(block.departments):
            if not d.key:
                problems.append(f"{at}departments[{i}].key: 缺少")
            elif d.code and d.code != department_code(prov, d.key):
                problems.append(f"{at}departments[{i}].code: 须为 '{department_code(prov, d.key)}'"
                                f"（省代码.dept.key），现为 '{d.code}'")
        for i, c in enumerate(block.counties):
            if c.city not in city_codes:
                problems.append(f"{at}counties[{i}].city: 未知的市（州）'{c.city}'")
            for j, h in enumerate(c.history):
                if h.city not in city_codes:
                    problems.append(f"{at}counties[{i}].history[{j}].city: 未知的市（州）'{h.city}'")
        for i, t in enumerate(block.townships):
            if t.county not in county_codes:
                problems.append(f"{at}townships[{i}].county: 未知的县（市、区）'{t.county}'")
        for i, dom in enumerate(reg.domains):
            if dom.department not in dept_keys:
                where = f"{path}: domains[{i}].department" + (f"（{block.province.name}）" if multi else "")
                problems.append(f"{where}: 未知的部门 '{dom.department}'")
        codes.update([prov])
        codes.update(c.code for c in block.cities)
        codes.update(c.code for c in block.counties)
        codes.update(t.code for t in block.townships)
    dupes = sorted(c for c, n in codes.items() if n > 1)
    if dupes:
        problems.append(f"{path}: 机构代码重复：{', '.join(dupes[:20])}"
                        + (f" 等 {len(dupes)} 个" if len(dupes) > 20 else ""))
    if problems:
        shown = problems[:50] + ([f"……另有 {len(problems) - 50} 处"] if len(problems) > 50 else [])
        raise PlanError("机构名录文件有误：\n" + "\n".join(shown))
    return reg
