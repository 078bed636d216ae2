"""Inserting many rows of one table and getting their ids back, in input order.

PostgreSQL: ids are drawn from the table's sequence in one statement and the rows go in with
one binary COPY: no per-parameter processing in SQLAlchemy and no statement to plan, ~5× the
throughput of a multi-row INSERT for a batch of 2,000 requests. Elsewhere (SQLite): one
executemany INSERT … RETURNING.

Either way the batch is all or nothing: a unique or foreign-key violation of any row raises
IntegrityError with nothing of the batch written (the caller's transaction stays usable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Inserts `rows` (dicts with the same keys, without `id`) and returns their new ids."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return await _copy_rows(conn, table, rows)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    async with conn.begin_nested():
        return list((await conn.execute(stmt, list(rows))).scalars().all())


async def _copy_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    import asyncpg

    columns = list(rows[0])
    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    values = itemgetter(*columns)
    records: list[tuple[Any, ...]] = []
    # The savepoint also makes SQLAlchemy begin the transaction before the driver is used raw.
    async with conn.begin_nested():
        ids = (
            await conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"table": table.name, "count": len(rows)},
            )
        ).scalars()
        for new_id, row in zip(ids, rows, strict=True):
            record = [new_id, *values(row)] if len(columns) > 1 else [new_id, row[columns[0]]]
            for i in json_columns:  # asyncpg takes json as text
                record[i + 1] = _json(record[i + 1])
            records.append(tuple(record))
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            await driver.copy_records_to_table(
                table.name, records=records, columns=["id", *columns]
            )
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(f"COPY {table.name}", None, error) from error
    return [record[0] for record in records]


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
