"""Bulk inserts inside the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

``insert_rows`` is what ``rollout init`` uses to store a million tasks (issue 6). Values go
through each column's SQLAlchemy type exactly as an ``INSERT`` would (``AwareDateTime`` to UTC,
``StrEnum`` to its value), so the rows read back the same on both backends; on PostgreSQL they are
then written as COPY text by this module (psycopg's ``write_row`` cost about 13 s per million
rows here, the joined text lines about 3 s). The rows join the session's transaction: the
caller's unit of work still commits or rolls back everything together.

``begin_bulk_load`` is for a first load into an empty table on PostgreSQL. Measured on 774,432
tasks (2 cores, load 5-6 from other work): with the foreign keys and indexes in place the load
took 51 s in the server alone (about 36 s of it per-row foreign-key checks, 13 s index upkeep);
without them 1-2 s, then about 8 s to make the indexes and 2 s to check the keys once. It drops
them inside the transaction and ``end_bulk_load`` (at the latest the session's commit) makes them
again by the same names and definitions; PostgreSQL's DDL is transactional, so a failed load rolls
the drop back with everything else. Triggers stay (the dashboard counts,
``rollout.models.summary``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session

#: Rows per executemany call on SQLite (bounded memory for the driver's parameter list).
SQLITE_BATCH = 10_000
#: ``session.info`` key: table name → what ``begin_bulk_load`` dropped (None: nothing to drop).
SUSPENDED = "rollout.bulk.suspended"
#: Rows per write to the COPY stream on PostgreSQL.
COPY_CHUNK = 5_000
#: Memory for sorting while an index is made again (PostgreSQL ``maintenance_work_mem``).
INDEX_BUILD_MEMORY = "256MB"


def insert_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts of ``table``'s column names → Python values, every dict with the
    same keys) into ``table`` through ``session``'s connection and transaction; returns the count.

    Columns a row leaves out get their scalar Python default (``Field(default=...)``) or else the
    database's (an autoincrement primary key, a server default, NULL). PostgreSQL (psycopg 3):
    one ``COPY table (cols) FROM STDIN`` in text format (values after the column types' bind
    processing: NULL as ``\\N``, dates and aware datetimes in ISO 8601 with their offset, JSON as
    text, backslash, tab and line breaks escaped); SQLite: ``executemany`` in batches of ``SQLITE_BATCH``.
    Raises ``ValueError`` when the dicts' keys differ or name a column ``table`` lacks, or when a
    left-out column has a callable Python default; a constraint violation raises
    ``sqlalchemy.exc.IntegrityError`` (other database errors ``sqlalchemy.exc.DBAPIError``) and, as
    for an INSERT, leaves the transaction to be rolled back.
    """
    if not rows:
        return 0
    names = list(rows[0])
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    keys = set(names)
    for i, row in enumerate(rows):
        if row.keys() != keys:
            raise ValueError(f"row {i} of {table.name} has columns {sorted(row)}, not {sorted(keys)}")
    extra = _scalar_defaults(table, keys)
    columns = [table.c[n] for n in names] + [table.c[n] for n in extra]
    conn = session.connection()
    dialect = conn.dialect
    postgres = dialect.name == "postgresql"
    convert = [
        _converter(c.type._cached_bind_processor(dialect), as_text=postgres)  # noqa: SLF001
        for c in columns
    ]
    tail = [f(v) for f, v in zip(convert[len(names):], extra.values(), strict=True)]
    pairs = list(zip(names, convert, strict=False))

    if postgres:
        lines = ("\t".join([f(row[n]) for n, f in pairs] + tail) + "\n" for row in rows)
        _copy(conn, table, columns, lines)
    else:
        _executemany(conn, table, columns, [tuple([f(row[n]) for n, f in pairs] + tail)
                                            for row in rows])
    return len(rows)


def _escape(text: str) -> str:
    """``text`` as a COPY text-format field: backslash, tab, CR and LF as backslash sequences
    (PostgreSQL docs, COPY, "File Formats")."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t")
        text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_text(value: Any) -> str:
    """One value after its column's bind processing, as a field of COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, date):  # date and datetime (aware ones keep their offset)
        return value.isoformat()
    from psycopg.types.json import Json, Jsonb  # only called on PostgreSQL

    if isinstance(value, (Json, Jsonb)):  # SQLAlchemy's JSON bind processing wraps the object
        return _escape(json.dumps(value.obj, ensure_ascii=False))  # None: JSON null, as INSERT
    if isinstance(value, (dict, list)):
        return _escape(json.dumps(value, ensure_ascii=False))
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("insert_rows does not COPY binary columns")
    return _escape(str(value))


def _converter(proc: Callable[[Any], Any] | None, *, as_text: bool) -> Callable[[Any], Any]:
    """value → what the driver gets: the column type's bind processing (as an INSERT does), then
    for COPY the text field. Results for values other than plain ``str`` (dates, times, enums,
    numbers, None) are cached: a task batch repeats a few of them a million times."""
    cache: dict[Any, Any] = {}

    def plain(v: Any) -> Any:
        v = proc(v) if proc else v
        return _copy_text(v) if as_text else v

    def convert(v: Any) -> Any:
        if type(v) is str:
            return (_escape(v) if as_text else v) if proc is None else plain(v)
        try:
            return cache[v]
        except KeyError:
            out = cache[v] = plain(v)
            return out
        except TypeError:  # unhashable (JSON dicts and lists)
            return plain(v)

    return convert


