"""Read a large result in primary-key order, one short connection per batch.

The one home of the keyset loop the streaming exports use: each batch is a fresh
`WHERE id > last_id ORDER BY id LIMIT n` on its own connection, so no transaction is held
open while a file is written and memory stays bounded by one batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.ext.asyncio import AsyncEngine


async def keyset_rows(
    engine: AsyncEngine, query: Select[Any], key: ColumnElement[int], batch_size: int
) -> AsyncIterator[Any]:
    """Every row of `query` in ascending `key` order, fetched `batch_size` at a time.
    `key` must be unique and labelled `id` in the result (the primary key of the main table)."""
    last_id = 0
    while True:
        async with engine.connect() as conn:
            batch = (
                await conn.execute(query.where(key > last_id).order_by(key).limit(batch_size))
            ).all()
        if not batch:
            return
        for row in batch:
            yield row
        last_id = batch[-1].id
