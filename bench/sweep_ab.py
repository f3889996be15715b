"""Benchmark: the same day's sweep on PostgreSQL by two versions of rollout, alternated, on copies
of one database; prints each run and the ratio. Run by hand (never in the test suite):

    .venv/bin/python bench/sweep_ab.py --old REV [--size 1m] [--rounds 3] [--workers 2]
        [--keep-template] [--flow]

Why: the machines are shared and noisy (the same sweep took 3.4 to 4.5 s within ten minutes),
so a change to the sweep is judged by runs of the old and the new code taken turn about on the
same data, not by numbers from different hours.

Data (untimed, once): ``rollout plans synth`` as ``bench/run.py`` makes it for ``--size``
(``1m``: 31 provinces with townships, 1,215,157 tasks), loaded by the OLD version into a
template database on ``ROLLOUT_BENCH_POSTGRES_URL``, then brought to "as of the day" as
``bench/run.py`` does (``phases.phase_days`` picks the day nearest 5 % due, ``phase_prepare``
accepts what was due before it and sweeps the day before). Each run: ``CREATE DATABASE …
TEMPLATE``, migrate with the run's own version (so the new version's migrations apply), VACUUM
ANALYZE, CHECKPOINT, then ``rollout.sweep.sweep_all`` as of the day's send time with
``--workers`` batches at once, timed with ``perf_counter`` (wall) and ``process_time`` (the
sweep process's CPU: the database's own CPU is not in it); with ``--flow``, the Prefect flow
``sweep-deadlines`` instead (one task run per province, ``PROVINCE_WORKERS`` at once; Prefect's
local API started before the clock), in a child process whose
``PYTHONPATH`` is a git worktree of ``--old`` or this checkout. Each run must advance the same
number of tasks and write the same rows, or the script stops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import phases
import run
import sqlalchemy as sa
from sink import PG_URL

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def child(args: argparse.Namespace) -> None:
    """Child mode: migrate the copy ``--url``, sweep it as of ``--at``, print one JSON line."""
    from datetime import datetime

    from rollout import db
    from rollout.calendar import WorkingCalendar
    from rollout.sweep import sweep_all

    engine = db.get_engine(args.url)
    db.migrate(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
        conn.exec_driver_sql("CHECKPOINT")
    at, cal = datetime.fromisoformat(args.at), WorkingCalendar()
    if args.flow:
        from prefect import flow

        from rollout.flows.deadlines import sweep_deadlines

        flow(name="warm-up")(lambda: None)()  # starts Prefect's local API: not timed
        t, cpu = time.perf_counter(), time.process_time()
        result = sweep_deadlines(as_of=args.at, database_url=args.url)
        tasks, rows = result["tasks"], result["created"] + result["skipped"]
    else:
        t, cpu = time.perf_counter(), time.process_time()
        report = sweep_all(lambda: db.unit_of_work(engine), at, cal, workers=args.workers)
        tasks, rows = report.tasks, report.created + report.skipped
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    engine.dispose()
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_mib": phases.peak_mib(),
                      "tasks": tasks, "rows": rows}))


def admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def url_of(name: str) -> str:
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def in_version(code: str, *argv: str) -> str:
    """Run this script's child mode (or ``python -c``) with ``code`` first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([code, str(HERE)])}
    p = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=code)
    if p.returncode != 0:
        raise SystemExit(f"失败：{' '.join(argv)[:120]}\n{p.stderr[-4000:]}")
    return p.stdout


