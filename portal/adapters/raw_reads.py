"""A kept SELECT run on the asyncpg connection itself (the compiled read path on PostgreSQL).

SQLAlchemy's execution of a compiled statement (execution context, parameter processing,
result rows and their type processors) costs about a fifth of a compiled dashboard read. The
compiled path keeps its statements per viewer and variables (`Compiler.prepare`), so the
statement's SQL text and parameters can be made once, by SQLAlchemy, and then run directly:

- `raw_select` compiles the statement for the dialect (expanding `IN` lists), applies each
  parameter's bind processor, and notes the columns whose value SQLAlchemy would convert:
  every column with a result processor except those whose raw asyncpg value is already the
  final one (`RAW_VALUES_ARE_FINAL`, declared with the types in portal.adapters.types);
- `fetch_rows` / `fetch_value` run it on the connection's asyncpg connection and announce it
  to the engine's `before_cursor_execute` / `after_cursor_execute` listeners as SQLAlchemy
  would: statement counts per request, the tests' counters and tracing spans see it;
- a lost connection (`connection_lost`: the server dropped it) runs the statement once more
  through SQLAlchemy, whose error handling invalidates the pool's dead connections and raises
  as it always does; other errors are raised as they are (either way the compiled path then
  hands the request to the general path).

Anything else (SQLite, a statement whose parameters cannot be mapped) keeps the SQLAlchemy path
(`raw_select` answers None). The answers are the same, byte for byte
(tests/integration/test_compiled_reads_differential.py on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.types import RAW_VALUES_ARE_FINAL

log = logging.getLogger("portal.compiled")


@dataclass(frozen=True, slots=True)
class RawSelect:
    statement: Select[Any]
    """The SQLAlchemy form, run when the raw one fails."""
    sql: str
    params: tuple[Any, ...]
    convert: tuple[tuple[str, Callable[[Any], Any]], ...]
    """(label, result processor) of the columns whose raw value is not the final one."""


class MappedRow:
    """A row as the compiled path's builders and `SortKey.encode` read it (`row._mapping`)."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: Any) -> None:
        self._mapping = mapping


def prepared_select(stmt: Select[Any], dialect: Dialect) -> RawSelect | Select[Any]:
    """What `fetch_rows` and `fetch_value` run: the raw form where there is one, else the
    statement itself."""
    return raw_select(stmt, dialect) or stmt


def raw_select(stmt: Select[Any], dialect: Dialect) -> RawSelect | None:
    """The statement as SQL text and positional parameters for asyncpg, or None (then the
    statement runs through SQLAlchemy, which reports whatever made this fail)."""
    if dialect.name != "postgresql" or dialect.driver != "asyncpg":
        return None
    try:
        return _raw_select(stmt, dialect)
    except Exception:
        log.warning("no raw form of a compiled statement; SQLAlchemy runs it", exc_info=True)
        return None


def _raw_select(stmt: Select[Any], dialect: Dialect) -> RawSelect | None:
    values = _processed_parameters(stmt, dialect)
    expanded = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    names = expanded.positiontup
    if values is None or names is None or any(n not in values for n in names):
        return None
    convert = []
    for column in stmt.selected_columns:
        if type(column.type) in RAW_VALUES_ARE_FINAL:
            continue
        # The dialect's own implementation of the type, as SQLAlchemy's execution uses it (one
        # that needs the column's type code, as PostgreSQL's NUMERIC does, raises: no raw form).
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            convert.append((str(column.key), processor))
    return RawSelect(stmt, expanded.string, tuple(values[n] for n in names), tuple(convert))


