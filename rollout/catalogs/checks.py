"""Checks of one catalog item: the nine elements present, values in their vocabularies, and a
time limit that reads as one.

Plan §三(一): each item states 名称 内容 依据 时限 主体 方式 渠道 公开对象 公开层级. The time
limit grammar (after ``normalize_text``; spaces removed; N is 1–3 Arabic digits or a Chinese
numeral up to 九十九):

=================  =======================================================================
event-relative     [自|从] EVENT 之日起 N [个] UNIT 内 [，公示 N [个] UNIT]
                   EVENT is any text with a verb from ``EVENT_VERBS`` (形成, 变更, 制定, 获取,
                   产生, 作出, 公布, 批准, 受理, 审批, 收到, 更新, 调整, 发布); UNIT is 工作日, 日,
                   天, 个月 or 月. e.g. 信息形成或者变更之日起20个工作日内, 自信息形成之日起20个
                   工作日内, 制定或获取信息之日起10个工作日内，公示7个工作日
standing           常态化公开 | 长期公开 | 实时公开 | 实时更新 | 实时 | 即时公开 | 即时 | 及时公开 |
                   动态更新 | 长期
periodic           每年|每半年|每季度|每月 [第][一二三四1-4]季度|N月[底|初|末|中旬|上旬|下旬]|N日|
                   年底|年初 [前|内|底] [公开|更新]  e.g. 每年一季度, 每季度, 每年3月底前
dated              YYYY年M月[D日][前|底前|内]  e.g. 2020年7月1日前
=================  =======================================================================

Anything else is reported as ``bad_time_limit`` with the grammar's examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rollout.catalogs.tabular import ItemDraft
from rollout.models import DisclosureChannel, FindingKind

EVENT_VERBS = ("形成", "变更", "制定", "获取", "产生", "作出", "做出", "公布", "批准", "受理",
               "审批", "收到", "更新", "调整", "发布")
_N = r"(?:\d{1,3}|[一二三四五六七八九十两]{1,3})"
_UNIT = r"(?:工作日|日|天|个月|月)"
_EVENT = re.compile(
    rf"^(?:自|从)?(?P<event>.+?)(?:之日起|之日|起)(?P<n>{_N})个?(?P<unit>{_UNIT})内"
    rf"(?:[,，;；]?公示(?P<n2>{_N})个?{_UNIT})?(?:公开)?$"
)
_STANDING = re.compile(r"^(常态化公开|长期公开|实时公开|实时更新|实时|即时公开|即时|及时公开|动态更新|长期)$")
_PERIODIC = re.compile(
    rf"^每(?:年|半年|季度|月)(?:第?[一二三四1-4]季度|{_N}月(?:底|初|末|中旬|上旬|下旬)?|{_N}日|年底|年初)?"
    r"(?:前|内|底)?(?:公开|更新)?$"
)
_DATED = re.compile(r"^\d{4}年\d{1,2}月(?:\d{1,2}日)?(?:前|底前|内)?$")

TIME_LIMIT_EXAMPLES = "信息形成或变更之日起20个工作日内、常态化公开、实时、每年一季度"


@dataclass(frozen=True)
class TimeLimit:
    """A parsed time limit: ``kind`` (``event``, ``standing``, ``periodic``, ``dated``) and, for
    ``event``, the count ``amount`` and its ``unit`` (工作日, 日, 天, 个月, 月)."""

    kind: str
    amount: int | None = None
    unit: str | None = None


_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _DIGITS[text]
    tens, _, ones = text.partition("十")
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)


def parse_time_limit(text: str) -> TimeLimit | None:
    """The time limit ``text`` read by the grammar above, or None when it does not read as one."""
    t = re.sub(r"\s+", "", text or "")
    if not t:
        return None
    m = _EVENT.match(t)
    if m and any(v in m.group("event") for v in EVENT_VERBS):
        return TimeLimit("event", _number(m.group("n")), m.group("unit"))
    if _STANDING.match(t):
        return TimeLimit("standing")
    if _PERIODIC.match(t):
        return TimeLimit("periodic")
    if _DATED.match(t):
        return TimeLimit("dated")
    return None


@dataclass(frozen=True)
class Problem:
    """One thing wrong: ``kind``, the ``element`` (English field name), a Chinese ``message``
    that names the item, and the item's 1-based ``position`` (None for a missing item)."""

    kind: FindingKind
    element: str | None
    message: str
    position: int | None = None


ELEMENT_LABELS: dict[str, str] = {
    "level1_name": "一级事项名称",
    "level2_name": "二级事项名称",
    "content": "公开内容",
    "basis": "公开依据",
    "time_limit": "公开时限",
    "subject": "公开主体",
    "methods": "公开方式",
    "channels": "公开渠道和载体",
    "audiences": "公开对象",
    "levels": "公开层级",
}


def item_label(item: ItemDraft, position: int) -> str:
    """How a message names an item: ``第3项「最低生活保障 / 审批信息」``."""
    name = " / ".join(n for n in (item.level1_name, item.level2_name) if n) or "（无名称）"
    return f"第{position}项「{name}」"


def check_item(item: ItemDraft, position: int) -> list[Problem]:
    """The problems of one item (``position`` 1-based, for messages), in element order.

    Empty element → ``bad_element``; a channel outside ``DisclosureChannel`` →
    ``unknown_vocabulary``; a time limit the grammar does not read → ``bad_time_limit``.
    """
    who = item_label(item, position)
    problems: list[Problem] = []
    for element, label in ELEMENT_LABELS.items():
        value = getattr(item, element)
        if not value:
            problems.append(Problem(FindingKind.bad_element, element, f"{who}缺少要素：{label}", position))
    known = {c.value for c in DisclosureChannel}
    for channel in item.channels:
        if channel not in known:
            problems.append(
                Problem(
                    FindingKind.unknown_vocabulary,
                    "channels",
                    f"{who}的公开渠道「{channel}」不在规定范围内（政府网站、政府公报、政务新媒体、政务服务大厅、"
                    "便民服务站、公开栏、广播电视、报刊、精准推送、其他）",
                    position,
                )
            )
    if item.time_limit and parse_time_limit(item.time_limit) is None:
        problems.append(
            Problem(
                FindingKind.bad_time_limit,
                "time_limit",
                f"{who}的公开时限「{item.time_limit}」无法识别，应写明如：{TIME_LIMIT_EXAMPLES}",
                position,
            )
        )
    return problems
