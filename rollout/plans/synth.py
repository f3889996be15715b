"""Synthetic registries and plans for benchmarks: one province, or up to 31 with townships; seeded.

One province (``write_synthetic_plan(out, counties=…, cities=…)``): GB/T 2260-shaped codes, the
province ``pp0000`` (default 90, a number no real province uses), cities ``ppcc00`` (cc 01–99)
and county-level units ``ppccxx`` (xx 01–99, drawn per city from the seed), in the one-province
registry shape.

Several provinces (``provinces=N``, 1–31): the real first two digits of the 31 provinces in
order (``NATIONAL_PREFIXES``: 11 北京 … 65 新疆), in the multi-province registry shape
(``provinces: [...]`` and shared ``domains``). By default the national totals scaled by N/31:
``round(333·N/31)`` cities, ``round(2850·N/31)`` county-level units (31 provinces: 333 cities,
2,850 counties, the real national counts), spread at random over provinces and cities (each at
least one, at most 99).

The several-province registry is written as JSON (a subset of YAML, so still ``registry.yaml``),
one unit per line: ``read_yaml`` parses it with ``json`` in a tenth of a second, where PyYAML
needs seconds for 41,000 units.

Townships (``townships=True``): ``round(counties·38000/2850)`` by default (38,000 for the whole
country, the real count), at least one and at most ``MAX_TOWNSHIPS_PER_COUNTY`` per county,
9-digit codes = the county's code + 3 digits drawn from 001–399 (统计用区划代码: 001–099 街道,
100–199 镇, 200–399 乡, which also gives the name's suffix); the plan gets the milestone
``township_catalog`` (乡镇（街道）编制本级标准目录, over [township, domain], owned by the township,
due the day of ``catalog``).

Departments and domains are those of the bundled Jilin registry (``data/jilin-registry.yaml``: 18
and 26, names with 吉林省 replaced by the synthetic province's name); the milestones (keys,
fan-out rules, due days, policies) are copied from the bundled plan (``data/jilin-2020.yaml``).
Names are synthetic (``合成省11``, ``合成市001``, ``合成县00123``, ``合成镇000042``), addresses
placeholders ``gk-<code>@example.org``.

Task count, with P provinces, C cities, K counties, T townships and D = 26 domains::

    2·P·D (work_plan, dept_filing: per province × domain)
    + C (city_filing) + 3·D·K (catalog, upload, acceptance) + K (city_review)
    + 2·P (training, go_live: per province) + D·T (township_catalog)

One province, 2,850 counties in 99 cities: 225,303. 31 provinces, 333 cities, 2,850 counties:
227,157; with 38,000 townships: 1,215,157. The same arguments give the same bytes.
"""

from __future__ import annotations

import json
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
MAX_TOWNSHIPS_PER_COUNTY = 399
"""Townships of one county: the last three digits, 001–399 (街道, 镇, 乡; see the module doc)."""
NATIONAL_PREFIXES = (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43,
                     44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65)
"""The first two digits of the 31 provincial-level divisions' GB/T 2260 codes, in code order."""
NATIONAL_CITIES = 333
NATIONAL_COUNTIES = 2850
NATIONAL_TOWNSHIPS = 38_000
"""National totals of prefecture-level, county-level and township-level divisions (about)."""
PROVINCE_NAME = "合成省"
REGISTRY_FILE = "registry.yaml"
PLAN_FILE = "plan.yaml"
TOWNSHIP_MILESTONE = {
    "key": "township_catalog",
    "title": "乡镇（街道）编制本级标准目录",
    "section": "四(一)",
    "fan_out": {"over": ["township", "domain"], "owner": "township"},
    "follows": ["dept_filing"],
}
"""Added after ``catalog`` (and due the same day) when the registry has townships."""


@dataclass(frozen=True)
class SynthFiles:
    """The files ``write_synthetic_plan`` wrote, the task count the plan fans out to, and the
    sizes in words (``"2 个省、21 个市、184 个县"``)."""

    plan: Path
    registry: Path
    expected_tasks: int
    summary: str = ""