def build_template(name: str, size: str, old: str, work: Path) -> dict:
    """Synth, load with the old version, prepare the day; returns the day from phase_days."""
    plan, opts = run.synth(size, work / "plan")
    print(f"数据：rollout plans synth {opts}", flush=True)
    with admin().connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = url_of(name)
    script = (
        "import json, sys; from datetime import date; from pathlib import Path; import phases; "
        f"i = phases.phase_init({url!r}, Path({str(plan)!r})); "
        f"d = phases.phase_days({url!r}, 0.05); "
        "p = phases.phase_prepare(" + repr(url) + ", date.fromisoformat(d['typical']['day'])); "
        "print(json.dumps({'tasks': i['tasks'], 'day': d['typical']}))"
    )
    t = time.perf_counter()
    out = json.loads(in_version(old, "-c", script).strip().splitlines()[-1])
    print(f"模板 {name}：{out['tasks']:,} 个任务，{out['day']['day']} 应办 {out['day']['due']:,}"
          f"（{time.perf_counter() - t:.0f} s，未计时）", flush=True)
    return out


def one_run(side: str, code: str, template: str, at: str, workers: int, flow: bool) -> dict:
    name = f"rollout_ab_{uuid.uuid4().hex[:8]}"
    with admin().connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        out = in_version(code, str(Path(__file__).resolve()), "--child", "--url", url_of(name),
                         "--at", at, "--workers", str(workers), *(["--flow"] if flow else []))
        return {"side": side, **json.loads(out.strip().splitlines()[-1])}
    finally:
        with admin().connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", help="git 版本（提交、分支或标签），与当前检出对比")
    ap.add_argument("--size", default="1m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep-template", action="store_true", help="保留模板库（下次用 --template）")
    ap.add_argument("--flow", action="store_true",
                    help="计时 Prefect 流程 sweep-deadlines（按省分片，本地模式），而非 sweep_all")
    ap.add_argument("--template", help="已有的模板库名（跳过建库）及其日 --at")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--at", help="--template 时的清扫时点（ISO）")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if not args.old:
        raise SystemExit("需要 --old REV")
    if args.rounds < 1 or args.workers < 1:
        raise SystemExit("--rounds 与 --workers 须 >= 1")
    print(run.machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="rollout-ab-") as tmp:
        work = Path(tmp)
        old = work / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(old),
                        args.old], check=True)
        template = args.template or f"rollout_ab_tpl_{uuid.uuid4().hex[:8]}"
        try:
            if args.template:
                if not args.at:
                    raise SystemExit("--template 需要同时给出 --at")
                at = args.at
            else:
                at = build_template(template, args.size, str(old), work)["day"]["at"]
            results = []
            for r in range(args.rounds):
                for side, code in (("old", str(old)), ("new", str(REPO))):
                    res = one_run(side, code, template, at, args.workers, args.flow)
                    results.append(res)
                    print(f"第 {r + 1} 轮 {side}：墙钟 {res['wall_s']:.2f} s，进程 CPU "
                          f"{res['cpu_s']:.2f} s，峰值 {res['peak_mib']:.0f} MiB，推进 "
                          f"{res['tasks']:,} 个任务，写 {res['rows']:,} 行", flush=True)
            if len({(x["tasks"], x["rows"]) for x in results}) != 1:
                raise SystemExit("两个版本推进的任务或写入的行不同：结果不可比")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)],
                           check=False)
            if not args.template and not args.keep_template:
                with admin().connect() as c:
                    c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            elif not args.template:
                print(f"模板保留：--template {template} --at {at}")
    how = "Prefect 流程按省分片" if args.flow else f"每次 {args.workers} 批并行"
    print(f"\n清扫 {at}，{how}，{args.rounds} 轮交替（旧 = {args.old}，新 = 当前检出）：")
    for key, label in (("wall_s", "墙钟 s"), ("cpu_s", "进程 CPU s"), ("peak_mib", "峰值 MiB")):
        o = [x[key] for x in results if x["side"] == "old"]
        n = [x[key] for x in results if x["side"] == "new"]
        print(f"  {label}: 旧 {min(o):.2f}-{max(o):.2f}（中位 {statistics.median(o):.2f}），"
              f"新 {min(n):.2f}-{max(n):.2f}（中位 {statistics.median(n):.2f}），"
              f"新/旧 中位 {statistics.median(n) / statistics.median(o):.2f}")


if __name__ == "__main__":
    main()
