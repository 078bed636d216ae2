"""Statements over a batch of keys (order ids, customer hashes, idempotency keys): "the rows
whose column is one of these".

PostgreSQL gets the batch as one array parameter (`column = ANY(:keys)`): one plan and one
parameter, whatever the batch size, instead of an IN list of hundreds of parameters that
SQLAlchemy expands for every execution (2.6 % of a served worker's CPU per recorded order) and
PostgreSQL plans anew for every length. SQLite gets IN lists of at most `SQLITE_PARAMETERS`
parameters: under the 999 that older SQLite builds allow a statement, with room for its other
parameters, and a whole `recordOrders` batch (MAX_BATCH = 500 orders) in one statement."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
SQLITE_PARAMETERS = 900


def among(conn: AsyncConnection, column: ColumnElement[Any], values: Sequence[Any]) -> Any:
    """`column` is one of `values` (a batch of `key_chunks`); the array has the column's type,
    and its parameter a name of its own (two in one statement do not collide)."""
    if conn.dialect.name == "postgresql":
        element = column.type
        if isinstance(element, String):
            # Not VARCHAR(n)[]: that cast cuts a longer key to n characters, and the cut key
            # would find a stored one that is its prefix.
            element = String()
        return column == any_(bindparam(None, list(values), type_=ARRAY(element)))
    return column.in_(values)


def key_chunks(conn: AsyncConnection, values: Sequence[T], width: int = 1) -> Iterator[Sequence[T]]:
    """`values` in the batches one statement takes: all at once on PostgreSQL (one array),
    elsewhere as many as SQLITE_PARAMETERS parameters hold (`width`: parameters per value, 2
    for a pair of columns); nothing for no values."""
    size = len(values) if conn.dialect.name == "postgresql" else SQLITE_PARAMETERS // width
    for start in range(0, len(values), size or 1):
        yield values[start : start + size]
