"""The national guidelines' standard item lists (标准指引), one data file per domain.

Files: ``rollout/catalogs/guidelines/<domain key>.yaml`` (keys as in the registry's ``domains``)
with ``domain``, ``name``, ``status``, ``source`` and ``items`` (``level1`` / ``level2`` names).
``status``: ``完整`` (the whole national list), ``部分`` (the items listed were checked; more
exist), ``待补充`` (not entered yet, ``items: []``). Compile (§四(三) 缺项) compares a catalog
with its guideline: a listed item the catalog lacks is missing; with ``完整`` an item the guideline
does not list is an extra item (allowed, listed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from rollout.catalogs.tabular import ItemDraft
from rollout.catalogs.vocabulary import name_key
from rollout.errors import NotFound, PlanError

GUIDELINE_DIR = Path(__file__).parent / "guidelines"
COMPLETE, PARTIAL, PENDING = "完整", "部分", "待补充"


class GuidelineItem(BaseModel):
    """One standard item: 一级事项 ``level1`` and 二级事项 ``level2``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level1: str
    level2: str

    @property
    def label(self) -> str:
        """``一级 / 二级`` for messages."""
        return f"{self.level1} / {self.level2}"


class Guideline(BaseModel):
    """A domain's guideline file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    domain: str
    name: str
    status: str
    source: str = ""
    items: list[GuidelineItem] = []


@lru_cache(maxsize=64)
def load_guideline(domain_key: str) -> Guideline:
    """The guideline of ``domain_key`` from the bundled files.

    Raises ``NotFound`` when there is no file for the key, ``PlanError`` naming the file when it
    is not valid (unknown field, status not one of 完整/部分/待补充, wrong domain key).
    """
    path = GUIDELINE_DIR / f"{domain_key}.yaml"
    if not path.is_file():
        raise NotFound(f"没有领域 {domain_key} 的标准指引文件（{path.name}）")
    try:
        g = Guideline.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise PlanError(f"标准指引文件 {path.name} 无效：{exc}") from exc
    if g.status not in (COMPLETE, PARTIAL, PENDING) or g.domain != domain_key:
        raise PlanError(f"标准指引文件 {path.name}：status 须为 完整/部分/待补充，domain 须为 {domain_key}")
    return g


@dataclass(frozen=True)
class Comparison:
    """A catalog against its guideline: guideline items it lacks (in guideline order) and its
    items the guideline does not list, as ``(position, item)`` (only for a 完整 guideline)."""

    missing: list[GuidelineItem]
    extra: list[tuple[int, ItemDraft]]


def compare(guideline: Guideline, items: Sequence[ItemDraft]) -> Comparison:
    """Match ``items`` (positions 1-based in order) with the guideline's by both names, compared
    with ``name_key`` (whitespace and varying punctuation ignored)."""
    have = {(name_key(i.level1_name), name_key(i.level2_name)) for i in items}
    missing = [g for g in guideline.items if (name_key(g.level1), name_key(g.level2)) not in have]
    extra: list[tuple[int, ItemDraft]] = []
    if guideline.status == COMPLETE:
        known = {(name_key(g.level1), name_key(g.level2)) for g in guideline.items}
        extra = [
            (n, i)
            for n, i in enumerate(items, start=1)
            if (name_key(i.level1_name), name_key(i.level2_name)) not in known
        ]
    return Comparison(missing=missing, extra=extra)
