"""``/api/orgs/{code}/contacts``: an organization's contacts, kept by it and the office."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from rollout import db
from rollout.actions.contacts import add_contact, delete_contact, list_contacts, update_contact
from rollout.api.deps import CtxDep
from rollout.api.errors import error_responses
from rollout.api.schemas.common import NO_CONTROL
from rollout.api.schemas.extensions import ContactCreate, ContactPublic, ContactUpdate

router = APIRouter(prefix="/api/orgs/{org_code}/contacts", tags=["联络人"])

Code = Annotated[str, Path(max_length=40, pattern=NO_CONTROL, description="机构代码")]
Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="联络人编号")]


def _out(c) -> ContactPublic:
    return ContactPublic.model_validate(c, from_attributes=True)


@router.get("", response_model=list[ContactPublic], responses=error_responses(403, 404))
def contacts(org_code: Code, ctx: CtxDep) -> list[ContactPublic]:
    """本单位的联络人（省政务公开办可看全部）。"""
    with db.read_session(ctx.engine) as session:
        return [_out(c) for c in list_contacts(session, ctx.actor, org_code)]


@router.post("", response_model=ContactPublic, status_code=201, responses=error_responses(403, 404))
def create(org_code: Code, body: ContactCreate, ctx: CtxDep) -> ContactPublic:
    """新增联络人（可按领域）；此后的催办通知发给当时的联络人。"""
    with db.unit_of_work(ctx.engine) as session:
        return _out(add_contact(session, ctx.actor, org_code, body.model_dump(), now=ctx.now,
                                request_id=ctx.request_id))


@router.patch("/{contact_id}", response_model=ContactPublic, responses=error_responses(403, 404))
def update(org_code: Code, contact_id: Id, body: ContactUpdate, ctx: CtxDep) -> ContactPublic:
    """修改联络人（只改给出的字段）。"""
    with db.unit_of_work(ctx.engine) as session:
        return _out(update_contact(session, ctx.actor, org_code, contact_id,
                                   body.model_dump(exclude_unset=True), now=ctx.now,
                                   request_id=ctx.request_id))


@router.delete("/{contact_id}", status_code=204, response_class=Response,
               responses=error_responses(403, 404))
def delete(org_code: Code, contact_id: Id, ctx: CtxDep) -> Response:
    """删除联络人（删除前的内容保留在审计记录中）。"""
    with db.unit_of_work(ctx.engine) as session:
        delete_contact(session, ctx.actor, org_code, contact_id, now=ctx.now, request_id=ctx.request_id)
    return Response(status_code=204)
