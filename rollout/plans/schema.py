"""Pydantic schemas of the plan file and the organization registry file, and their loading.

A plan is data (YAML), not code: another province or year is another file. Loading never touches
the database; every problem raises ``PlanError`` naming the file, the field (a dotted path such as
``milestones[3].fan_out.over[0]``) and what is wrong.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rollout.deadlines import DeadlinePolicy
from rollout.errors import PlanError

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


class DomainSpec(_Strict):
    key: Key
    name: str
    department: Key


class ProvinceSpec(_Strict):
    code: Annotated[str, Field(pattern=r"^\d{6}$")]
    name: str


class RegistrySpec(_Strict):
    """The organization registry of one province (see ``data/jilin-registry.yaml``)."""

    province: ProvinceSpec
    office: NamedOrg
    departments: list[NamedOrg]
    domains: list[DomainSpec]
    cities: list[CitySpec]
    counties: list[CountySpec]


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


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; raises ``PlanError`` naming the file when missing or malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: 文件不存在") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: 无法读取（{exc}）") from exc
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
    """Read and validate a registry file: unique codes, cities and departments that exist.

    Raises ``PlanError`` naming the file and field.
    """
    reg: RegistrySpec = _validate(RegistrySpec, read_yaml(path), path)
    problems: list[str] = []
    city_codes = {c.code for c in reg.cities}
    dept_keys = {d.key for d in reg.departments}
    for i, d in enumerate(reg.departments):
        if not d.key:
            problems.append(f"{path}: departments[{i}].key: 缺少")
    for i, c in enumerate(reg.counties):
        if c.city not in city_codes:
            problems.append(f"{path}: counties[{i}].city: 未知的市（州）'{c.city}'")
        for j, h in enumerate(c.history):
            if h.city not in city_codes:
                problems.append(f"{path}: counties[{i}].history[{j}].city: 未知的市（州）'{h.city}'")
    for i, d in enumerate(reg.domains):
        if d.department not in dept_keys:
            problems.append(f"{path}: domains[{i}].department: 未知的部门 '{d.department}'")
    codes = [c.code for c in reg.cities] + [c.code for c in reg.counties]
    dupes = sorted({c for c in codes if codes.count(c) > 1})
    if dupes:
        problems.append(f"{path}: 机构代码重复：{', '.join(dupes)}")
    if problems:
        raise PlanError("机构名录文件有误：\n" + "\n".join(problems))
    return reg
