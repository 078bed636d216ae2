"""An exact SUM of an `ExactDecimal` column on both databases, inside the query: PostgreSQL sums
NUMERIC exactly; SQLite keeps such amounts as text and would sum them as binary floats, so
there the text is turned into integer millionths (the column's scale) and summed as 64-bit
integers. `decimal_of` turns the result back into a Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, literal

SCALE = 6  # ExactDecimal's default scale


def exact_sum(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    return func.sum(exact_value(column, dialect))


def exact_value(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The amount as something the database compares, subtracts and sums exactly: the column
    itself on PostgreSQL, its integer millionths on SQLite (turn a result back with
    `decimal_of`)."""
    if dialect != "sqlite":
        return column
    text = func.ltrim(column, "-")
    point = func.instr(text, ".")
    whole = case((point == 0, text), else_=func.substr(text, 1, point - 1))
    fraction = case((point == 0, literal("")), else_=func.substr(text, point + 1))
    micros = cast(whole, BigInteger) * 10**SCALE + cast(
        func.substr(fraction.concat("0" * SCALE), 1, SCALE), Integer
    )
    return case((func.substr(column, 1, 1) == "-", -micros), else_=micros)


def decimal_of(value: Any, dialect: str) -> Decimal:
    if value is None:
        return Decimal(0)
    if dialect != "sqlite":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    return Decimal(int(value)).scaleb(-SCALE)
