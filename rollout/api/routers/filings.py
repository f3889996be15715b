"""``/api/filings``: a department's or a city's filing (备案), multipart with the document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlmodel import col, select

from rollout import db
from rollout.actions.documents import FILING_TYPES
from rollout.actions.filings import StoredFile, record_filing
from rollout.actions.scope import visible_task
from rollout.api.deps import Ctx, CtxDep
from rollout.api.errors import error_responses
from rollout.api.schemas.filings import FilingCreate, FilingPublic
from rollout.api.uploads import form_file, form_text, read_form
from rollout.models import Filing

router = APIRouter(prefix="/api/filings", tags=["备案"])

_FORM_SCHEMA = {
    "type": "object",
    "required": ["milestone", "document_number", "title", "issued_on", "file"],
    "properties": {
        **{
            name: {k: v for k, v in prop.items() if k != "title"}
            for name, prop in FilingCreate.model_json_schema()["properties"].items()
        },
        "file": {"type": "string", "format": "binary",
                 "description": "文件：PDF、OFD、DOC、DOCX（按内容识别，不看扩展名），不超过上传上限（默认 20 MB）"},
    },
}


@router.post(
    "", response_model=FilingPublic, status_code=201,
    responses=error_responses(403, 404, 409, 413, 415),
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}},
)
async def create_filing(request: Request, ctx: CtxDep) -> FilingPublic:
    """备案：上传文件并提交本单位的备案任务。逾期备案照收并记逾期工作日数；再次备案替代前一次，两次都保留。"""
    form = await read_form(request, ctx.settings)
    raw = {k: form_text(form, k) for k in FilingCreate.model_fields}
    try:
        fields = FilingCreate.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("form", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    upload = form_file(form)
    return await run_in_threadpool(_file, ctx, fields, upload)


def _file(ctx: Ctx, fields: FilingCreate, upload) -> FilingPublic:
    files = ctx.state.files
    with files.stage(upload, max_bytes=ctx.settings.max_upload_bytes, allowed=FILING_TYPES) as st:
        with db.unit_of_work(ctx.engine) as session:
            filing = record_filing(
                session, ctx.actor, milestone_key=fields.milestone,
                document_number=fields.document_number, title=fields.title,
                issued_on=fields.issued_on, domain_key=fields.domain, org_code=fields.org,
                note=fields.note,
                file=StoredFile(st.sha256, st.filename, st.type.mime, st.size_bytes),
                now=ctx.now, calendar=ctx.calendar, request_id=ctx.request_id,
            )
            out = FilingPublic.model_validate(filing, from_attributes=True)
        st.keep()
    return out


@router.get("/by-task/{task_id}", response_model=list[FilingPublic], responses=error_responses(404))
def task_filings(
    task_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="任务编号")], ctx: CtxDep
) -> list[FilingPublic]:
    """一项备案任务的全部备案（最新在前，含被替代的）。"""
    with db.read_session(ctx.engine) as session:
        task = visible_task(session, ctx.actor, task_id)
        rows = session.exec(
            select(Filing).where(Filing.task_id == task.id).order_by(col(Filing.id).desc())
        ).all()
        return [FilingPublic.model_validate(f, from_attributes=True) for f in rows]
