"""Calendar feeds (iCalendar, RFC 5545) of one organization's task deadlines.

A clerk subscribes once (Outlook, a phone) and sees every deadline of the unit:

- one all-day VEVENT per task (waived and cancelled ones left out): ``DTSTART;VALUE=DATE`` = the
  due day in force (``TrackedTask.due_on``), or the window's first day for a milestone with
  ``starts_on`` ("7月上旬" training: 07-01..07-10); ``DTEND;VALUE=DATE`` = the day after the last
  day (exclusive end: 04-13..04-17 inclusive is 20200413 / 20200418);
- ``UID`` ``task-<plan key>-<task key>@rollout``: the same in every download, so a client
  updates the entry instead of duplicating it; ``SEQUENCE`` = the task's version;
- ``DTSTAMP`` = ``now`` in UTC; ``SUMMARY`` and ``DESCRIPTION`` in Chinese, the description with
  the plan's § reference, what to do, who accepts it and the task's state;
- for tasks still owed (pending, in progress, returned): one VALARM per reminder step of the
  milestone's policy (``rollout.deadlines.steps_for``: 10/5/3/1/0 working days before, at the
  policy's ``send_time`` Beijing time), each an absolute ``TRIGGER;VALUE=DATE-TIME`` in UTC
  (2020-05-05 20:30 Beijing -> ``20200505T123000Z``). No TZID anywhere, so no client can apply
  generated daylight-saving rules to Asia/Shanghai.

Lines are folded by icalendar at 75 octets between characters (a UTF-8 character is never split).
Serve the bytes as ``ICS_MEDIA_TYPE``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Alarm, Calendar, Event
from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar
from rollout.deadlines import DeadlinePolicy, StepKind, steps_for
from rollout.errors import MissingHolidayData, NotFound
from rollout.models import (
    OPEN_STATES,
    ORG_KIND_LABELS,
    TASK_STATE_LABELS,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    Plan,
    TaskState,
    TrackedTask,
)

ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//rollout//基层政务公开标准化任务日历//ZH"
REFRESH = timedelta(hours=6)


def _cn(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def event_uid(plan_key: str, task_key: str) -> str:
    """The stable UID of a task's event: ``task-<plan key>-<task key>@rollout``."""
    return f"task-{plan_key}-{task_key}@rollout"


def _summary(m: Milestone, t: TrackedTask, names: dict[str, str], domains: dict[str, str]) -> str:
    about = [domains[t.domain_key]] if t.domain_key in domains else []
    if t.unit_code and t.unit_code != t.org_code:
        about.insert(0, names.get(t.unit_code, t.unit_code))
    return f"{m.title}（{'·'.join(about)}）" if about else m.title


def _description(plan: Plan, m: Milestone, t: TrackedTask, org: Organization, note: str) -> str:
    first = m.starts_on if m.starts_on and m.starts_on <= t.due_on else None
    when = f"{_cn(first)}至{_cn(t.due_on)}" if first else f"{_cn(t.due_on)}前（含当日，北京时间）"
    lines = [
        f"依据：{plan.document_number or plan.title} §{m.section}" if m.section
        else f"依据：{plan.document_number or plan.title}",
        f"事项：{m.title}",
        f"时间：{when}",
    ]
    if t.due_on != t.original_due_on:
        lines.append(f"原定截止日：{_cn(t.original_due_on)}（已调整）")
    lines.append(f"责任单位：{org.name}")
    if m.accepted_by:
        verb = "复核" if m.accepted_by == "city" else "验收"
        lines.append(f"提交后由{ORG_KIND_LABELS[OrgKind(m.accepted_by)]}{verb}")
    lines += [f"当前状态：{TASK_STATE_LABELS[t.state]}", f"任务编号：{t.key}"]
    if note:
        lines.append(note)
    return "\n".join(lines)


def _alarms(ev: Event, t: TrackedTask, m: Milestone, summary: str, calendar: WorkingCalendar) -> str:
    """Add the reminder VALARMs; returns a note for the description when they cannot be made."""
    policy = DeadlinePolicy.model_validate(m.policy)
    try:
        steps = [s for s in steps_for(t.due_on, policy, calendar) if s.kind is StepKind.reminder]
    except MissingHolidayData as exc:
        return f"提醒：待补充{exc.year}年节假日数据后生成"
    for s in steps:
        left = f"还有{s.working_days_before}个工作日" if s.working_days_before else "今日截止"
        ev.add_component(alarm_at(s.at, f"催办：{summary}（{left}）"))
    return ""


def alarm_at(at: datetime, description: str) -> Alarm:
    """A display VALARM firing at the instant ``at`` (aware), written as an absolute
    ``TRIGGER;VALUE=DATE-TIME`` in UTC: 2020-05-05 20:30 Beijing -> ``20200505T123000Z``.
    Raises ``ValueError`` for a naive ``at``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at must be an aware datetime, got naive {at!r}")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", description)
    alarm.add("trigger", at.astimezone(UTC), parameters={"VALUE": "DATE-TIME"})
    return alarm


def calendar_feed(
    session: Session, org_code: str, plan: Plan, calendar: WorkingCalendar, now: datetime
) -> bytes:
    """The iCalendar file (UTF-8 bytes, CRLF, folded) of ``org_code``'s tasks under ``plan``.

    ``now``: aware datetime, written as every event's ``DTSTAMP`` (UTC). Raises ``NotFound`` for
    an unknown organization, ``ValueError`` for a naive ``now``. Reads only; never commits.
    An organization without tasks gets a valid calendar with no events.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got naive {now!r}")
    org = session.get(Organization, org_code)
    if org is None:
        raise NotFound(f"机构 {org_code} 不存在")
    rows = session.exec(
        select(TrackedTask, Milestone)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .where(
            TrackedTask.plan_id == plan.id,
            TrackedTask.org_code == org_code,
            col(TrackedTask.state).not_in([TaskState.waived, TaskState.cancelled]),
        )
        .order_by(TrackedTask.due_on, Milestone.position, TrackedTask.key)
    ).all()
    units = {t.unit_code for t, _ in rows if t.unit_code and t.unit_code != org_code}
    names = {
        o.code: o.name
        for o in session.exec(select(Organization).where(col(Organization.code).in_(units))).all()
    } if units else {}
    domains = {d.key: d.name for d in session.exec(select(Domain)).all()}

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{org.short_name or org.name}·政务公开任务截止日")
    cal.add("x-wr-caldesc", f"{plan.title}（{plan.document_number}）")
    cal.add("x-published-ttl", "PT6H")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for t, m in rows:
        summary = _summary(m, t, names, domains)
        ev = Event()
        ev.add("uid", event_uid(plan.key, t.key))
        ev.add("dtstamp", stamp)
        first = m.starts_on if m.starts_on and m.starts_on <= t.due_on else t.due_on
        ev.add("dtstart", first)
        ev.add("dtend", t.due_on + timedelta(days=1))
        ev.add("summary", summary)
        ev.add("transp", "TRANSPARENT")
        ev.add("sequence", t.version)
        ev.add("categories", ["政务公开"])
        note = _alarms(ev, t, m, summary, calendar) if t.state in OPEN_STATES else ""
        ev.add("description", _description(plan, m, t, org, note))
        cal.add_component(ev)
    return cal.to_ical()
