"""Charts drawn by the server as inline SVG (no script, no chart library, works offline).

- ``timeline_svg``: the plan's milestones on a time axis, coloured by status, today marked;
- ``completion_svg``: one milestone's cumulative share delivered by day against its plan (all
  due by the due day), today marked;
- ``cities_svg``: the cities compared by share of their (and their counties') tasks done.

Delivered = submitted, accepted or waived, dated by ``submitted_at`` (else ``completed_at``) in
local days (``delivered_by_day``: the pre-aggregated ``DeliveredCount``; for a part of the
registry, the tasks themselves). Every text is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlmodel import Session, col, select

from rollout.api.pages.board import Cell
from rollout.calendar import local_day
from rollout.models import DELIVERED_STATES, DeliveredCount, Milestone, Plan, TrackedTask

COLORS = {"done": "#2e7d32", "submitted": "#81c784", "soon": "#f9a825", "overdue": "#c62828",
          "later": "#9e9e9e", "none": "#e0e0e0"}
TODAY = "#1565c0"


def delivered_by_day(
    session: Session, plan: Plan, where: sa.ColumnElement[bool] | None = None,
) -> dict[str, list[tuple[date, int]]]:
    """Milestone key → [(local day, tasks delivered that day)] in day order. All tasks
    (``where`` None): from the pre-aggregated ``DeliveredCount`` rows (kept exact by triggers).
    Only the tasks ``where`` selects (a condition on ``TrackedTask``, e.g. an office's province:
    ``rollout.actions.scope.owned_among``): from those tasks, dated as ``DeliveredCount``
    dates them (``coalesce(submitted_at, completed_at)`` as an Asia/Shanghai day; neither: not
    counted)."""
    if where is None:
        rows = session.exec(
            select(Milestone.key, DeliveredCount.delivered_on, DeliveredCount.n)
            .join(Milestone, col(Milestone.id) == DeliveredCount.milestone_id)
            .where(DeliveredCount.plan_id == plan.id, col(DeliveredCount.n) > 0)
        ).all()
    else:
        at = sa.func.coalesce(TrackedTask.submitted_at, TrackedTask.completed_at)
        counts: dict[tuple[str, date], int] = defaultdict(int)
        for key, when in session.exec(
            select(Milestone.key, at)
            .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .where(TrackedTask.plan_id == plan.id, at.is_not(None), where,
                   col(TrackedTask.state).in_([s.value for s in DELIVERED_STATES]))
        ):
            counts[(key, local_day(when))] += 1
        rows = [(key, d, n) for (key, d), n in counts.items()]
    out: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for key, d, n in rows:
        out[key].append((d, int(n)))
    return {k: sorted(v) for k, v in out.items()}


def short(title: str, n: int = 9) -> str:
    """``title`` cut to ``n`` characters with an ellipsis."""
    return title if len(title) <= n else title[: n - 1] + "…"


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" role="img" aria-label="{escape(label)}" class="chart">')
    return Markup(head + "".join(body) + "</svg>")


@dataclass(frozen=True)
class _Axis:
    start: date
    end: date
    x0: float
    x1: float

    def x(self, day: date) -> float:
        """The x coordinate of local day ``day`` (linear between ``start`` and ``end``)."""
        span = max(1, (self.end - self.start).days)
        return self.x0 + (self.x1 - self.x0) * (day - self.start).days / span


def timeline_svg(milestones: list[Milestone], cells: dict[str, Cell], today: date) -> Markup:
    """The milestones as a time line (window bars for ``starts_on``), coloured by the status of
    their tasks, labels staggered on three rows, and today as a blue line."""
    days = [m.due_on for m in milestones] + [m.starts_on for m in milestones if m.starts_on]
    start = min([*days, today]).replace(day=1)
    end = max([*days, today]) + timedelta(days=10)
    ax = _Axis(start, end, 20, 940)
    w, h, base = 960, 190, 120
    body = [f'<line x1="{ax.x0}" y1="{base}" x2="{ax.x1}" y2="{base}" stroke="#555" stroke-width="2"/>']
    month = start
    while month <= end:
        x = ax.x(month)
        body.append(f'<line x1="{x:.1f}" y1="{base - 4}" x2="{x:.1f}" y2="{base + 4}" stroke="#555"/>'
                    f'<text x="{x:.1f}" y="{base + 20}" font-size="11" text-anchor="middle" fill="#555">'
                    f'{month.month}月</text>')
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    for i, m in enumerate(milestones):
        cell = cells.get(m.key, Cell())
        color = COLORS[cell.status]
        x = ax.x(m.due_on)
        y = 28 + (i % 3) * 28
        anchor = "start" if x < ax.x0 + 90 else "end" if x > ax.x1 - 90 else "middle"
        tip = escape(f"{m.title}：{m.due_on.isoformat()} 截止；{cell.title() or '无任务'}")
        if m.starts_on and m.starts_on < m.due_on:
            body.append(f'<rect x="{ax.x(m.starts_on):.1f}" y="{base - 5}" '
                        f'width="{x - ax.x(m.starts_on):.1f}" height="10" fill="{color}" opacity="0.6"/>')
        body.append(
            f'<g class="milestone" data-key="{escape(m.key)}"><title>{tip}</title>'
            f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{base}" stroke="#bbb" stroke-dasharray="2,2"/>'
            f'<circle cx="{x:.1f}" cy="{base}" r="7" fill="{color}" stroke="#fff" stroke-width="2"/>'
            f'<text x="{x:.1f}" y="{y}" font-size="12" text-anchor="{anchor}">'
            f'{escape(short(m.title))} {m.due_on.month}/{m.due_on.day}</text></g>'
        )
    tx = ax.x(today)
    body.append(f'<g class="today"><line x1="{tx:.1f}" y1="14" x2="{tx:.1f}" y2="{h - 30}" '
                f'stroke="{TODAY}" stroke-width="2"/><text x="{tx:.1f}" y="{h - 14}" font-size="12" '
                f'text-anchor="middle" fill="{TODAY}">今天 {today.month}/{today.day}</text></g>')
    return _svg(w, h, "进度节点时间线", body)


def completion_svg(
    m: Milestone, total: int, daily: list[tuple[date, int]], today: date, start: date
) -> Markup:
    """Cumulative share of ``m``'s ``total`` tasks delivered by day (blue area) against the plan
    (grey dashed: 0 % until the due day, 100 % from it), from ``start``; today marked."""
    end = max(m.due_on, today) + timedelta(days=7)
    w, h, top, bottom = 300, 172, 40, 144
    ax = _Axis(start, end, 34, 290)

    def y(share: float) -> float:
        return bottom - (bottom - top) * share

    body = [f'<text x="4" y="16" font-size="12" font-weight="bold">{escape(short(m.title, 20))}</text>']
    for share in (0, 0.5, 1):
        body.append(f'<line x1="{ax.x0}" y1="{y(share):.1f}" x2="{ax.x1}" y2="{y(share):.1f}" stroke="#eee"/>'
                    f'<text x="{ax.x0 - 4}" y="{y(share) + 4:.1f}" font-size="10" text-anchor="end" '
                    f'fill="#777">{int(share * 100)}%</text>')
    due_x = ax.x(m.due_on)
    body.append(f'<polyline class="plan" points="{ax.x0},{y(0):.1f} {due_x:.1f},{y(0):.1f} '
                f'{due_x:.1f},{y(1):.1f} {ax.x1},{y(1):.1f}" fill="none" stroke="#888" '
                f'stroke-dasharray="4,3"/>'
                f'<text x="{due_x:.1f}" y="{bottom + 14}" font-size="10" '
                f'text-anchor="{"end" if due_x > ax.x1 - 30 else "middle"}" fill="#555">'
                f'截止 {m.due_on.month}/{m.due_on.day}</text>')
    done = 0
    points = [f"{ax.x0},{y(0):.1f}"]
    for day, n in daily:
        if day > end:
            break
        x = ax.x(max(day, start))
        points.append(f"{x:.1f},{y(done / total if total else 0):.1f}")
        done += n
        points.append(f"{x:.1f},{y(done / total if total else 0):.1f}")
    last = ax.x(min(today, end))
    points.append(f"{last:.1f},{y(done / total if total else 0):.1f}")
    area = " ".join([*points, f"{last:.1f},{y(0):.1f}"])
    body.append(f'<polygon class="actual" points="{area}" fill="{TODAY}" fill-opacity="0.25" '
                f'stroke="{TODAY}" stroke-width="1.5"/>')
    tx = ax.x(min(today, end))
    body.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{bottom}" stroke="{TODAY}" '
                f'stroke-width="1" stroke-dasharray="1,2"/>')
    share = done / total if total else 0
    body.append(f'<text x="{ax.x0}" y="30" font-size="11" fill="#333">'
                f'已交 {done}/{total}（{share:.0%}）</text>')
    return _svg(w, h, f"{m.title}累计完成情况", body)


@dataclass(frozen=True)
class CityShare:
    """A city's tasks (its own and its counties'): ``done``, ``submitted`` and ``total``."""

    code: str
    name: str
    done: int
    submitted: int
    overdue: int
    total: int

    @property
    def share_done(self) -> float:
        """Done / total, 0 when the city has no tasks."""
        return self.done / self.total if self.total else 0.0


def cities_svg(rows: list[CityShare]) -> Markup:
    """Horizontal bars, best share done first: done (dark green), submitted (light green),
    overdue (red), the rest grey; the share done written at the end."""
    rows = sorted(rows, key=lambda r: (-r.share_done, r.code))
    w, bar, gap, left, right = 960, 18, 8, 170, 880
    h = 20 + len(rows) * (bar + gap)
    body = []
    for i, r in enumerate(rows):
        y = 10 + i * (bar + gap)
        body.append(f'<text x="{left - 8}" y="{y + 13}" font-size="12" text-anchor="end">{escape(r.name)}</text>')
        x = float(left)
        for part, color in ((r.done, COLORS["done"]), (r.submitted, COLORS["submitted"]),
                            (r.overdue, COLORS["overdue"]), (r.total - r.done - r.submitted - r.overdue, "#e0e0e0")):
            width = (right - left) * part / r.total if r.total else 0
            if width > 0:
                body.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar}" fill="{color}"/>')
            x += width
        body.append(f'<g class="city" data-code="{escape(r.code)}"><title>{escape(r.name)}：已完成 {r.done}，'
                    f'已提交 {r.submitted}，逾期 {r.overdue}，共 {r.total}</title>'
                    f'<text x="{right + 8}" y="{y + 13}" font-size="12">{r.share_done:.0%}</text></g>')
    return _svg(w, h, "各市（州）完成率比较", body)
