"""``rollout scheduler``: starts in the foreground, stops on Ctrl-C, refuses an uninitialised
database with a message and a non-zero exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rollout import db
from rollout.models import JobLease

REPO = Path(__file__).resolve().parents[2]


def rollout(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rollout", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_scheduler_runs_until_ctrl_c(sqlite_url: str) -> None:
    # Both jobs' leases are held by someone else for a day, so nothing runs during the test.
    until = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)
    with db.unit_of_work(db.get_engine(sqlite_url)) as session:
        for name in ("sweep", "dispatch"):
            session.add(JobLease(name=name, holder="another-process", lease_until=until))
    proc = rollout("scheduler", "--db", sqlite_url)
    lines = []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "调度器已启动" in line:
            break
    proc.send_signal(signal.SIGINT)
    stdout, _stderr = proc.communicate(timeout=10)
    text = "".join(lines) + stdout
    assert proc.returncode == 0, _stderr
    assert "作业 sweep：下次运行" in text and "T09:00:00+08:00" in text
    assert "作业 dispatch：下次运行" in text
    assert "调度器已停止" in text


def test_scheduler_refuses_an_uninitialised_database(tmp_path: Path) -> None:
    proc = rollout("scheduler", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    _stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "rollout init" in stderr
