"""Micro-benchmark: the CPU cost of ``RecipientResolver.resolve`` per call, on the calls one
day's sweep makes. Run by hand (never in the test suite), against a database holding a plan
prepared as of the day before ``--at`` (``bench/phases.py``: ``phase_init`` then
``phase_prepare``; for 2020-09-25 on the 1.2M-task plan of ``rollout plans synth --provinces 31
--townships``); it only reads:

    .venv/bin/python bench/recipients.py --url postgresql+psycopg://postgres@127.0.0.1:5432/rc_x
        [--at 2020-09-25T09:00:00+08:00] [--batch-size 10000] [--repeat 5] [--levels-up N]

Setup (not timed): the due tasks at ``--at`` (``due_ids``), read ``--batch-size`` at a time
(``select_tasks``); per batch, ``decide`` per ``decision_key`` group as ``sweep_tasks`` does,
giving the (task, levels_up) calls its ``targets`` closure makes (one per distinct
(org_code, domain_key, levels_up) in the batch, skipped steps included; 74,100 calls for
2020-09-25 09:00+08:00 on that plan). Timed with ``perf_counter``, ``--repeat`` times: per batch a
new ``RecipientResolver`` (construction timed apart: it reads the registry and contacts), then
every call of the batch. Prints the best and median µs per call of ``resolve`` (CPU time of
this process, ``process_time``; wall time with ``perf_counter`` too) and the median
construction time, and a digest (sha256 of every result, in call order) so two versions of the
code can be checked to give identical results. ``--levels-up N``: every call at N instead
(an escalation day's shape: N = 1 sends 26 domain tasks of a county to the county itself).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from datetime import datetime
from typing import Any

from rollout import db
from rollout.calendar import WorkingCalendar, local_day
from rollout.notifications.recipients import RecipientResolver
from rollout.sweep.batch import due_ids, policies_of, select_tasks
from rollout.sweep.decide import decide, decision_key


def sweep_calls(session: Any, now: datetime, batch_size: int,
                levels_up: int | None = None) -> list[list[tuple[Any, int]]]:
    """Per batch, the (task row, levels_up) calls ``sweep_tasks`` would make to ``resolve``
    (every step at ``levels_up`` when given)."""
    cal = WorkingCalendar()
    ids = due_ids(session, now)
    batches = []
    for i in range(0, len(ids), batch_size):
        tasks = select_tasks(session, ids[i : i + batch_size], now)
        policies = policies_of(session, {t.milestone_id for t in tasks})
        groups: dict[tuple, list[Any]] = {}
        for t in tasks:
            groups.setdefault(decision_key(t), []).append(t)
        seen: set[tuple] = set()
        calls = []
        for members in groups.values():
            outcome = decide(members[0], policies[members[0].milestone_id], cal, now)
            if outcome.latest is None:
                continue
            for step in [*outcome.skipped, outcome.latest]:
                up = step.levels_up if levels_up is None else levels_up
                for t in members:
                    key = (t.org_code, t.domain_key, up)
                    if key not in seen:
                        seen.add(key)
                        calls.append((t, up))
        batches.append(calls)
    return batches


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/rc_x")
    p.add_argument("--at", default="2020-09-25T09:00:00+08:00")
    p.add_argument("--batch-size", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--levels-up", type=int, default=None)
    a = p.parse_args()
    now = datetime.fromisoformat(a.at)
    today = local_day(now)
    engine = db.get_engine(a.url)
    with db.unit_of_work(engine) as session:
        batches = sweep_calls(session, now, a.batch_size, a.levels_up)
        n = sum(map(len, batches))
        per_call, wall, build = [], [], []
        digest = ""
        for r in range(a.repeat):
            spent = built = walled = 0.0
            h = hashlib.sha256()
            for calls in batches:
                t0 = time.perf_counter()
                resolver = RecipientResolver(session, {t.org_code for t, _ in calls})
                t1, c1 = time.perf_counter(), time.process_time()
                resolve = resolver.resolve
                results = [resolve(t, lv, today) for t, lv in calls]
                spent += time.process_time() - c1
                walled += time.perf_counter() - t1
                built += t1 - t0
                if r == 0:
                    for rs in results:
                        h.update(repr(rs).encode())
            if r == 0:
                digest = h.hexdigest()[:16]
            per_call.append(spent / n * 1e6)
            wall.append(walled / n * 1e6)
            build.append(built)
        session.rollback()
    print(f"calls {n} in {len(batches)} batches; resolve CPU µs/call best {min(per_call):.2f} "
          f"median {statistics.median(per_call):.2f} (runs: "
          f"{' '.join(f'{x:.2f}' for x in per_call)}); wall median "
          f"{statistics.median(wall):.2f}; resolver construction median "
          f"{statistics.median(build):.3f} s; results sha256 {digest}")


if __name__ == "__main__":
    main()
