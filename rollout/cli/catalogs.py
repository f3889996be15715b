"""``rollout catalog import|export`` and ``rollout flow compile``: disclosure-item catalogs from
the shell (plan §三(一), §四(一)).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from rollout import db
from rollout.catalogs.compile import counties_in_scope
from rollout.catalogs.store import export_catalog, import_catalog
from rollout.cli.base import DbOption, Format, app, engine_for, flow_app, now_local, out, parse_at
from rollout.errors import CatalogImportError
from rollout.flows.compile import compile_catalogs, progress_listener
from rollout.settings import get_settings

catalog_app = typer.Typer(help="公开事项标准目录：导入、导出", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

CountyOption = Annotated[str, typer.Option("--county", help="县（市、区）：代码或名称，如 220102 或 南关区")]
DomainOption = Annotated[str, typer.Option("--domain", help="领域：代码或中文名，如 social_assistance 或 社会救助")]


class FileFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), console=out, transient=True)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="目录文件（.xlsx 或 .csv，国家标准指引表样）")],
    county: CountyOption,
    domain: DomainOption,
    person: Annotated[str, typer.Option("--by", help="经办人")] = "cli",
    at: Annotated[str | None, typer.Option("--at", help="导入时间（模拟用），默认现在")] = None,
    database: DbOption = None,
) -> None:
    """导入一个县（市、区）一个领域的公开事项目录，作为新的一版（整份文件要么全部导入，要么不导入）。"""
    when = parse_at(at) if at else now_local()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CatalogImportError(f"无法读取文件 {file}：{exc.strerror or exc}") from exc
    with _spinner() as progress:
        progress.add_task(f"正在导入 {file.name} …", total=None)
        with db.unit_of_work(engine_for(database)) as session:
            result = import_catalog(session, county, domain, file.name, data, now=when, actor=person)
    v, t = result.version, result.table
    out.print(f"已导入第 {v.number} 版：{v.item_count} 项（工作表「{t.sheet}」，表头第 {t.header_row} 行）")
    if t.notes:
        out.print(f"表尾说明 {len(t.notes)} 行未作为事项导入：{t.notes[0][:60]}")


@catalog_app.command("export")
def catalog_export(
    county: CountyOption,
    domain: DomainOption,
    fmt: Annotated[FileFormat, typer.Option("--format", help="xlsx 或 csv")] = FileFormat.xlsx,
    out_file: Annotated[Path | None, typer.Option("--out", help="输出文件，默认 <县代码>-<领域>-v<版本>.<格式>")] = None,
    version: Annotated[int | None, typer.Option("--version", help="版本号，默认最新一版")] = None,
    database: DbOption = None,
) -> None:
    """按国家标准指引表样导出目录（XLSX 两行合并表头；CSV 为带 BOM 的 UTF-8）。"""
    with db.read_session(engine_for(database)) as session:
        name, data = export_catalog(session, county, domain, fmt.value, version)
    target = out_file or Path(name)
    target.write_bytes(data)
    out.print(f"已导出 {target}（{len(data)} 字节）")


@flow_app.command("compile")
def flow_compile(
    county: Annotated[str | None, typer.Option("--county", help="一个县（市、区）：代码或名称")] = None,
    city: Annotated[str | None, typer.Option("--city", help="一个市（州）的全部县：代码或名称，如 220100")] = None,
    all_counties: Annotated[bool, typer.Option("--all", help="全部县（市、区）")] = False,
    service_list: Annotated[Path | None, typer.Option("--service-list", help="政务服务事项清单（CSV/YAML）")] = None,
    force: Annotated[bool, typer.Option("--force", help="已检查过的版本也重新检查")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="检查时点，ISO 时间，默认现在")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """编目检查（Prefect 流程）：检查要素、对照标准指引查缺项，通过的目录提交复核。"""
    url = database or get_settings().database_url
    when = parse_at(as_of) if as_of else now_local()
    with db.read_session(engine_for(url)) as session:
        codes = counties_in_scope(session, county, city, all_counties)
    progress = Progress(TextColumn("编目检查"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.description}"), console=out, transient=True)
    with progress, progress_listener(lambda code, _done: progress.advance(bar, 1)):
        bar = progress.add_task("", total=len(codes))
        result = compile_catalogs(
            county=county, city=city, all=all_counties, database_url=url,
            as_of=when.isoformat(), service_list=str(service_list) if service_list else None,
            force=force,
        )
    if fmt == Format.json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    table = Table("县（市、区）", "领域", "版本", "问题", "增列", "任务")
    labels = {"submitted": "已提交复核", "left_open": "待整改", "unchanged": "未变化",
              "already_delivered": "已提交", "no_task": "无任务", "waiting": "等待前置任务"}
    for o in result["outcomes"]:
        table.add_row(o["county_code"], o["domain_key"], str(o["version"]), str(o["blocking"]),
                      str(o["extra"]), labels.get(o["task_action"], o["task_action"]))
    out.print(table)
    out.print(f"{result['counties']} 个县（市、区），{result['catalogs']} 个目录：提交 {result['submitted']} 个，"
              f"待整改 {result['left_open']} 个，未变化 {result['unchanged']} 个")
