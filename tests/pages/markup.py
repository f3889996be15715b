"""Reading the pages' HTML in tests (standard library parser): elements by attribute."""

from __future__ import annotations

import re
from html.parser import HTMLParser

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page's forms."""
    m = CSRF.search(html)
    assert m, "page has no form with a csrf_token"
    return m.group(1)


class _Rows(HTMLParser):
    def __init__(self, attr: str, value: str) -> None:
        super().__init__()
        self.attr, self.value = attr, value
        self.inside = 0
        self.cells: list[dict[str, str]] = []
        self.current: dict[str, str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get(self.attr) == self.value:
            self.inside = 1
        elif tag == "tr" and self.inside:
            self.inside = 0
        if self.inside and tag in ("td", "th"):
            self.current = {k: v or "" for k, v in a.items()} | {"text": ""}
            self.cells.append(self.current)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.current = None
        if tag == "tr":
            self.inside = 0

    def handle_data(self, data):
        if self.current is not None:
            self.current["text"] += data


def row_cells(html: str, attr: str, value: str) -> list[dict[str, str]]:
    """The cells (attributes and ``text``) of the table row whose ``attr`` is ``value``."""
    p = _Rows(attr, value)
    p.feed(html)
    return p.cells


def cell_for(html: str, row_attr: str, row_value: str, milestone: str) -> dict[str, str]:
    """The matrix cell of a row for ``milestone`` (its ``data-milestone``)."""
    found = [c for c in row_cells(html, row_attr, row_value) if c.get("data-milestone") == milestone]
    assert len(found) == 1, f"no single {milestone} cell in row {row_value}"
    return found[0]
