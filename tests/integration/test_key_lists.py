"""portal.adapters.key_lists: "the rows whose column is one of these keys", on SQLite (IN lists
of at most SQLITE_PARAMETERS parameters) and PostgreSQL (one array per list, of the column's
type, whatever its length)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters.key_lists import SQLITE_PARAMETERS, among, key_chunks
from tests.conftest import StatementCounter

metadata = MetaData()
items = Table(
    "key_list_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(20), nullable=False),
    Column("owner", BigInteger, nullable=False),
)


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(items),
            [{"id": n, "code": f"c{n}", "owner": n % 7} for n in range(1, 2001)],
        )
        try:
            yield conn
        finally:
            await conn.rollback()
            await conn.run_sync(metadata.drop_all)
            await conn.commit()


async def _ids(conn: AsyncConnection, codes: list[str], owners: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in key_chunks(conn, codes):
        stmt = select(items.c.id).where(among(conn, items.c.code, chunk))
        if owners:  # a second list in the same statement, of another type
            stmt = stmt.where(among(conn, items.c.owner, owners))
        found.update((await conn.execute(stmt)).scalars())
    return found


async def test_two_lists_in_one_statement_keep_their_own_values(conn: AsyncConnection) -> None:
    codes = [f"c{n}" for n in range(1, 50)] + ["missing"]
    assert await _ids(conn, codes, [3]) == {n for n in range(1, 50) if n % 7 == 3}
    assert await _ids(conn, codes, []) == set(range(1, 50))
    assert await _ids(conn, [], [3]) == set()


async def test_a_key_longer_than_the_column_does_not_find_its_prefix(
    conn: AsyncConnection,
) -> None:
    await conn.execute(insert(items), [{"id": 5000, "code": "x" * 20, "owner": 1}])
    assert await _ids(conn, ["x" * 25], []) == set()
    assert await _ids(conn, ["x" * 25], [1]) == set()
    assert await _ids(conn, ["x" * 20], [1]) == {5000}


async def test_a_long_list_takes_one_statement_per_chunk(
    conn: AsyncConnection, engine: AsyncEngine
) -> None:
    codes = [f"c{n}" for n in range(1, 2001)]
    counter = StatementCounter(engine)
    try:
        found = await _ids(conn, codes, [])
    finally:
        counter.close()
    assert found == set(range(1, 2001))
    chunks = 1 if conn.dialect.name == "postgresql" else -(-2000 // SQLITE_PARAMETERS)
    assert counter.count == chunks


async def test_a_full_order_batch_is_one_chunk_and_pairs_fit_sqlite(conn: AsyncConnection) -> None:
    assert len(list(key_chunks(conn, list(range(500))))) == 1
    pairs = [len(c) for c in key_chunks(conn, list(range(2000)), width=2)]
    if conn.dialect.name == "sqlite":
        assert max(pairs) * 2 <= SQLITE_PARAMETERS < 999
    else:
        assert pairs == [2000]
    assert list(key_chunks(conn, [])) == []