def expected_task_count(
    counties: int, cities: int, domains: int = 26, *, provinces: int = 1, townships: int = 0
) -> int:
    """Tasks the copied Jilin milestones (and ``township_catalog`` when ``townships``) give:
    ``2·P·D + C + 3·D·K + K + 2·P + D·T`` (see the module doc)."""
    return (2 * provinces * domains + cities + 3 * domains * counties + counties
            + 2 * provinces + domains * townships)


def default_sizes(provinces: int) -> tuple[int, int]:
    """The national (cities, counties) scaled to ``provinces`` of 31: ``round(333·N/31)``,
    ``round(2850·N/31)``, at least one city per province."""
    cities = max(provinces, round(NATIONAL_CITIES * provinces / len(NATIONAL_PREFIXES)))
    counties = max(cities, round(NATIONAL_COUNTIES * provinces / len(NATIONAL_PREFIXES)))
    return cities, counties


def default_townships(counties: int) -> int:
    """``round(counties·38000/2850)``: the national township-to-county ratio (2,850 → 38,000)."""
    return round(counties * NATIONAL_TOWNSHIPS / NATIONAL_COUNTIES)


def _spread(rng: random.Random, total: int, bins: int, cap: int) -> list[int]:
    """``total`` split into ``bins`` sizes, each 1..``cap``, the rest placed at random
    (caller checks ``bins <= total <= bins·cap``)."""
    sizes = [1] * bins
    for _ in range(total - bins):
        b = rng.randrange(bins)
        while sizes[b] >= cap:
            b = rng.randrange(bins)
        sizes[b] += 1
    return sizes


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


def _township_suffix(nnn: int) -> str:
    """The kind a township code's last three digits give: 001–099 街道, 100–199 镇, else 乡."""
    return "街道" if nnn < 100 else ("镇" if nnn < 200 else "乡")


def _check_sizes(counties: int, cities: int, townships: int) -> None:
    if not cities <= counties <= cities * MAX_COUNTIES_PER_CITY:
        raise PlanError(
            f"县级单位数须在 {cities}–{cities * MAX_COUNTIES_PER_CITY} 之间"
            f"（每市至少 1 个、至多 {MAX_COUNTIES_PER_CITY} 个），现为 {counties}"
        )
    if townships and not counties <= townships <= counties * MAX_TOWNSHIPS_PER_COUNTY:
        raise PlanError(
            f"乡镇（街道）数须在 {counties}–{counties * MAX_TOWNSHIPS_PER_COUNTY} 之间"
            f"（每县至少 1 个、至多 {MAX_TOWNSHIPS_PER_COUNTY} 个），现为 {townships}"
        )


def _township_rows(rng: random.Random, counties: list[str], townships: int) -> list[dict[str, Any]]:
    """``townships`` rows spread over ``counties`` (codes, in order): code = county + nnn."""
    rows: list[dict[str, Any]] = []
    for county, n in zip(counties, _spread(rng, townships, len(counties), MAX_TOWNSHIPS_PER_COUNTY),
                         strict=True):
        for nnn in sorted(rng.sample(range(1, MAX_TOWNSHIPS_PER_COUNTY + 1), n)):
            rows.append({"code": f"{county}{nnn:03d}",
                         "name": f"合成{_township_suffix(nnn)}{len(rows) + 1:06d}", "county": county})
    return rows


def synth_registry(counties: int, cities: int, seed: int, province: int = 90,
                   townships: int = 0) -> dict[str, Any]:
    """The registry file's data (one-province ``RegistrySpec`` shape) of the synthetic province.

    ``province``: the two leading digits ``pp`` (10–99; default 90, a number no real province
    uses). ``townships``: how many (0: none). Raises ``PlanError`` when ``cities`` is not in
    1–99, ``counties`` not in ``cities``–``99·cities``, ``townships`` (if any) not in
    ``counties``–``399·counties``, or ``province`` not in 10–99.
    """
    if not 10 <= province <= 99:
        raise PlanError(f"省级代码前两位须在 10–99 之间，现为 {province}")
    if not 1 <= cities <= MAX_CITIES:
        raise PlanError(f"市（州）数须在 1–{MAX_CITIES} 之间（代码 {province}cc00），现为 {cities}")
    _check_sizes(counties, cities, townships)
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
    data: dict[str, Any] = {
        "province": {"code": f"{pp}0000", "name": PROVINCE_NAME},
        "office": {"code": f"{pp}0000.office", "name": f"{PROVINCE_NAME}政务公开领导小组办公室",
                   "short_name": "省政务公开办", "email": "gk-office@example.org"},
        "departments": departments,
        "domains": jilin["domains"],
        "cities": city_rows,
        "counties": county_rows,
    }
    if townships:
        data["townships"] = _township_rows(rng, [c["code"] for c in county_rows], townships)
    return data


