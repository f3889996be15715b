"""A synthetic province for benchmarks: a registry file and a plan file of any size, seeded.

One province with GB/T 2260-shaped codes: the province ``pp0000``, cities ``ppcc00`` (cc 01–99)
and county-level units ``ppccxx`` (xx 01–99, drawn per city from the seed). Departments and
domains are those of the bundled Jilin registry (``data/jilin-registry.yaml``: 18 and 26, names
with 吉林省 replaced by the synthetic province's name); the milestones (keys, fan-out rules,
due days, policies) are copied from the bundled plan (``data/jilin-2020.yaml``). Names are
synthetic (``合成市001``, ``合成县00123``), addresses placeholders ``gk-<code>@example.org``.

With ``C`` cities and ``N`` counties the plan fans out to ``26 + 26 + C + 3·26·N + 1 + N + 1``
tasks (work_plan, dept_filing, city_filing, catalog, training, city_review, upload, acceptance,
go_live): 2,850 counties in 99 cities give 225,303. The same arguments give the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rollout.errors import PlanError
from rollout.plans.schema import BUNDLED_PLAN, DATA_DIR, read_yaml

MAX_CITIES = 99
"""Cities of one province: the two ``cc`` digits of a GB/T 2260 code, 01–99."""
MAX_COUNTIES_PER_CITY = 99
"""County-level units of one city: the two ``xx`` digits, 01–99."""
PROVINCE_NAME = "合成省"
REGISTRY_FILE = "registry.yaml"
PLAN_FILE = "plan.yaml"


@dataclass(frozen=True)
class SynthFiles:
    """The files ``write_synthetic_plan`` wrote and the task count the plan fans out to."""

    plan: Path
    registry: Path
    expected_tasks: int


def expected_task_count(counties: int, cities: int, domains: int = 26) -> int:
    """Tasks the copied Jilin milestones give for ``counties`` and ``cities`` (see module doc)."""
    return domains + domains + cities + 3 * domains * counties + 1 + counties + 1


def _county_codes(rng: random.Random, counties: int, cities: int) -> list[list[int]]:
    """Per city (index 0 = cc 01), the sorted ``xx`` numbers of its counties: every city gets
    at least one, the rest are spread at random, at most 99 each."""
    sizes = [1] * cities
    room = [c for c in range(cities) for _ in range(MAX_COUNTIES_PER_CITY - 1)]
    for c in rng.sample(room, counties - cities):
        sizes[c] += 1
    return [sorted(rng.sample(range(1, 100), n)) for n in sizes]


def _county_suffix(xx: int) -> str:
    """The kind a real code's last two digits suggest: 01–20 区, 21–80 县, 81–99 市."""
    return "区" if xx <= 20 else ("县" if xx <= 80 else "市")


def synth_registry(counties: int, cities: int, seed: int, province: int = 90) -> dict[str, Any]:
    """The registry file's data (``RegistrySpec`` shape) of the synthetic province.

    ``province``: the two leading digits ``pp`` (10–99; default 90, a number no real province
    uses). Raises ``PlanError`` when ``cities`` is not in 1–99, ``counties`` not in
    ``cities``–``99·cities``, or ``province`` not in 10–99.
    """
    if not 10 <= province <= 99:
        raise PlanError(f"省级代码前两位须在 10–99 之间，现为 {province}")
    if not 1 <= cities <= MAX_CITIES:
        raise PlanError(f"市（州）数须在 1–{MAX_CITIES} 之间（代码 {province}cc00），现为 {cities}")
    if not cities <= counties <= cities * MAX_COUNTIES_PER_CITY:
        raise PlanError(
            f"县级单位数须在 {cities}–{cities * MAX_COUNTIES_PER_CITY} 之间"
            f"（每市至少 1 个、至多 {MAX_COUNTIES_PER_CITY} 个），现为 {counties}"
        )
    jilin = read_yaml(DATA_DIR / "jilin-registry.yaml")
    rng = random.Random(seed)
    pp = f"{province:02d}"
    departments = [
        {k: (v.replace("吉林省", PROVINCE_NAME) if isinstance(v, str) else v) for k, v in d.items()}
        for d in jilin["departments"]
    ]
    city_rows: list[dict[str, Any]] = []
    county_rows: list[dict[str, Any]] = []
    for ci, xs in enumerate(_county_codes(rng, counties, cities), start=1):
        city_code = f"{pp}{ci:02d}00"
        city_rows.append({"code": city_code, "name": f"合成市{ci:03d}", "short_name": f"合成{ci:03d}",
                          "email": f"gk-{city_code}@example.org"})
        for xx in xs:
            code = f"{pp}{ci:02d}{xx:02d}"
            county_rows.append({"code": code, "name": f"合成{_county_suffix(xx)}{len(county_rows) + 1:05d}",
                                "city": city_code, "email": f"gk-{code}@example.org"})
    return {
        "province": {"code": f"{pp}0000", "name": PROVINCE_NAME},
        "office": {"code": f"{pp}0000.office", "name": f"{PROVINCE_NAME}政务公开领导小组办公室",
                   "short_name": "省政务公开办", "email": "gk-office@example.org"},
        "departments": departments,
        "domains": jilin["domains"],
        "cities": city_rows,
        "counties": county_rows,
    }


def synth_plan(counties: int, cities: int, registry_file: str = REGISTRY_FILE) -> dict[str, Any]:
    """The plan file's data: the bundled plan's timezone, policy and milestones (same due days)
    under the key ``synth``, naming ``registry_file`` (relative to the plan's folder)."""
    jilin = read_yaml(BUNDLED_PLAN)
    plan: dict[str, Any] = {
        "key": "synth",
        "title": f"{PROVINCE_NAME}基层政务公开标准化规范化工作实施方案（合成数据：{cities} 个市、{counties} 个县）",
        "issued_on": jilin.get("issued_on"),
        "registry": registry_file,
        "timezone": jilin.get("timezone", "Asia/Shanghai"),
    }
    for key in ("policy", "scoring", "acceptance_correction_working_days"):
        if key in jilin:
            plan[key] = jilin[key]
    plan["milestones"] = jilin["milestones"]
    return plan


def _dump(data: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=200)
    return header + body


def write_synthetic_plan(
    out: Path, *, counties: int, cities: int, seed: int, province: int = 90
) -> SynthFiles:
    """Write ``registry.yaml`` and ``plan.yaml`` of the synthetic province into folder ``out``
    (created if missing; files overwritten). Deterministic: same arguments, same bytes.

    Raises ``PlanError`` for out-of-range sizes (see ``synth_registry``) or when ``out`` exists
    and is not a folder.
    """
    if out.exists() and not out.is_dir():
        raise PlanError(f"{out}: 不是文件夹")
    registry = synth_registry(counties, cities, seed, province)
    plan = synth_plan(counties, cities)
    header = (f"# 合成数据（rollout plans synth --counties {counties} --cities {cities} "
              f"--seed {seed} --province {province}），仅供性能测试，非真实机构。\n")
    out.mkdir(parents=True, exist_ok=True)
    reg_path, plan_path = out / REGISTRY_FILE, out / PLAN_FILE
    reg_path.write_text(_dump(registry, header), encoding="utf-8")
    plan_path.write_text(_dump(plan, header), encoding="utf-8")
    return SynthFiles(plan_path, reg_path,
                      expected_task_count(counties, cities, len(registry["domains"])))
