"""portal.adapters.raw_reads: a kept SELECT on the asyncpg connection answers the rows and values
SQLAlchemy's execution answers, is counted as a statement, and falls back to SQLAlchemy's
error handling when the connection fails. On SQLite there is no raw form."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import String, TypeDecorator, func, literal_column, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.raw_reads import connection_lost, fetch_rows, fetch_value, raw_select
from portal.adapters.tables import conversions
from tests.conftest import StatementCounter
from tests.factories import build_world


class Whispered(TypeDecorator[str]):
    """A type whose raw value is not the final one: SQLAlchemy lowers it."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.lower()


def _statement(program_ids: list[int]):  # type: ignore[no-untyped-def]
    c = conversions.c
    return (
        select(
            c.id,
            c.tracking_time,
            c.order_value,
            c.commission_breakdown,
            c.basket,
            type_coerce(c.status, Whispered).label("whispered"),
        )
        .where(c.program_id.in_(program_ids), c.tracking_time < datetime(2100, 1, 1, tzinfo=UTC))
        .order_by(c.id)
        .limit(20)
    )


async def test_the_raw_rows_are_sqlalchemys_rows(engine: AsyncEngine) -> None:
    world = await build_world(engine)
    stmt = _statement([world.ids["p1"], world.ids["p2"]])
    raw = raw_select(stmt, engine.dialect)
    if engine.dialect.name == "sqlite":
        assert raw is None
        return
    assert raw is not None
    # NUMERIC, UTC datetimes and JSON (decoded by the codec SQLAlchemy sets on asyncpg's
    # connections) need no processing; a type with a result processor keeps it.
    assert [label for label, _ in raw.convert] == ["whispered"]
    counter = StatementCounter(engine)
    try:
        async with engine.connect() as conn:
            expected = [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
            counter.reset()
            got = [dict(r._mapping) for r in await fetch_rows(conn, raw)]
            assert counter.count == 1 and counter.statements == [raw.sql]
            counted = select(func.count()).select_from(conversions)
            raw_count = raw_select(counted, engine.dialect)
            assert raw_count is not None
            assert await fetch_value(conn, raw_count) == await conn.scalar(counted)
    finally:
        counter.close()
    assert expected and got == expected
    assert got[0]["whispered"].islower() and isinstance(got[0]["basket"], list | dict)
    assert [type(v) for v in got[0].values()] == [type(v) for v in expected[0].values()]


async def test_a_failed_raw_read_is_raised_by_sqlalchemy(engine: AsyncEngine) -> None:
    """A connection that broke under the raw read: the statement runs once more through
    SQLAlchemy, which raises its own error (and invalidates the connection)."""
    if engine.dialect.name != "postgresql":
        return  # no raw reads on SQLite (above)
    world = await build_world(engine)
    raw = raw_select(_statement([world.ids["p1"]]), engine.dialect)
    assert raw is not None
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.close()  # under SQLAlchemy's feet
        with pytest.raises(Exception) as raised:
            await fetch_rows(conn, raw)
    assert raised.type.__module__.startswith("sqlalchemy")


async def test_other_errors_are_raised_as_they_are_without_a_second_run(
    engine: AsyncEngine,
) -> None:
    """Only a lost connection runs the statement again through SQLAlchemy: an error of the
    statement itself is raised once (the compiled path then hands the request on)."""
    raw = raw_select(select(literal_column("1 / 0")), engine.dialect)
    if engine.dialect.name != "postgresql":
        assert raw is None
        return
    assert raw is not None
    counter = StatementCounter(engine)
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception) as raised:
                await fetch_value(conn, raw)
            assert counter.count == 1
            assert await conn.scalar(select(literal_column("2"))) == 2  # still usable
    finally:
        counter.close()
    assert raised.type.__module__.startswith("asyncpg")


@pytest.mark.parametrize(
    "error, lost",
    [
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.ConnectionFailureError("connection failure"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle"), True),
        (asyncpg.exceptions.InterfaceError("connection is closed"), True),
        (asyncpg.exceptions.InternalClientError("another operation is in progress"), True),
        (ConnectionResetError(), True),
        (asyncpg.exceptions.DivisionByZeroError("division by zero"), False),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), False),
        (asyncpg.exceptions.UndefinedColumnError("no such column"), False),
    ],
)
def test_which_errors_mean_the_connection_may_be_gone(error: Exception, lost: bool) -> None:
    assert connection_lost(error) is lost


async def test_a_connection_still_failing_through_sqlalchemy_is_invalidated(
    engine: AsyncEngine,
) -> None:
    """A driver left mid-operation is no disconnect to SQLAlchemy: the raw read invalidates the
    connection itself, so it never goes back to the pool."""
    if engine.dialect.name != "postgresql":
        return
    raw = raw_select(select(literal_column("1")), engine.dialect)
    assert raw is not None
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        busy = asyncio.create_task(driver.fetchval("SELECT pg_sleep(0.3)"))
        await asyncio.sleep(0.05)
        with pytest.raises(Exception) as raised:
            await fetch_value(conn, raw)
        assert conn.invalidated
        busy.cancel()
    assert raised.type.__module__.startswith("sqlalchemy")  # from the run through SQLAlchemy
