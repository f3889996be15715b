"""What a digest says: subject, per-item status and instruction, and the Jinja2 templates.

Templates live in ``rollout/notifications/templates`` and are found by package path
(``jinja2.PackageLoader``), never relative to the working directory (DESIGN.md, "Templates").
Every text a person reads is simplified Chinese. Labels: 催办 = reminder, 督办 = escalation,
逾期通报 = overdue notice (``rollout.deadlines.STEP_KIND_LABELS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from rollout.notifications.digests import DigestContent, DigestItem

KIND_LABELS: dict[str, str] = {"reminder": "催办", "escalation": "督办", "overdue": "逾期通报"}
LATE_KINDS = frozenset({"escalation", "overdue"})


def cn_date(day: date) -> str:
    """``2020-07-01`` → ``2020年7月1日``."""
    return f"{day.year}年{day.month}月{day.day}日"


def status_text(item: DigestItem) -> str:
    """Days left or days late of one item, e.g. ``今日到期``, ``距截止还有3天``,
    ``已逾期5个工作日`` (working days for late items when the calendar has the year, else
    calendar days: ``已逾期7天``)."""
    if item.days_left > 0:
        return f"距截止还有{item.days_left}天"
    if item.days_left == 0:
        return "今日到期"
    if item.working_days_late is not None:
        return f"已逾期{item.working_days_late}个工作日"
    return f"已逾期{-item.days_left}天"


def todo_text(item: DigestItem) -> str:
    """What the recipient should do about one item (depends on its kind and escalation level)."""
    due = cn_date(item.due_on)
    if item.kind == "reminder" or (item.kind not in LATE_KINDS and item.days_left >= 0):
        return f"请于{due}（含当日）前完成并在系统中提交办理结果；已完成的请尽快提交。"
    if item.kind == "escalation" and item.levels_up >= 1:
        return f"该任务已超过截止日期，请督促{item.owner_name}立即办理并提交，同时书面说明逾期原因。"
    if item.kind == "overdue":
        return f"该任务仍未完成，请督促{item.owner_name}限期完成，并报告整改进展。"
    return "该任务已超过截止日期，请立即办理并在系统中提交，同时说明逾期原因。"


def subject_for(content: DigestContent) -> str:
    """The subject, e.g. ``【催办】南关区：26项任务今日到期`` or ``【督办】长春市：3项任务已逾期``.

    Tag 【督办】 when any item is an escalation or overdue notice, else 【催办】. Reminders due on
    the digest's day count as 今日到期, others as 即将到期; late items as 已逾期.
    """
    late = [i for i in content.items if i.kind in LATE_KINDS or i.days_left < 0]
    soon = [i for i in content.items if i not in late]
    tag = "督办" if any(i.kind in LATE_KINDS for i in content.items) else "催办"
    parts = []
    today = sum(1 for i in soon if i.days_left == 0)
    if today:
        parts.append(f"{today}项任务今日到期")
    if len(soon) - today:
        parts.append(f"{len(soon) - today}项任务即将到期")
    if late:
        parts.append(f"{len(late)}项任务已逾期")
    return f"【{tag}】{content.recipient_label}：{'，'.join(parts) or '任务提醒'}"


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item with its display texts, as the templates see it."""

    n: int
    item: DigestItem
    kind_label: str
    status: str
    todo: str
    late: bool
    due: str


def item_views(content: DigestContent) -> list[ItemView]:
    """The digest's items numbered from 1 with their labels and texts."""
    return [
        ItemView(
            n=n, item=i, kind_label=KIND_LABELS.get(i.kind, "通知"), status=status_text(i),
            todo=todo_text(i), late=i.days_left < 0, due=cn_date(i.due_on),
        )
        for n, i in enumerate(content.items, 1)
    ]


@cache
def environment() -> Environment:
    """The Jinja2 environment of the bundled templates (HTML autoescaped; undefined names fail).

    Templates are compiled once per process: ``auto_reload`` is off, so rendering does not
    stat the template files each time (they ship with the package and do not change).
    """
    env = Environment(
        loader=PackageLoader("rollout.notifications", "templates"),
        auto_reload=False,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cn_date"] = cn_date
    return env


def context(content: DigestContent, **extra: object) -> dict[str, object]:
    """The templates' context for ``content``: ``c`` (the content), ``items`` (``ItemView``
    list), ``subject``, ``sender_name`` (default empty) and ``extra``. Made once for the
    several templates of one message."""
    return {"c": content, "items": item_views(content), "subject": subject_for(content),
            "sender_name": "", **extra}


def render_context(template: str, ctx: dict[str, object]) -> str:
    """Render ``template`` (e.g. ``digest.txt.j2``) with a ``context``. Raises
    ``jinja2.TemplateNotFound`` for an unknown name."""
    return environment().get_template(template).render(ctx)


def render(template: str, content: DigestContent, **extra: object) -> str:
    """Render ``template`` (e.g. ``digest.txt.j2``) for ``content`` (context: ``context``).
    Raises ``jinja2.TemplateNotFound`` for an unknown name."""
    return render_context(template, context(content, **extra))
