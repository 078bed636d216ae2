"""Statements over a batch of keys (order ids, customer hashes, idempotency keys): "the rows
whose column is one of these".

PostgreSQL gets the batch as one array parameter (`column = ANY(:keys)`): one plan and one
parameter, whatever the batch size, instead of an IN list of hundreds of parameters that
SQLAlchemy expands for every execution (2.6 % of a served worker's CPU per recorded order) and
PostgreSQL plans anew for every length. SQLite gets IN lists of at most `SQLITE_CHUNK`
parameters."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
SQLITE_CHUNK = 400


def among(conn: AsyncConnection, column: ColumnElement[Any], values: Sequence[str]) -> Any:
    """`column` is one of the text `values` (a batch of `key_chunks`)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("keys", list(values), type_=ARRAY(String())))
    return column.in_(values)


def key_chunks(conn: AsyncConnection, values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in the batches one statement takes: all at once on PostgreSQL (one array),
    SQLITE_CHUNK at a time elsewhere; nothing for no values."""
    size = len(values) if conn.dialect.name == "postgresql" else SQLITE_CHUNK
    for start in range(0, len(values), size or 1):
        yield values[start : start + size]
