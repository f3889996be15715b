"""``rollout plans synth``: write a synthetic registry and plan (one province or up to 31)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.base import app, out
from rollout.plans.synth import MAX_CITIES, NATIONAL_PREFIXES, write_synthetic_plan

plans_app = typer.Typer(help="计划文件工具：生成合成数据（性能测试用）", no_args_is_help=True)
app.add_typer(plans_app, name="plans")


@plans_app.command("synth")
def plans_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="输出文件夹（写入 plan.yaml 与 registry.yaml）")],
    counties: Annotated[int | None, typer.Option(
        "--counties", help="县级单位数（合计）；默认单省 2850，多省按全国 2850 个的 N/31")] = None,
    cities: Annotated[int | None, typer.Option(
        "--cities", help=f"市（州）数（合计）；默认单省 99（至多 {MAX_CITIES}），多省按全国 333 个的 N/31")] = None,
    seed: Annotated[int, typer.Option("--seed", help="随机种子（相同参数生成相同文件）")] = 1,
    province: Annotated[int, typer.Option("--province", help="单省模式的省级代码前两位（10–99）")] = 90,
    provinces: Annotated[int | None, typer.Option(
        "--provinces", help=f"多省模式：取真实省级代码前两位的前 N 个（1–{len(NATIONAL_PREFIXES)}）")] = None,
    townships: Annotated[bool, typer.Option(
        "--townships", help="加入乡镇（街道）及其标准目录进度节点（全国约 38000 个）")] = False,
    township_count: Annotated[int | None, typer.Option(
        "--township-count", help="乡镇（街道）数（合计），默认按每 2850 个县 38000 个")] = None,
) -> None:
    """生成合成机构名录与实施方案（同吉林方案的进度节点与截止日），供性能测试。

    例：rollout plans synth --provinces 31 --townships --out DIR（全国：31 个省、约 121.5 万个任务）。
    """
    files = write_synthetic_plan(
        out_dir, counties=counties, cities=cities, seed=seed, province=province,
        provinces=provinces, townships=township_count if township_count is not None else townships,
    )
    out.print(f"已生成 {files.plan} 与 {files.registry}：{files.summary}，"
              f"载入后共 {files.expected_tasks} 个任务（rollout init --plan {files.plan}）",
              markup=False, highlight=False)
