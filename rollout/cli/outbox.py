"""``rollout dispatch`` and ``rollout outbox list``: send what is due, see what is in the outbox."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from rollout import db
from rollout.cli.base import (
    DbOption,
    Format,
    app,
    engine_for,
    now_local,
    out,
    parse_at,
    working_calendar,
)
from rollout.models import OUTBOX_STATUS_LABELS, Digest, Organization, OutboxMessage, OutboxStatus
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.notifications.render import KIND_LABELS
from rollout.settings import get_settings

outbox_app = typer.Typer(help="发件箱：查看催办、督办通知及发送结果（留痕）", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


class StatusFilter(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


@app.command("dispatch")
def dispatch_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="按此时间发送（模拟用），默认现在")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """发送发件箱中到期的通知：按收件地址和日期汇总为一封邮件（或一条 Webhook 消息）。"""
    now = parse_at(as_of) if as_of else now_local()
    engine = engine_for(database)
    config = DispatchConfig.from_settings(get_settings())
    report = dispatch(lambda: db.unit_of_work(engine), now=now, config=config,
                      calendar=working_calendar())
    if fmt == Format.json:
        out.print_json(json.dumps({"as_of": now.isoformat(), **asdict(report)}, ensure_ascii=False))
        return
    out.print(f"新建汇总 {report.digests_built} 封，取出 {report.claimed} 封："
              f"已发送 {report.sent}，待重试 {report.retrying}，失败 {report.failed}，"
              f"退回待发 {report.released}；已办结而跳过的通知 {report.rows_skipped} 条")
    for e in report.errors[:5]:
        out.print(f"  发送错误：{e}", markup=False, highlight=False)
    if config.smtp is None and report.waiting_without_smtp:
        out.print(f"未配置 SMTP 服务器（ROLLOUT_SMTP_HOST）：{report.waiting_without_smtp} 条邮件通知"
                  "留在发件箱中，可用 rollout outbox list 查看", markup=False)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[StatusFilter | None, typer.Option("--status", help="只看此状态")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    limit: Annotated[int, typer.Option("--limit", min=1, help="最多显示条数（最新的在前）")] = 200,
    database: DbOption = None,
) -> None:
    """列出发件箱中的通知：文号、收件单位、渠道、状态、发送时间和错误。"""
    org = aliased(Organization)
    q = (
        select(OutboxMessage, Digest, org.name)
        .outerjoin(Digest, col(Digest.id) == OutboxMessage.digest_id)
        .outerjoin(org, col(org.code) == OutboxMessage.recipient_org_code)
        .order_by(col(OutboxMessage.id).desc())
        .limit(limit)
    )
    if status is not None:
        q = q.where(OutboxMessage.status == OutboxStatus(status.value))
    with db.read_session(engine_for(database)) as session:
        rows = list(session.exec(q))
    data = [
        {
            "id": m.id, "notice_number": m.notice_number, "kind": m.kind, "step_key": m.step_key,
            "task_id": m.task_id, "due_on": m.due_on.isoformat(),
            "scheduled_on": m.scheduled_on.isoformat(), "recipient_org_code": m.recipient_org_code,
            "recipient": m.recipient_name or org_name, "channel": m.channel.value,
            "address": m.address, "status": m.status.value,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "digest_id": m.digest_id, "message_id": d.message_id if d else None,
            "digest_status": d.status.value if d else None, "attempts": d.attempts if d else 0,
            "next_attempt_at": d.next_attempt_at.isoformat() if d and d.next_attempt_at else None,
            "last_error": d.last_error if d else None,
        }
        for m, d, org_name in rows
    ]
    if fmt == Format.json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table("编号", "日期", "文号", "类型", "收件单位", "渠道", "地址", "状态", "尝试", "错误")
    for r in data:
        table.add_row(
            str(r["id"]), r["scheduled_on"], r["notice_number"] or "",
            KIND_LABELS.get(r["kind"], r["kind"]), r["recipient"] or "", r["channel"],
            r["address"], OUTBOX_STATUS_LABELS[OutboxStatus(r["status"])], str(r["attempts"]),
            (r["last_error"] or "")[:60],
        )
    out.print(table)
    out.print(f"共 {len(data)} 条" + ("（已截断，可用 --limit 调整）" if len(data) == limit else ""))
