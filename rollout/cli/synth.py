"""``rollout plans synth``: write a synthetic province's registry and plan files (benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.base import app, out
from rollout.plans.synth import MAX_CITIES, write_synthetic_plan

plans_app = typer.Typer(help="计划文件工具：生成合成数据（性能测试用）", no_args_is_help=True)
app.add_typer(plans_app, name="plans")


@plans_app.command("synth")
def plans_synth(
    out_dir: Annotated[Path, typer.Option("--out", help="输出文件夹（写入 plan.yaml 与 registry.yaml）")],
    counties: Annotated[int, typer.Option("--counties", help="县级单位数")] = 2850,
    cities: Annotated[int, typer.Option("--cities", help=f"市（州）数，至多 {MAX_CITIES}")] = 99,
    seed: Annotated[int, typer.Option("--seed", help="随机种子（相同参数生成相同文件）")] = 1,
    province: Annotated[int, typer.Option("--province", help="省级代码前两位（10–99）")] = 90,
) -> None:
    """生成一个合成省份的机构名录与实施方案（同吉林方案的进度节点与截止日），供性能测试。"""
    files = write_synthetic_plan(out_dir, counties=counties, cities=cities, seed=seed,
                                 province=province)
    out.print(f"已生成 {files.plan} 与 {files.registry}：{cities} 个市、{counties} 个县，"
              f"载入后共 {files.expected_tasks} 个任务（rollout init --plan {files.plan}）",
              markup=False, highlight=False)
