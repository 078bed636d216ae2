"""What an engine reports: statements per request or job (the log line), connections in use
(metrics) and, when tracing is on, a span per statement."""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.observability import tracing
from portal.observability.metrics import DB_CAPACITY, DB_IN_USE
from portal.observability.scope import current_scope

_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()
# Connection housekeeping, not statements of the request's work (as the tests count them).
_HOUSEKEEPING = ("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_SPAN_KEY = "portal_span"


def instrument_engine(engine: AsyncEngine) -> None:
    """Idempotent: an engine shared by several apps (tests) is instrumented once."""
    sync_engine = engine.sync_engine
    if sync_engine in _instrumented:
        return
    _instrumented.add(sync_engine)
    DB_CAPACITY.inc(_capacity(sync_engine.pool))
    pool = sync_engine.pool
    event.listen(sync_engine, "before_cursor_execute", _before_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_execute)
    event.listen(sync_engine, "handle_error", _on_error)
    event.listen(pool, "checkout", _checked_out)
    event.listen(pool, "checkin", _checked_in)


def retire_engine(engine: AsyncEngine) -> None:
    """An instrumented engine the app disposed of (the compiled path's read pool at shutdown):
    its connections no longer count in `portal_db_pool_capacity`."""
    sync_engine = engine.sync_engine
    if sync_engine in _instrumented:
        _instrumented.discard(sync_engine)
        DB_CAPACITY.dec(_capacity(sync_engine.pool))


def _capacity(pool: Any) -> int:
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    return size() + max(overflow, 0) if callable(size) else 0


def _before_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    scope = current_scope.get()
    if scope is not None and not statement.lstrip()[:9].upper().startswith(_HOUSEKEEPING):
        scope.sql_statements += 1
    span = tracing.start_sql_span(statement, conn.dialect.name)
    if span is not None and context is not None:
        setattr(context, _SPAN_KEY, span)


def _after_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    span = getattr(context, _SPAN_KEY, None)
    if span is not None:
        span.end()


def _on_error(exception_context: Any) -> None:
    span = getattr(exception_context.execution_context, _SPAN_KEY, None)
    if span is not None:
        tracing.record_error(span, exception_context.original_exception)
        span.end()


_COUNTED = "portal_counted_in_use"


def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    record.info[_COUNTED] = True
    DB_IN_USE.inc()


def _checked_in(dbapi_connection: Any, record: Any) -> None:
    # Only a checkout this process counted: a connection taken out before the engine was
    # instrumented comes back uncounted and must not drive the gauge below zero.
    if record is not None and record.info.pop(_COUNTED, False):
        DB_IN_USE.dec()
