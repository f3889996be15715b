"""Multipart forms and the file store (a folder; files named by their SHA-256).

Starlette caps each multipart *text* part at 1 MiB by default and answers a bare 400; the API
parses forms itself with ``max_part_size`` from settings (``max_form_field_bytes``) and turns an
oversized field into a deliberate 413 with a Chinese message. File parts are not capped by
Starlette (they spool to a temporary file); their limit is ``max_upload_bytes``, checked from
``Content-Length`` before the body is read and again from the bytes received.

A file is written to ``<store>/.incoming/`` while hashing, and moved to ``<store>/<aa>/<sha256>``
only after the database transaction committed (``Staged.keep``); a rejected request leaves no
file behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, UploadFile
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from rollout.actions.documents import DocumentType, require_type
from rollout.errors import InvalidInput, TooLarge, UnsupportedDocument
from rollout.settings import Settings

CHUNK = 1024 * 1024
#: Allowance for the text fields and multipart framing on top of the file itself (bytes).
FORM_OVERHEAD_BYTES = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"


async def read_form(request: Request, settings: Settings) -> FormData:
    """The request's multipart form, with the configured limits.

    Raises ``UnsupportedDocument`` (415, code ``unsupported_media_type``) for another content
    type, ``TooLarge`` (413) when ``Content-Length`` exceeds the upload limit plus 1 MiB or a text
    field exceeds ``max_form_field_bytes``, ``InvalidInput`` (422) for a malformed body.
    """
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise UnsupportedDocument("请以 multipart/form-data 表单上传", code="unsupported_media_type")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_upload_bytes + FORM_OVERHEAD_BYTES:
        raise TooLarge(f"上传内容 {_mb(int(length))} 超过上限 {_mb(settings.max_upload_bytes)}")
    try:
        return await request.form(
            max_files=1, max_fields=20, max_part_size=settings.max_form_field_bytes
        )
    except StarletteHTTPException as exc:
        detail = str(exc.detail)
        if "maximum size" in detail:
            raise TooLarge(
                f"表单文字字段超过上限 {settings.max_form_field_bytes // 1024} KB，请精简后再提交"
            ) from None
        if "Too many" in detail:
            raise InvalidInput("表单字段或文件过多（只能上传一个文件）", field="file") from None
        raise InvalidInput("表单无法解析（multipart 格式错误）", field="body") from None


def form_text(form: FormData, name: str) -> str | None:
    """Text field ``name`` (None if absent or empty); a file part there is ``InvalidInput``."""
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"字段 {name} 应为文字，不是文件", field=name)
    return value


def form_file(form: FormData, name: str = "file") -> UploadFile:
    """File part ``name``; ``InvalidInput`` when it is missing or is a text field."""
    value = form.get(name)
    if value is None or isinstance(value, str):
        raise InvalidInput(f"缺少上传文件（字段 {name}）", field=name)
    return value  # type: ignore[return-value]


@dataclass
class Staged:
    """A file received and hashed, waiting in ``.incoming`` for the commit."""

    path: Path
    sha256: str
    size_bytes: int
    filename: str
    type: DocumentType
    store: FileStore
    kept: bool = False

    def keep(self) -> Path:
        """Move the file to its place by hash (after the commit); returns the final path."""
        final = self.store.path_of(self.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, final)
        self.kept = True
        return final


class FileStore:
    """Files named by SHA-256 under ``root`` (``<root>/<first two hex>/<sha256>``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.incoming = self.root / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Where the file with this digest is (or would be) kept."""
        return self.root / sha256[:2] / sha256

    @contextmanager
    def stage(
        self, upload: UploadFile, *, max_bytes: int, allowed: tuple[DocumentType, ...]
    ) -> Iterator[Staged]:
        """Copy ``upload`` into ``.incoming`` while hashing; check its size and type.

        Raises ``TooLarge`` (over ``max_bytes``), ``UnsupportedDocument`` (type from the bytes
        not in ``allowed``), ``InvalidInput`` (empty file). The staged file is deleted when the
        block ends unless ``keep()`` was called.
        """
        fd, name = tempfile.mkstemp(dir=self.incoming, prefix="up-")
        path = Path(name)
        staged: Staged | None = None
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                upload.file.seek(0)
                while chunk := upload.file.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"文件超过上限 {_mb(max_bytes)}")
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise InvalidInput("上传的文件是空的", field="file")
            kind = require_type(path, allowed)
            filename = (upload.filename or "upload").replace("\x00", "")[-255:] or "upload"
            staged = Staged(path, digest.hexdigest(), size, filename, kind, self)
            yield staged
        finally:
            if staged is None or not staged.kept:
                path.unlink(missing_ok=True)