def synth_national_registry(provinces: int, cities: int, counties: int, seed: int,
                            townships: int = 0) -> dict[str, Any]:
    """The registry file's data (multi-province shape) of the first ``provinces`` of
    ``NATIONAL_PREFIXES``, with ``cities`` and ``counties`` in all (and ``townships``, 0: none)
    spread at random from ``seed`` (module doc).

    Raises ``PlanError`` when ``provinces`` is not in 1–31, ``cities`` not in
    ``provinces``–``99·provinces``, ``counties`` not in ``cities``–``99·cities`` or
    ``townships`` (if any) not in ``counties``–``399·counties``.
    """
    if not 1 <= provinces <= len(NATIONAL_PREFIXES):
        raise PlanError(f"省份数须在 1–{len(NATIONAL_PREFIXES)} 之间，现为 {provinces}")
    if not provinces <= cities <= provinces * MAX_CITIES:
        raise PlanError(f"市（州）数须在 {provinces}–{provinces * MAX_CITIES} 之间"
                        f"（每省至少 1 个、至多 {MAX_CITIES} 个），现为 {cities}")
    _check_sizes(counties, cities, townships)
    jilin = read_yaml(DATA_DIR / "jilin-registry.yaml")
    rng = random.Random(seed)
    cities_per = _spread(rng, cities, provinces, MAX_CITIES)
    counties_per = _spread(rng, counties, cities, MAX_COUNTIES_PER_CITY)
    blocks: list[dict[str, Any]] = []
    county_codes: list[str] = []
    n_city = n_county = 0
    for pp, n_cities in zip(NATIONAL_PREFIXES, cities_per, strict=False):
        prov, name = f"{pp}0000", f"{PROVINCE_NAME}{pp}"
        city_rows: list[dict[str, Any]] = []
        county_rows: list[dict[str, Any]] = []
        for ci in range(1, n_cities + 1):
            city_code = f"{pp}{ci:02d}00"
            n_city += 1
            city_rows.append({"code": city_code, "name": f"合成市{n_city:03d}",
                              "short_name": f"合成{n_city:03d}", "email": f"gk-{city_code}@example.org"})
            for xx in sorted(rng.sample(range(1, 100), counties_per[n_city - 1])):
                code = f"{pp}{ci:02d}{xx:02d}"
                n_county += 1
                county_rows.append({"code": code, "name": f"合成{_county_suffix(xx)}{n_county:05d}",
                                    "city": city_code, "email": f"gk-{code}@example.org"})
        county_codes += [c["code"] for c in county_rows]
        blocks.append({
            "province": {"code": prov, "name": name},
            "office": {"code": f"{prov}.office", "name": f"{name}政务公开领导小组办公室",
                       "short_name": "省政务公开办", "email": f"gk-{prov}-office@example.org"},
            "departments": [
                {**{k: (v.replace("吉林省", name) if isinstance(v, str) else v) for k, v in d.items()},
                 "email": f"gk-{prov}-{d['key']}@example.org"}
                for d in jilin["departments"]
            ],
            "cities": city_rows,
            "counties": county_rows,
        })
    if townships:
        rows = _township_rows(rng, county_codes, townships)
        by_prov: dict[str, list[dict[str, Any]]] = {}
        for t in rows:
            by_prov.setdefault(t["code"][:2], []).append(t)
        for block in blocks:
            block["townships"] = by_prov.get(block["province"]["code"][:2], [])
    return {"domains": jilin["domains"], "provinces": blocks}


