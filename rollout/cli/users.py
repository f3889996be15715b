"""``rollout user create|list|unlock``: web logins of organizations' users."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlmodel import col, select

from rollout import db
from rollout.actions.users import MIN_PASSWORD_LENGTH, create_user
from rollout.cli.base import DbOption, Format, app, engine_for, now_local, out
from rollout.errors import NotFound
from rollout.models import User
from rollout.plans.registry import find_org

user_app = typer.Typer(help="网页登录账号：开通、列出、解锁", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option("--org", help="单位代码、名称或简称")],
    username: Annotated[str, typer.Option("--username", help="用户名（全省唯一）")],
    password: Annotated[str | None, typer.Option(
        "--password", help=f"密码（至少 {MIN_PASSWORD_LENGTH} 位）；不给则提示输入")] = None,
    name: Annotated[str, typer.Option("--name", help="姓名（页面和办理记录中显示）")] = "",
    database: DbOption = None,
) -> None:
    """为单位开通网页登录账号（角色即单位类别；密码以 argon2 存储）。"""
    if password is None:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")
    with db.unit_of_work(engine_for(database)) as session:
        unit = find_org(session, org)
        user = create_user(session, unit.code, username, password, now=now_local(), display_name=name)
    out.print(f"已开通账号 {user.username}（{unit.name}，{user.role}）", markup=False, highlight=False)


@user_app.command("list")
def user_list(
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """列出账号：用户名、单位、角色、是否停用、连续失败次数、锁定至。"""
    with db.read_session(engine_for(database)) as session:
        rows = list(session.exec(select(User).order_by(col(User.org_code), col(User.username))))
    items = [{"username": u.username, "org": u.org_code, "role": u.role, "active": u.active,
              "failed_logins": u.failed_logins,
              "locked_until": u.locked_until.isoformat() if u.locked_until else None} for u in rows]
    if fmt == Format.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for i in items:
        out.print(f"{i['username']}\t{i['org']}\t{i['role']}\t{'启用' if i['active'] else '停用'}\t"
                  f"{i['failed_logins']}\t{i['locked_until'] or ''}", markup=False, highlight=False)


@user_app.command("unlock")
def user_unlock(
    username: Annotated[str, typer.Argument(help="用户名")],
    database: DbOption = None,
) -> None:
    """解除账号锁定（连续失败次数清零）。"""
    with db.unit_of_work(engine_for(database)) as session:
        user = session.exec(select(User).where(User.username == username)).first()
        if user is None:
            raise NotFound(f"没有账号 {username}")
        user.failed_logins, user.locked_until = 0, None
        session.add(user)
    out.print(f"账号 {username} 已解锁", markup=False, highlight=False)
