"""``rollout flow review`` and ``rollout flow accept``: the city review packets (复核, plan §四(三))
and the provincial acceptance (验收, §四(四)) as Prefect flow runs from the shell.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rollout.catalogs.review import STATUS_LABELS
from rollout.cli.base import DbOption, Format, flow_app, now_local, out, parse_at
from rollout.flows.acceptance import accept_catalogs
from rollout.flows.review import review_city
from rollout.settings import get_settings

AsOfOption = Annotated[str | None, typer.Option("--as-of", help="运行时点，ISO 时间，默认现在")]


@flow_app.command("review")
def flow_review(
    city: Annotated[str, typer.Option("--city", help="市（州）：代码或名称，如 220100 或 长春市")],
    as_of: AsOfOption = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """生成复核材料（Prefect 流程）：每个县（市、区）26个领域目录的报送与检查情况、待整改问题、版本变化。"""
    url = database or get_settings().database_url
    when = parse_at(as_of) if as_of else now_local()
    result = review_city(city, database_url=url, as_of=when.isoformat())
    if fmt == Format.json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    table = Table("县（市、区）", "检查通过", "未报送", "待整改问题", "有变化的领域", "可签署")
    for p in result["packets"]:
        changed = "、".join(c["domain"] for c in p["detail"]["changes"]) or "—"
        table.add_row(p["county_code"], f"{p['domains_clean']}/{p['domains_total']}",
                      str(p["domains_missing"]), str(p["open_findings"]), changed,
                      "是" if p["complete"] else "否")
    out.print(table)
    out.print(f"{result['city']}：{result['counties']} 个县（市、区），齐全且检查通过 {result['complete']} 个"
              f"（领域状态：{'、'.join(STATUS_LABELS.values())}）")


@flow_app.command("accept")
def flow_accept(
    county: Annotated[str | None, typer.Option("--county", help="一个县（市、区）：代码或名称")] = None,
    city: Annotated[str | None, typer.Option("--city", help="一个市（州）的全部县：代码或名称")] = None,
    all_counties: Annotated[bool, typer.Option("--all", help="全部县（市、区）")] = False,
    service_list: Annotated[Path | None, typer.Option("--service-list", help="政务服务事项清单（CSV/YAML）")] = None,
    as_of: AsOfOption = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """验收（Prefect 流程）：复查已提交验收的目录名称和要素，有问题的退回改正并给出新的期限，无问题的验收通过。"""
    url = database or get_settings().database_url
    when = parse_at(as_of) if as_of else now_local()
    result = accept_catalogs(county=county, city=city, all=all_counties, database_url=url,
                             as_of=when.isoformat(),
                             service_list=str(service_list) if service_list else None)
    if fmt == Format.json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    table = Table("县（市、区）", "领域", "版本", "结果", "改正期限", "问题")
    for o in result["outcomes"]:
        table.add_row(o["county_code"], o["domain_key"], str(o["version"] or "—"),
                      "验收通过" if o["action"] == "accepted" else "退回改正", o["new_due_on"] or "",
                      "；".join(o["findings"][:3]))
    out.print(table)
    for r in result["reports"]:
        out.print(f"{r['city_name']}：验收通过 {r['accepted']}，退回改正 {r['returned']}，待验收 {r['submitted']}，"
                  f"未提交 {r['not_submitted']}（共 {r['tasks']} 个）")
    out.print(f"检查 {result['checked']} 个目录：通过 {result['accepted']} 个，退回改正 {result['returned']} 个"
              f"（改正期限 {result['correction_working_days']} 个工作日）")