def _processed_parameters(stmt: Select[Any], dialect: Dialect) -> dict[str, Any] | None:
    """Every parameter's value after its type's bind processor, by the name it has in the
    expanded statement (an `IN` list `ids_1` becomes `ids_1_1`, `ids_1_2`, …); None when a
    parameter's name cannot be matched to its bind."""
    compiled = stmt.compile(dialect=dialect)
    values: dict[str, Any] = {}
    for name, value in compiled.construct_params(escape_names=False).items():
        bind = compiled.binds.get(name)
        if bind is None:
            return None
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.expanding:
            for index, item in enumerate(value, start=1):
                values[f"{name}_{index}"] = process(item) if process else item
        else:
            values[name] = process(value) if process else value
    return values


async def fetch_rows(conn: AsyncConnection, raw: RawSelect | Select[Any]) -> Sequence[Any]:
    """The statement's rows, each with `_mapping` (label → value)."""
    if not isinstance(raw, RawSelect):
        return (await conn.execute(raw)).all()
    try:
        records = await _run(conn, raw, "fetch")
    except Exception as error:
        if not connection_lost(error):
            raise

        async def again() -> Sequence[Any]:
            return (await conn.execute(raw.statement)).all()

        rows: Sequence[Any] = await _through_sqlalchemy(conn, again)
        return rows
    if not raw.convert:
        return [MappedRow(r) for r in records]
    rows = []
    for record in records:
        mapping = dict(record.items())
        for label, process in raw.convert:
            mapping[label] = process(mapping[label])
        rows.append(MappedRow(mapping))
    return rows


async def fetch_value(conn: AsyncConnection, raw: RawSelect | Select[Any]) -> Any:
    """The first column of the first row (a count)."""
    if not isinstance(raw, RawSelect):
        return await conn.scalar(raw)
    try:
        return await _run(conn, raw, "fetchval")
    except Exception as error:
        if not connection_lost(error):
            raise
        return await _through_sqlalchemy(conn, lambda: conn.scalar(raw.statement))


async def _through_sqlalchemy(conn: AsyncConnection, run: Callable[[], Awaitable[Any]]) -> Any:
    """The statement once more, through SQLAlchemy: on a dead connection its error handling
    invalidates the pool's older connections. A connection that still fails is invalidated
    here (a driver left mid-operation is not a disconnect to SQLAlchemy) so that it never goes
    back to the pool."""
    try:
        return await run()
    except Exception:
        if not conn.invalidated:
            await conn.invalidate()
        raise


SERVER_ENDED_SESSION = ("57P01", "57P02", "57P03")
"""admin_shutdown (pg_terminate_backend, a restart), crash_shutdown, cannot_connect_now."""


def connection_lost(error: BaseException) -> bool:
    """Whether an error of a raw read may mean the connection is gone: any error of the driver
    itself (a closed connection, a socket error) and PostgreSQL's connection exceptions (class
    08) and ended sessions. Then SQLAlchemy runs the statement again, detects the disconnect
    and replaces the pool's dead connections. An error of the statement itself (a statement
    timeout, a value PostgreSQL refuses) is raised as it is: the compiled path then hands the
    request to the general path, which reports it."""
    if not isinstance(error, asyncpg.PostgresError):
        return True
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith("08") or state in SERVER_ENDED_SESSION


class _Context:
    """What the listeners of `before_cursor_execute` keep per statement (a tracing span)."""


@contextmanager
def announced(conn: AsyncConnection, sql: str, params: Any) -> Iterator[None]:
    """A statement run on the driver directly, told to the engine's `before_cursor_execute` /
    `after_cursor_execute` listeners as SQLAlchemy tells its own: it is counted and traced."""
    sync = conn.sync_connection
    assert sync is not None
    context = _Context()
    dispatch = sync.dispatch
    dispatch.before_cursor_execute(sync, None, sql, params, context, False)
    try:
        yield
    finally:
        dispatch.after_cursor_execute(sync, None, sql, params, context, False)


async def _run(conn: AsyncConnection, raw: RawSelect, method: str) -> Any:
    adapted = await conn.get_raw_connection()
    driver = adapted.driver_connection
    assert driver is not None
    with announced(conn, raw.sql, raw.params):
        return await getattr(driver, method)(raw.sql, *raw.params)
