"""Unit of work: one connection and one transaction per use case; jobs are enqueued only
after the transaction committed, and receive ids, never objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Insert, Update, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters.tables import idempotency_keys

AfterCommit = Callable[[], Awaitable[Any]]


class UnitOfWork:
    """`writes=False`: a unit of work that only reads (and writes temporary tables); on SQLite
    it does not take the database's write lock, so it runs beside one that writes."""

    def __init__(self, engine: AsyncEngine, queue: Any = None, *, writes: bool = True) -> None:
        self.engine = engine
        self.queue = queue
        self.writes = writes
        self._conn: AsyncConnection | None = None
        self._after_commit: list[AfterCommit] = []
        # Whether this transaction's events already queue the webhook dispatcher.
        self.dispatch_queued = False
        self.now = datetime.now(UTC)

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self.engine.connect()
        await self._conn.execution_options(sqlite_begin="IMMEDIATE" if self.writes else "DEFERRED")
        await self._conn.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> AsyncConnection:
        assert self._conn is not None, "use the unit of work inside `async with`"
        return self._conn

    def after_commit(self, callback: AfterCommit) -> None:
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.conn.commit()
        callbacks, self._after_commit = self._after_commit, []
        self.dispatch_queued = False
        for callback in callbacks:
            await callback()

    async def rollback(self) -> None:
        await self.conn.rollback()
        self._after_commit.clear()
        self.dispatch_queued = False

    # Small conveniences shared by repositories.

    async def insert(self, stmt: Insert) -> int:
        result = await self.conn.execute(stmt.returning(stmt.table.c.id))  # type: ignore[attr-defined]
        return int(result.scalar_one())

    async def first(self, stmt: Any) -> Row[Any] | None:
        return (await self.conn.execute(stmt)).first()

    async def execute(self, stmt: Update | Any, parameters: Any = None) -> Any:
        return await self.conn.execute(stmt, parameters)

    # Idempotency keys of create mutations: the same key from the same user answers with the
    # object the first call created.

    async def idempotent_result(self, user_id: int, mutation: str, key: str | None) -> int | None:
        if key is None:
            return None
        row = await self.first(
            select(idempotency_keys.c.result_id).where(
                idempotency_keys.c.user_id == user_id,
                idempotency_keys.c.mutation == mutation,
                idempotency_keys.c.key == key,
            )
        )
        return None if row is None else row.result_id

    async def remember_idempotent(
        self, user_id: int, mutation: str, key: str | None, result_id: int
    ) -> None:
        if key is None:
            return
        await self.conn.execute(
            insert(idempotency_keys).values(
                user_id=user_id,
                mutation=mutation,
                key=key,
                result_id=result_id,
                created_at=self.now,
            )
        )