def synth_plan(counties: int, cities: int, registry_file: str = REGISTRY_FILE, *,
               provinces: int = 0, townships: int = 0) -> dict[str, Any]:
    """The plan file's data: the bundled plan's timezone, policy and milestones (same due days)
    under the key ``synth``, naming ``registry_file`` (relative to the plan's folder); with
    ``townships``, plus ``township_catalog`` after ``catalog``, due the same day.
    ``provinces``: only for the title (0: the one-province synthetic data)."""
    jilin = read_yaml(BUNDLED_PLAN)
    where = _summary(counties, cities, provinces, townships)
    name = "全国合成数据" if provinces else PROVINCE_NAME
    plan: dict[str, Any] = {
        "key": "synth",
        "title": f"{name}基层政务公开标准化规范化工作实施方案（合成数据：{where}）",
        "issued_on": jilin.get("issued_on"),
        "registry": registry_file,
        "timezone": jilin.get("timezone", "Asia/Shanghai"),
    }
    for key in ("policy", "scoring", "acceptance_correction_working_days"):
        if key in jilin:
            plan[key] = jilin[key]
    milestones = []
    for m in jilin["milestones"]:
        milestones.append(m)
        if townships and m["key"] == "catalog":
            milestones.append({**TOWNSHIP_MILESTONE, "due": m["due"]})
    plan["milestones"] = milestones
    return plan


def _summary(counties: int, cities: int, provinces: int, townships: int) -> str:
    where = (f"{provinces} 个省、" if provinces else "") + f"{cities} 个市、{counties} 个县"
    return where + (f"、{townships} 个乡镇（街道）" if townships else "")


def _json_lines(value: Any) -> str:
    """JSON with one unit per line: lists of objects are broken into lines, the rest compact."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(_json_lines(v) for v in value) + "\n]"
    if isinstance(value, dict) and any(isinstance(v, list) for v in value.values()):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json_lines(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _dump(data: dict[str, Any], header: str) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 38,000 townships in ~1 s
    body = yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=200)
    return header + body


def write_synthetic_plan(
    out: Path, *, counties: int | None = None, cities: int | None = None, seed: int,
    province: int = 90, provinces: int | None = None, townships: bool | int = False,
) -> SynthFiles:
    """Write ``registry.yaml`` and ``plan.yaml`` into folder ``out`` (created if missing; files
    overwritten). Deterministic: same arguments, same bytes.

    ``provinces`` None: one synthetic province ``province``, ``counties`` (default 2,850) in
    ``cities`` (default 99). ``provinces`` N: the first N real province prefixes,
    ``cities``/``counties`` totals (default ``default_sizes(N)``). ``townships``: False (none),
    True (``default_townships(counties)``) or a count. Raises ``PlanError`` for out-of-range
    sizes (see ``synth_registry`` / ``synth_national_registry``) or when ``out`` exists and is
    not a folder; nothing is written then.
    """
    if out.exists() and not out.is_dir():
        raise PlanError(f"{out}: 不是文件夹")
    if provinces is None:
        cities = 99 if cities is None else cities
        counties = 2850 if counties is None else counties
    else:
        dc, dk = default_sizes(provinces) if 1 <= provinces <= len(NATIONAL_PREFIXES) else (1, 1)
        cities = dc if cities is None else cities
        counties = dk if counties is None else counties
    n_town = (default_townships(counties) if townships is True else int(townships)) if townships else 0
    if provinces is None:
        registry = synth_registry(counties, cities, seed, province, n_town)
        args = f"--counties {counties} --cities {cities} --seed {seed} --province {province}"
    else:
        registry = synth_national_registry(provinces, cities, counties, seed, n_town)
        args = f"--provinces {provinces} --cities {cities} --counties {counties} --seed {seed}"
    if n_town:
        args += f" --townships --township-count {n_town}"
    plan = synth_plan(counties, cities, provinces=provinces or 0, townships=n_town)
    header = f"# 合成数据（rollout plans synth {args}），仅供性能测试，非真实机构。\n"
    out.mkdir(parents=True, exist_ok=True)
    reg_path, plan_path = out / REGISTRY_FILE, out / PLAN_FILE
    reg_text = (header + _json_lines(registry) + "\n") if provinces is not None else _dump(registry, header)
    reg_path.write_text(reg_text, encoding="utf-8")
    plan_path.write_text(_dump(plan, header), encoding="utf-8")
    return SynthFiles(plan_path, reg_path,
                      expected_task_count(counties, cities, len(registry["domains"]),
                                          provinces=provinces or 1, townships=n_town),
                      _summary(counties, cities, provinces or 0, n_town))
