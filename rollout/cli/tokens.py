"""``rollout token create|revoke|list``: API tokens of organizations."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rollout import db
from rollout.actions.tokens import issue_token, list_tokens, revoke_token
from rollout.cli.base import DbOption, Format, app, engine_for, now_local, out
from rollout.errors import InvalidInput
from rollout.plans.registry import find_org
from rollout.workflow import Role

token_app = typer.Typer(help="接口访问令牌：生成、吊销、列出", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    org: Annotated[str, typer.Option("--org", help="单位代码、名称或简称")],
    role: Annotated[str, typer.Option("--role", help="角色：office / department / city / county（须与单位类别一致）")],
    name: Annotated[str, typer.Option("--name", help="令牌名称（经办人或系统名，记入审计）")] = "",
    days: Annotated[int | None, typer.Option("--days", help="有效天数，默认不过期")] = None,
    database: DbOption = None,
) -> None:
    """生成访问令牌并只显示这一次（库中只存其 SHA-256）。"""
    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput(f"角色 '{role}' 无效，应为 office / department / city / county", field="role") from None
    with db.unit_of_work(engine_for(database)) as session:
        unit = find_org(session, org)
        row, text = issue_token(session, unit.code, wanted, now=now_local(), name=name, days=days)
    out.print(f"令牌 {row.id}（{unit.name}，{wanted.value}）"
              f"{'，有效至 ' + row.expires_at.isoformat() if row.expires_at else '，不过期'}",
              markup=False, highlight=False)
    out.print("请妥善保存，此令牌只显示这一次：", markup=False)
    print(text)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="令牌编号（rollout token list）")],
    database: DbOption = None,
) -> None:
    """吊销令牌：此后用它的请求返回 401。"""
    with db.unit_of_work(engine_for(database)) as session:
        row = revoke_token(session, token_id, now=now_local())
    out.print(f"令牌 {row.id} 已吊销（{row.revoked_at.isoformat() if row.revoked_at else ''}）",
              markup=False, highlight=False)


@token_app.command("list")
def token_list(
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """列出令牌（编号、单位、角色、名称、有效期、吊销、最近使用）。"""
    with db.read_session(engine_for(database)) as session:
        rows = list_tokens(session)
    data = [
        {"id": r.id, "org_code": r.org_code, "role": r.role, "name": r.name,
         "created_at": r.created_at.isoformat(),
         "expires_at": r.expires_at.isoformat() if r.expires_at else None,
         "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
         "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None}
        for r in rows
    ]
    if fmt == Format.json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    for d in data:
        state = "已吊销" if d["revoked_at"] else "有效"
        out.print(f"{d['id']:>4}  {d['org_code']:<24} {d['role']:<10} {d['name'] or '—':<12} "
                  f"{state}  至 {d['expires_at'] or '不过期'}", markup=False, highlight=False)
