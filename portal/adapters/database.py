"""Engine creation and schema migration (alembic, one history for SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

VERSION_TABLE = "alembic_version"  # alembic's default, kept by migrations/env.py
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def json_text(value: Any) -> str:
    """JSON columns' text, by orjson: a basket of ten positions, its breakdown and its event
    cost a tenth of the standard library's time. The text differs only in spacing and in
    non-ASCII characters written as they are, not escaped. What orjson refuses (an integer
    beyond 64 bits) the standard library writes, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    kwargs.setdefault("json_serializer", json_text)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # A pooled connection is checked before use: after a restart or failover of the server (or
    # its connections being cut) a dead one is replaced instead of failing a request.
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def create_read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine of the compiled read path (portal.schema.compiled), next to `engine`.

    On PostgreSQL a pool of its own whose connections stay in autocommit and are not pinged
    at checkout: a compiled read is one round trip, where a checkout of `engine` costs three
    more (the ping's BEGIN, `;`, ROLLBACK) and setting and resetting autocommit two. Without
    the ping, a read on a connection the server dropped fails; SQLAlchemy then invalidates the
    pool's older connections, and the general path, whose pool pings, answers that request.
    On SQLite (a file, one writer) it is `engine` itself."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_async_engine(
        engine.url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=False,
        pool_reset_on_return=None,
        isolation_level="AUTOCOMMIT",
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # pysqlite opens a transaction only before INSERT/UPDATE/DELETE, so a SAVEPOINT before the
    # first write starts a transaction of its own, and its RELEASE commits: a later rollback of
    # the unit of work would not undo it. The driver leaves transactions to us; we BEGIN.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    """Units of work (which may write) take the write lock at BEGIN IMMEDIATE, waiting their turn;
    a deferred read transaction that later writes would fail at once under contention."""
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


@functools.cache
def head_revisions() -> frozenset[str]:
    """The latest migration(s) of the code."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def database_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The migration(s) the database is at (empty when it was never migrated); raises what
    the driver raises when the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        if not await conn.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE)):
            return frozenset()
        heads = await conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return frozenset(heads)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
