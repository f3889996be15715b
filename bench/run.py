"""Benchmark, one command: init, one day's sweep, dispatch, dashboard and peak memory per backend
and size, and (``--peers``) SpiffWorkflow and one-Prefect-task-per-tracked-task on the same
workload, with the ratios (issue 6, item 4). Run by hand, never in the test suite:

    .venv/bin/python bench/run.py [--sizes 230k,1m] [--backends sqlite,postgresql] [--peers]

Peers need the bench extra: ``.venv/bin/pip install -e '.[bench]'``.

Data. Per size, ``rollout plans synth`` writes a plan: ``230k`` is ``--provinces 31`` and ``1m``
``--provinces 31 --townships`` when the CLI has those options; otherwise (and for any other size,
e.g. ``20k``) one synthetic province with the county count giving about that many tasks
(``--counties`` at most 9,801: about 774k tasks); the output says which.

Per backend (SQLite: a file in a temp folder; PostgreSQL: a scratch database on
``ROLLOUT_BENCH_POSTGRES_URL``, created and dropped), each phase runs in its own child process,
so its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss`` at the end of the phase) is its own; the
RSS after imports (``/proc/self/status`` VmRSS) is printed beside it as the base. Phases
(``bench/phases.py``), timed with ``perf_counter`` (wall clock):

1. init: ``rollout.plans.fanout.instantiate_plan`` in one unit of work (after ``migrate``,
   untimed), as ``rollout init`` does.
2. days (untimed): tasks of one milestone with one due day share their schedule, so the tasks
   are counted per (milestone, due day) from the database and each group's reminder days
   worked out with its policy, giving the tasks due per day if everyone finishes on time. The
   day D ("day") is the reminder day whose count is nearest ``--due-share`` (default 5 %) of
   all tasks (nearest by ratio); the "peak day" is the first day of the largest wave (the
   earliest with >= 90 % of the largest count), swept only with ``--peak-day`` (with townships
   that day holds ~87 % of all tasks). The days are printed with their counts and every
   reminder day's share.
3. per sweep day, in date order: prepare (untimed) the state "as of D": tasks due before D
   accepted (on time; one UPDATE, not through the state machine), then a sweep as of the end
   of D−1 (earlier notices exist), then VACUUM ANALYZE (the mass UPDATE's dead rows, which a
   real year's trickle of changes and autovacuum never leave); then sweep: ``rollout.sweep.sweep_all`` as of D at the policy's
   send time, one unit of work per batch of ``--sweep-batch``, as the Prefect flow does; the
   output says whether it advanced exactly the tasks counted in 2. µs per tracked task per day
   = D's sweep time / all tasks in the database.
4. dispatch, on the last sweep day: ``--digests`` pending rows (reminders of open tasks) to as
   many addresses are added (untimed) to that day's rows; then
   ``rollout.notifications.dispatch.dispatch`` at 09:05 (building all of the day's digests,
   then claiming ``--dispatch-batch`` at a time over ``DispatchConfig.connections`` SMTP
   connections (default 8) to an aiosmtpd
   ``Sink`` in another process, rate limit off), stopped after ``--digests`` digests; digests
   sent per s.
5. dashboard: ``rollout.progress.plan_progress`` of the plan as of that day 18:00, one warm-up
   call then the median of ``--dashboard-repeats``.

Peers (``bench/peers/``, each in its own child process): ``spiffworkflow_peer`` and
``prefect_peer``; their docstrings say exactly what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path

import phases  # bench/phases.py and bench/sink.py: the script's folder
from sink import free_port, scratch_postgres, start_sink

from rollout.notifications.dispatch import DispatchConfig
from rollout.sweep import DEFAULT_BATCH_SIZE

DISPATCH_BATCH = next(f.default for f in fields(DispatchConfig) if f.name == "batch_size")

# -- child side: one phase per process ------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Child-process mode: run one phase, write its JSON (with ``peak_mib``) to ``--out``."""
    if args.phase == "init":
        res = phases.phase_init(args.url, Path(args.plan))
    elif args.phase == "days":
        res = phases.phase_days(args.url, args.due_share)
    elif args.phase == "prepare":
        res = phases.phase_prepare(args.url, date.fromisoformat(args.at))
    elif args.phase == "sweep":
        res = phases.phase_sweep(args.url, datetime.fromisoformat(args.at), args.sweep_batch)
    elif args.phase == "dispatch":
        res = phases.phase_dispatch(args.url, date.fromisoformat(args.at), args.port, args.digests,
                             args.dispatch_batch)
    elif args.phase == "dashboard":
        res = phases.phase_dashboard(args.url, date.fromisoformat(args.at), args.dashboard_repeats)
    elif args.phase == "spiff":
        res = phases.phase_spiff(args.spiff_instances, args.due_share)
    else:
        res = phases.phase_prefect(args.prefect_tasks)
    res["peak_mib"] = phases.peak_mib()
    Path(args.out).write_text(json.dumps(res), encoding="utf-8")


