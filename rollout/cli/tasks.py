"""``rollout task ...``: show one task, move it through the state machine."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlmodel import Session, select

from rollout import db, schedules
from rollout.calendar import local_day
from rollout.cli.base import (
    DbOption,
    Format,
    app,
    engine_for,
    find_plan,
    now_local,
    out,
    parse_at,
    parse_day,
    working_calendar,
)
from rollout.errors import RolloutError
from rollout.models import TASK_STATE_LABELS, AuditEvent, Milestone, Organization, TrackedTask
from rollout.plans.registry import find_org, office_of
from rollout.workflow import Action, Actor, role_for, transition, waiting_for

task_app = typer.Typer(help="查看任务、按状态机办理任务", no_args_is_help=True)
app.add_typer(task_app, name="task")


def _find_task(session: Session, ref: str, plan_key: str | None = None) -> TrackedTask:
    q = select(TrackedTask)
    if ref.isdigit():
        q = q.where(TrackedTask.id == int(ref))
    else:
        q = q.where(TrackedTask.key == ref, TrackedTask.plan_id == find_plan(session, plan_key).id)
    task = session.exec(q).first()
    if task is None:
        raise RolloutError(f"找不到任务 '{ref}'（任务编号或 key，如 catalog:220102:social_assistance）",
                           code="not_found")
    return task


@task_app.command("show")
def task_show(
    ref: Annotated[str, typer.Argument(help="任务编号或 key")],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """显示一项任务：状态、截止日、等待的前置任务和办理记录。"""
    with db.read_session(engine_for(database)) as session:
        task = _find_task(session, ref)
        m = session.get(Milestone, task.milestone_id)
        waits = [t.key for t in waiting_for(session, task)]
        next_at = schedules.next_action_of(session, task.id)
        events = session.exec(
            select(AuditEvent).where(AuditEvent.task_id == task.id).order_by(AuditEvent.id)
        ).all()
    data = {
        "id": task.id, "key": task.key, "milestone": m.key if m else None,
        "org_code": task.org_code, "unit_code": task.unit_code, "domain": task.domain_key,
        "state": task.state.value, "due_on": task.due_on.isoformat(),
        "original_due_on": task.original_due_on.isoformat(), "version": task.version,
        "next_action_at": next_at.isoformat() if next_at else None,
        "waiting_for": waits,
        "history": [
            {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor,
             "org": e.actor_org_code, "before": e.before, "after": e.after, "detail": e.detail}
            for e in events
        ],
    }
    if fmt == Format.json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    out.print(f"[bold]{task.key}[/]（#{task.id}）{m.title if m else ''}")
    out.print(f"状态：{TASK_STATE_LABELS[task.state]}　截止：{task.due_on}　责任单位：{task.org_code}")
    if waits:
        out.print(f"等待前置任务（{len(waits)}）：{'、'.join(waits[:10])}")
    for e in data["history"]:
        out.print(f"  {e['at']}  {e['kind']}  {e['actor']}@{e['org'] or ''}")


def _act(action: Action):
    def command(
        ref: Annotated[str, typer.Argument(help="任务编号或 key")],
        as_org: Annotated[str | None, typer.Option("--as", help="以哪个单位办理（代码或名称），默认任务所在省的政务公开办")] = None,
        person: Annotated[str, typer.Option("--by", help="经办人")] = "cli",
        note: Annotated[str | None, typer.Option("--note", help="佐证链接 / 退回意见 / 理由")] = None,
        due: Annotated[str | None, typer.Option("--due", help="退回改正的新截止日 YYYY-MM-DD")] = None,
        version: Annotated[int | None, typer.Option("--version", help="您看到的任务版本（防并发覆盖）")] = None,
        at: Annotated[str | None, typer.Option("--at", help="办理时间（模拟用），默认现在")] = None,
        database: DbOption = None,
    ) -> None:
        when = parse_at(at) if at else now_local()
        new_due = parse_day(due) if due else None
        with db.unit_of_work(engine_for(database)) as session:
            task = _find_task(session, ref)
            owner = session.get(Organization, task.org_code)
            org = (find_org(session, as_org) if as_org
                   else office_of(session, owner.province if owner else None))
            actor = Actor(org_code=org.code, role=role_for(org), name=person)
            if new_due is not None and new_due < local_day(when):
                raise RolloutError(f"新截止日 {new_due} 早于今天 {local_day(when)}", code="bad_due")
            task = transition(
                session, task.id, action, actor, now=when, calendar=working_calendar(),
                expected_version=version, note=note, new_due_on=new_due,
            )
        out.print(f"{task.key}：{TASK_STATE_LABELS[task.state]}（版本 {task.version}）")

    command.__doc__ = f"{action.value}：按状态机办理任务。"
    return command


for _action in Action:
    task_app.command(_action.value)(_act(_action))


