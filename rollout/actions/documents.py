"""Document numbers (文号) and document types read from the bytes, not the file name.

文号 (GB/T 9704-2012 党政机关公文格式 7.2.4): issuer abbreviation, the year in hexagonal brackets
〔〕, the serial number without leading zeros, then 号, e.g. ``吉教发〔2020〕12号``.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rollout.errors import InvalidInput, UnsupportedDocument

_NUMBER = re.compile(r"^(?P<issuer>[\u4e00-\u9fff]{2,16})〔(?P<year>\d{4})〕(?P<serial>[1-9]\d{0,4})号$")
_WRONG_BRACKETS = re.compile(r"[\[\]【】（）()［］〈〉<>{}]")

EXAMPLE = "吉教发〔2020〕12号"


@dataclass(frozen=True)
class DocumentNumber:
    """A parsed 文号: ``issuer`` (发文机关代字), ``year``, ``serial``."""

    issuer: str
    year: int
    serial: int


def parse_document_number(text: str, issued_on: date | None = None) -> DocumentNumber:
    """Parse and check a 文号; ``issued_on`` (local day), when given, must be in its year.

    Raises ``InvalidInput`` with ``field="document_number"`` and a Chinese message saying what
    is wrong (square brackets instead of 〔〕, leading zeros, year mismatch, …).
    """
    value = text.strip()
    m = _NUMBER.match(value)
    if m is None:
        if _WRONG_BRACKETS.search(value):
            msg = f"文号「{value}」的年份须用六角括号〔〕，不能用 [ ] 或其他括号，例：{EXAMPLE}"
        elif re.search(r"〔\d{4}〕0\d", value):
            msg = f"文号「{value}」的序号不编虚位（不加前导 0），例：{EXAMPLE}"
        else:
            msg = f"文号「{value}」格式不正确，应为 发文机关代字〔年份〕序号号，例：{EXAMPLE}"
        raise InvalidInput(msg, field="document_number")
    num = DocumentNumber(m["issuer"], int(m["year"]), int(m["serial"]))
    if issued_on is not None and issued_on.year != num.year:
        raise InvalidInput(
            f"文号年份 {num.year} 与成文日期 {issued_on.isoformat()} 不在同一年", field="document_number"
        )
    return num


@dataclass(frozen=True)
class DocumentType:
    """A recognised file type: short name (``pdf``) and MIME type."""

    name: str
    mime: str


PDF = DocumentType("pdf", "application/pdf")
OFD = DocumentType("ofd", "application/ofd")
DOC = DocumentType("doc", "application/msword")
DOCX = DocumentType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
XLS = DocumentType("xls", "application/vnd.ms-excel")
XLSX = DocumentType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

#: What a filing (备案) may be: the notice or plan as issued.
FILING_TYPES = (PDF, OFD, DOC, DOCX)
#: What an evidence attachment may be: also spreadsheets (catalog tables).
ATTACHMENT_TYPES = (PDF, OFD, DOC, DOCX, XLS, XLSX)

_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")


def _zip_type(path: Path) -> DocumentType | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "OFD.xml" in names:
        return OFD
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            return XLSX
    return None


def _ole_type(path: Path) -> DocumentType | None:
    data = path.read_bytes()
    if "WordDocument".encode("utf-16-le") in data:
        return DOC
    if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
        return XLS
    return None


def detect_type(path: Path) -> DocumentType | None:
    """The type of the file at ``path`` from its bytes: ``%PDF-`` → PDF; a ZIP with ``OFD.xml``
    → OFD, with ``[Content_Types].xml`` and ``word/`` → DOCX (``xl/`` → XLSX); an OLE2 compound
    file (``D0 CF 11 E0``) with a ``WordDocument`` stream → DOC (``Workbook`` → XLS). None
    otherwise (the file name plays no part)."""
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(path)
    if head == _OLE2:
        return _ole_type(path)
    return None


def require_type(path: Path, allowed: tuple[DocumentType, ...]) -> DocumentType:
    """``detect_type`` limited to ``allowed``; raises ``UnsupportedDocument`` (Chinese message
    listing the accepted types) otherwise."""
    found = detect_type(path)
    if found is None or found not in allowed:
        names = "、".join(t.name.upper() for t in allowed)
        what = f"是 {found.name.upper()}" if found else "无法识别"
        raise UnsupportedDocument(f"文件内容{what}：只接受 {names}（按文件内容判断，不看扩展名）")
    return found
