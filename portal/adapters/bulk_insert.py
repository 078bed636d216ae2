"""Inserting many rows of one table and getting their ids back, in input order.

Rows come as lists of values in the order of `columns` (no dict per row, no mapping of names
to positions per row). PostgreSQL: the rows go in with one binary COPY, their ids drawn from
the table's sequence beforehand when the caller wants them — no per-parameter processing in
SQLAlchemy and no statement to plan, ~5× the throughput of a multi-row INSERT for a batch of
2,000 requests. Elsewhere (SQLite): one executemany INSERT.

Either way the batch is all or nothing: a unique or foreign-key violation of any row raises
IntegrityError with nothing of the batch written (the caller's transaction stays usable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.database import json_text
from portal.adapters.raw_reads import announced


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[list[Any]],
    *,
    ids: bool = True,
) -> list[int]:
    """Inserts `rows` (values in `columns` order, without `id`) and returns their new ids in
    order (`ids=False`: returns nothing, and PostgreSQL spares
    fetching them)."""
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        return await _copy_rows(conn, table, columns, rows, ids)
    mappings = [dict(zip(columns, row, strict=True)) for row in rows]
    async with conn.begin_nested():
        if not ids:
            await conn.execute(insert(table), mappings)
            return []
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list((await conn.execute(stmt, mappings)).scalars().all())


async def _copy_rows(
    conn: AsyncConnection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[list[Any]],
    with_ids: bool,
) -> list[int]:
    import asyncpg  # type: ignore[import-untyped]

    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    records: Sequence[Sequence[Any]] = rows
    if json_columns:  # asyncpg takes json as text
        records = [_with_json_text(row, json_columns) for row in rows]
    # The savepoint also makes SQLAlchemy begin the transaction before the driver is used raw.
    async with conn.begin_nested():
        ids: list[int] = []
        copied = list(columns)
        if with_ids:
            ids = (
                await conn.execute(
                    text(
                        "SELECT array_agg(nextval(pg_get_serial_sequence(:table, 'id'))) "
                        "FROM generate_series(1, :count)"
                    ),
                    {"table": table.name, "count": len(rows)},
                )
            ).scalar_one()
            records = [(new_id, *row) for new_id, row in zip(ids, records, strict=True)]
            copied.insert(0, "id")
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        statement = f"COPY {table.name} ({', '.join(copied)}) FROM STDIN (FORMAT binary)"
        try:
            with announced(conn, statement, ()):
                await driver.copy_records_to_table(table.name, records=records, columns=copied)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(statement, None, error) from error
    return ids


async def insert_mappings(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], *, ids: bool = True
) -> list[int]:
    """`insert_rows` for rows given as mappings of column names, every row with the same
    columns, in any order (columns left out take their server defaults: a table whose columns
    have Python-side defaults cannot be filled this way)."""
    if not rows:
        return []
    columns = list(rows[0])
    if any(column.default is not None for column in table.c if column.name not in columns):
        raise ValueError(f"{table.name}: a column left out has a Python-side default")
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        raise ValueError(f"{table.name}: the rows do not have the same columns")
    values = [list(map(row.__getitem__, columns)) for row in rows]
    return await insert_rows(conn, table, columns, values, ids=ids)


def _with_json_text(row: list[Any], json_columns: list[int]) -> list[Any]:
    """The row with its JSON values as text, written as SQLAlchemy's INSERT writes them."""
    record = row.copy()
    for i in json_columns:
        if record[i] is not None:
            record[i] = json_text(record[i])
    return record
