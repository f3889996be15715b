"""Debian's ``chromium`` for the browser tests: installed with apt when missing (CI runs as
root), never downloaded by Playwright (``playwright install`` is not used). A Chinese font
(``fonts-wqy-zenhei``) comes along when the machine has none, so screenshots show text, not boxes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
#: Arguments for a headless run on a machine without a display, GPU or network access.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
_APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def _apt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", *args], env=_APT_ENV, capture_output=True, text=True,
                          timeout=1800)


def _has_package_lists() -> bool:
    lists = Path("/var/lib/apt/lists")
    return lists.is_dir() and any("Packages" in p.name for p in lists.iterdir())


def _has_chinese_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def ensure_chromium() -> Path:
    """``/usr/bin/chromium``, installed with ``apt-get install -y chromium`` if absent (and
    ``fonts-wqy-zenhei`` if no Chinese font is installed).

    Runs ``apt-get update`` first when there are no package lists, and once more if the install
    fails with the lists present (they may be stale). Raises ``RuntimeError`` with apt's output
    when it still cannot be installed (e.g. not root, no apt).
    """
    wanted = [] if CHROMIUM.exists() else ["chromium"]
    if not _has_chinese_font():
        wanted.append("fonts-wqy-zenhei")
    if not wanted:
        return CHROMIUM
    if shutil.which("apt-get") is None:
        if CHROMIUM.exists():
            return CHROMIUM
        raise RuntimeError("没有 /usr/bin/chromium，也没有 apt-get 可以安装它")
    if not _has_package_lists():
        _apt("update")
    done = _apt("install", "-y", "--no-install-recommends", *wanted)
    if done.returncode != 0:
        _apt("update")
        done = _apt("install", "-y", "--no-install-recommends", *wanted)
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get install chromium failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return CHROMIUM