# -- parent side ----------------------------------------------------------------------------


def spawn(phase: str, args: argparse.Namespace, work: Path, env: dict | None = None,
          tag: str = "", **extra: object) -> dict:
    """Run ``phase`` in a child process; returns its JSON. The child's output goes to a log
    file in ``work`` named after ``phase`` and ``tag`` (printed, and ``SystemExit`` raised, if
    the child fails)."""
    out, log = work / f"{phase}{tag}.json", work / f"{phase}{tag}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--out", str(out),
           "--due-share", str(args.due_share), "--sweep-batch", str(args.sweep_batch),
           "--dispatch-batch", str(args.dispatch_batch), "--digests", str(args.digests),
           "--dashboard-repeats", str(args.dashboard_repeats),
           "--spiff-instances", str(args.spiff_instances),
           "--prefect-tasks", str(args.prefect_tasks)]
    if args.peak_day:
        cmd.append("--peak-day")
    for k, v in extra.items():
        cmd += [f"--{k}", str(v)]
    with log.open("w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        print(log.read_text(encoding="utf-8", errors="replace")[-6000:], file=sys.stderr)
        raise SystemExit(f"阶段 {phase} 失败（退出码 {rc}）")
    return json.loads(out.read_text(encoding="utf-8"))


def parse_size(text: str) -> int:
    """``230k`` -> 230000, ``1m`` -> 1000000, ``5000`` -> 5000."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text.strip().lower())
    if not m:
        raise SystemExit(f"无法识别的规模 {text!r}（例如 20k、230k、1m）")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)])


def synth(size: str, out: Path) -> tuple[Path, str]:
    """Write the plan for ``size`` with ``rollout plans synth``; returns the plan file and the
    options used (and a fallback note)."""
    help_text = subprocess.run([sys.executable, "-m", "rollout", "plans", "synth", "--help"],
                               capture_output=True, text=True, check=True).stdout
    target = parse_size(size)
    if size.lower() == "230k" and "--provinces" in help_text:
        opts, note = ["--provinces", "31"], ""
    elif size.lower() == "1m" and "--provinces" in help_text and "--townships" in help_text:
        opts, note = ["--provinces", "31", "--townships"], ""
    else:
        # One province: tasks = 79·counties + cities + 54 (rollout.plans.synth); 2,850 counties
        # in 99 cities is the real ratio (about 29 a city).
        counties = max(1, min(99 * 99, round((target - 54) / (79 + 1 / 29))))
        cities = max(1, min(99, round(counties / 29)))
        counties = max(counties, cities)
        opts = ["--counties", str(counties), "--cities", str(cities)]
        note = ("" if size.lower() not in ("230k", "1m") else
                "（synth 尚无 --provinces/--townships，改用单省合成数据）")
    subprocess.run([sys.executable, "-m", "rollout", "plans", "synth", "--out", str(out), *opts],
                   check=True, capture_output=True)
    return out / "plan.yaml", " ".join(opts) + note


@contextmanager
def database(backend: str, work: Path):
    """A fresh, empty database of ``backend``; yields its URL."""
    if backend == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
    elif backend == "postgresql":
        with scratch_postgres() as url:
            yield url
    else:
        raise SystemExit(f"未知的数据库 {backend!r}（sqlite、postgresql）")


def run_backend(backend: str, plan: Path, port: int, args: argparse.Namespace, work: Path) -> dict:
    """The phases on a fresh database of ``backend``: init, the sweep days in date order
    (prepare, sweep), then dispatch and dashboard as of the last of them."""
    res: dict = {"backend": backend}
    with database(backend, work) as url:
        res["init"] = spawn("init", args, work, url=url, plan=plan)
        res["days"] = days = spawn("days", args, work, url=url)
        names = ["typical"] + (["peak"] if args.peak_day and days["peak"] != days["typical"] else [])
        last = None
        for name in sorted(names, key=lambda n: days[n]["day"]):
            day = days[name]
            res[f"prepare_{name}"] = spawn("prepare", args, work, tag=f"-{name}", url=url,
                                           at=day["day"])
            res[f"sweep_{name}"] = spawn("sweep", args, work, tag=f"-{name}", url=url,
                                         at=day["at"])
            last = day["day"]
        res["dispatch"] = spawn("dispatch", args, work, url=url, at=last, port=port)
        res["dashboard"] = spawn("dashboard", args, work, url=url, at=last)
        res["dispatch_day"] = last
        if backend == "postgresql":
            import sqlalchemy as sa

            engine = sa.create_engine(url)
            with engine.connect() as c:
                res["server"] = c.execute(sa.text("SHOW server_version")).scalar()
            engine.dispose()
    return res


def machine() -> str:
    """CPU model, cores, load (``uptime``), Python, SQLite."""
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return (f"机器：{model}，{os.cpu_count()} 核；Python {platform.python_version()}，"
            f"SQLite {sqlite3.sqlite_version}\nuptime：{uptime}")


def print_table(heads: tuple[str, ...], lines: list[tuple[str, ...]]) -> None:
    widths = [max(len(x) for x in col) for col in zip(heads, *lines, strict=True)]
    for line in (heads, *lines):
        print("  ".join(v.ljust(w) if i < 2 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(line, widths, strict=True))))


def us_per_task_day(r: dict, name: str = "typical") -> float:
    """Sweep time of day ``name`` per tracked task in the database, µs."""
    return r[f"sweep_{name}"]["sweep_s"] / r["init"]["tasks"] * 1e6


def _day_cell(r: dict, name: str) -> tuple[str, str, str, str]:
    if f"sweep_{name}" not in r:
        return "-", "-", "-", "-"
    d, sw, n = r["days"][name], r[f"sweep_{name}"], r["init"]["tasks"]
    return (d["day"], f"{d['due']:,} ({d['due'] / n:.1%})", f"{sw['sweep_s']:.2f}",
            f"{sw['peak_mib']:.0f}")


def report(results: list[dict], peers: dict, args: argparse.Namespace) -> None:
    """Print the table, the details and (with peers) the ratios."""
    heads = ("size", "backend", "tasks", "init s", "day", "due (share)", "sweep s",
             "µs/task·day", "peak day", "due (share)", "sweep s", "digests", "digests/s",
             "dashboard ms", "peak MiB: init/sweep/peak-day sweep/dispatch/dashboard (base)")
    lines = []
    for r in results:
        i, d, b = r["init"], r["dispatch"], r["dashboard"]
        typ, peak = _day_cell(r, "typical"), _day_cell(r, "peak")
        lines.append((
            r["size"], r["backend"], f"{i['tasks']:,}", f"{i['init_s']:.1f}", *typ[:3],
            f"{us_per_task_day(r):.2f}", *peak[:3], f"{d['sent']:,}",
            f"{d['sent'] / d['dispatch_s']:,.0f}", f"{b['dashboard_ms']:.1f}",
            f"{i['peak_mib']:.0f}/{typ[3]}/{peak[3]}/{d['peak_mib']:.0f}/{b['peak_mib']:.0f}"
            f" ({min(x['base_mib'] for x in (i, d, b)):.0f})",
        ))
    print_table(heads, lines)
    print("(day: the reminder day whose due share is nearest the --due-share target; peak day: the"
          " first day of the largest wave (>= 90 % of the most due on one day); peak MiB: ru_maxrss of each phase's own child"
          " process, base: its RSS after imports)")
    for r in results:
        print(f"- {r['size']} {r['backend']}: synth {r['synth']}"
              + (f"; PostgreSQL {r['server']}" if "server" in r else ""))
        print(f"  reminder days' due shares: {', '.join(f'{x:.2%}' for x in r['days']['shares'])}")
        for name in ("typical", "peak"):
            if f"sweep_{name}" not in r:
                continue
            day, sw, pr = r["days"][name], r[f"sweep_{name}"], r[f"prepare_{name}"]
            check = "= counted" if sw["swept"] == day["due"] else f"!= {day['due']:,} counted"
            print(f"  {name} sweep as of {day['at']}: {sw['swept']:,} tasks advanced ({check}), "
                  f"{sw['created']:,} pending + {sw['skipped']:,} skipped rows, {sw['batches']} "
                  f"batches of {args.sweep_batch}; before it (untimed): {pr['accepted_before']:,} "
                  f"tasks due earlier set accepted, catch-up sweep to the day before wrote "
                  f"{pr['catch_up_rows']:,} rows in {pr['catch_up_s']:.1f} s")
        d, b = r["dispatch"], r["dashboard"]
        print(f"  dispatch on {r['dispatch_day']}: {d['built']:,} digests built, {d['sent']:,} sent "
              f"in {d['dispatch_s']:.1f} s ({args.digests:,} added rows to as many addresses + that "
              f"day's sweep rows; stopped after {args.digests:,}); "
              f"dashboard over {b['dashboard_total']:,} tasks: median {b['dashboard_ms']:.1f} ms, "
              f"fastest {b['dashboard_min_ms']:.1f} ms of {args.dashboard_repeats}")
    spiff, pf = peers.get("spiff"), peers.get("prefect")
    if spiff:
        print(f"\nSpiffWorkflow {spiff['version']}: {spiff['instances']:,} instances, "
              f"{spiff['due']:,} due on the day; instantiate {spiff['instantiate_us']:.0f} µs each; "
              f"advance one day {spiff['advance_us']:.0f} µs per instance·day in memory (due "
              f"{spiff['advance_due_us']:.0f}, not due {spiff['advance_idle_us']:.0f}), "
              f"{spiff['advance_stored_us']:.0f} with its state deserialized and serialized again; "
              f"serialize {spiff['serialize_us']:.0f} µs, {spiff['state_bytes'] / 1024:.1f} KiB JSON "
              f"each; memory {spiff['kib_per_instance']:.1f} KiB per instance (tracemalloc, "
              f"{spiff['kib_sample']} instances); peak {spiff['peak_mib']:.0f} MiB")
    if pf:
        print(f"Prefect {pf['version']} (local ephemeral server): first flow run "
              f"{pf['first_flow_s']:.1f} s (starts the server), empty flow run {pf['flow_s']:.2f} s "
              f"(median), a flow of {pf['tasks']} task runs {pf['per_task_flow_s']:.1f} s: "
              f"{pf['task_ms']:.1f} ms per task run as the flow sees it; all {pf['tasks']} "
              f"recorded by the server after {pf['recorded_s']:.1f} s: "
              f"{pf['recorded_task_ms']:.1f} ms per task run")
    if spiff or pf:
        print("\nRatios, per tracked task per simulated day, same run (peer / ours):")
        for r in results:
            ours, share = us_per_task_day(r), r["days"]["typical"]["due"] / r["init"]["tasks"]
            parts = [f"ours {ours:.2f} µs"]
            if spiff:
                same = share * spiff["advance_due_us"] + (1 - share) * spiff["advance_idle_us"]
                parts.append(f"SpiffWorkflow at the same due share ({share:.1%}) {same:.0f} µs: "
                             f"{same / ours:,.0f}× in memory, "
                             f"{spiff['advance_stored_us'] / ours:,.0f}× stored (at Spiff's "
                             f"{spiff['due'] / spiff['instances']:.1%} share; target ≥ 100×)")
            if pf:
                parts.append(f"one Prefect task run per task: "
                             f"{pf['recorded_task_ms'] * 1000 / ours:,.0f}× (recorded), "
                             f"{pf['task_ms'] * 1000 / ours:,.0f}× (as the flow sees it)")
            print(f"- {r['size']} {r['backend']}: " + "; ".join(parts))


def main() -> None:
    """Parse the options; child mode runs one phase, parent mode runs everything and prints."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="230k,1m", help="例如 20k,230k,1m")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--peers", action="store_true", help="同时测 SpiffWorkflow 与 Prefect")
    ap.add_argument("--due-share", type=float, default=0.05)
    ap.add_argument("--sweep-batch", type=int, default=DEFAULT_BATCH_SIZE,
                    help="默认同 rollout.sweep.DEFAULT_BATCH_SIZE")
    ap.add_argument("--dispatch-batch", type=int, default=DISPATCH_BATCH,
                    help="默认同 DispatchConfig.batch_size（连接数用其默认值）")
    ap.add_argument("--digests", type=int, default=5000)
    ap.add_argument("--dashboard-repeats", type=int, default=7)
    ap.add_argument("--spiff-instances", type=int, default=2000)
    ap.add_argument("--prefect-tasks", type=int, default=200)
    ap.add_argument("--peak-day", action="store_true",
                    help="另测到期最多的一天（1m 含乡镇时约 87%% 的任务，很慢）")
    for hidden in ("phase", "out", "url", "plan", "at"):
        ap.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        child(args)
        return
    print(machine(), flush=True)
    results: list[dict] = []
    peers: dict = {}
    port = free_port()
    sink = start_sink(port)
    try:
        with tempfile.TemporaryDirectory(prefix="rollout-bench-") as tmp:
            for size in args.sizes.split(","):
                plan, how = synth(size, Path(tmp) / size / "plan")
                for backend in args.backends.split(","):
                    work = Path(tmp) / size / backend
                    work.mkdir(parents=True)
                    t = time.perf_counter()
                    res = run_backend(backend, plan, port, args, work)
                    results.append({"size": size, "synth": how, **res})
                    print(f"… {size} {backend} 完成（{time.perf_counter() - t:.0f} s）", flush=True)
            if args.peers:
                work = Path(tmp) / "peers"
                work.mkdir()
                peers["spiff"] = spawn("spiff", args, work)
                env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
                env |= {"PREFECT_HOME": str(work / "prefect-home"),
                        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                        "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
                peers["prefect"] = spawn("prefect", args, work, env=env)
    finally:
        sink.terminate()
        sink.wait()
    print()
    report(results, peers, args)
    print(f"\n结束时 uptime：{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