def _scalar_defaults(table: sa.Table, given: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in table.c:
        if c.name in given or c.default is None:
            continue
        if not c.default.is_scalar:
            raise ValueError(f"column {table.name}.{c.name} needs a value (its default is computed)")
        out[c.name] = c.default.arg
    return out


def _copy(
    conn: sa.Connection, table: sa.Table, columns: list[sa.Column], lines: Iterable[str]
) -> None:
    import psycopg
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    dbapi = conn.connection.driver_connection
    try:
        with dbapi.cursor() as cur, cur.copy(statement) as copy:
            chunk: list[str] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) >= COPY_CHUNK:
                    copy.write("".join(chunk))
                    chunk.clear()
            if chunk:
                copy.write("".join(chunk))
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(
            statement.as_string(dbapi), None, exc, psycopg.Error
        ) from exc


def _executemany(
    conn: sa.Connection, table: sa.Table, columns: list[sa.Column], rows: list[tuple[Any, ...]]
) -> None:
    prep = conn.dialect.identifier_preparer
    statement = "INSERT INTO {} ({}) VALUES ({})".format(
        prep.format_table(table),
        ", ".join(prep.format_column(c) for c in columns),
        ", ".join("?" for _ in columns),
    )
    for start in range(0, len(rows), SQLITE_BATCH):
        conn.exec_driver_sql(statement, rows[start : start + SQLITE_BATCH])


@dataclass(frozen=True)
class _Dropped:
    constraints: list[tuple[str, str]]  # (name, pg_get_constraintdef)
    indexes: list[tuple[str, str]]  # (name, pg_get_indexdef)


def begin_bulk_load(session: Session, table: sa.Table) -> bool:
    """Prepare ``table`` for a large first load in ``session``'s transaction; True if it did.

    PostgreSQL and ``table`` empty: drops its foreign keys, unique constraints and indexes other
    than the primary key (taking an ACCESS EXCLUSIVE lock on ``table`` until the transaction
    ends) and registers ``end_bulk_load`` to run before the session commits. SQLite, a table
    that already has rows, or a second call in the same transaction: does nothing more (the
    emptiness is checked once per transaction). Raises what the driver raises (SQLAlchemy
    errors), e.g. when another transaction holds a lock past the server's lock timeout.
    """
    if SUSPENDED not in session.info:
        session.info[SUSPENDED] = {}
        for event in ("after_commit", "after_rollback"):
            sa.event.listen(session, event, lambda s, *_: s.info.pop(SUSPENDED, None), once=True)
    saved = session.info[SUSPENDED]
    if table.name in saved:
        return saved[table.name] is not None
    conn = session.connection()
    if conn.dialect.name != "postgresql" or conn.execute(
        sa.select(sa.exists().select_from(table))
    ).scalar_one():
        saved[table.name] = None
        return False
    reg = {"t": conn.dialect.identifier_preparer.format_table(table)}
    constraints = [(n, d) for n, d in conn.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('f', 'u') ORDER BY conname"
    ), reg)]
    indexes = list(conn.execute(sa.text(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid "
        "AND c.conrelid = x.indrelid) ORDER BY i.relname"
    ), reg))
    prep = conn.dialect.identifier_preparer
    for name, _ in constraints:
        conn.exec_driver_sql(f"ALTER TABLE {reg['t']} DROP CONSTRAINT {prep.quote(name)}")
    for name, _ in indexes:
        conn.exec_driver_sql(f"DROP INDEX {prep.quote(name)}")
    saved[table.name] = _Dropped(constraints, [(n, d) for n, d in indexes])
    sa.event.listen(session, "before_commit", lambda s: end_bulk_load(s, table), once=True)
    return True


def end_bulk_load(session: Session, table: sa.Table) -> None:
    """Make again what ``begin_bulk_load`` dropped from ``table`` (indexes, then unique and
    foreign-key constraints, each checked over all rows); nothing when it dropped nothing.

    Raises ``sqlalchemy.exc.IntegrityError`` when the loaded rows break a unique or foreign key;
    the transaction must then be rolled back (which also restores what was dropped).
    """
    saved = session.info.get(SUSPENDED, {})
    dropped = saved.get(table.name)
    if not dropped:
        return
    saved[table.name] = None
    conn = session.connection()
    name = conn.dialect.identifier_preparer.format_table(table)
    conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
    known = {i.name: i for i in table.indexes}
    for index_name, definition in dropped.indexes:
        if index_name in known:  # as the migrations made it (PostgreSQL's own text of a
            conn.execute(CreateIndex(known[index_name]))  # predicate reads back differently)
        else:
            conn.exec_driver_sql(definition)
    quote = conn.dialect.identifier_preparer.quote
    for con, definition in dropped.constraints:
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT {quote(con)} {definition}")
