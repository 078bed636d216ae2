"""Persistence of daily reference exchange rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import and_, delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.tables import exchange_rates
from portal.domain.exchange_rates import RateTable, ReferenceRate, required_window

DEFAULT_BASE = "EUR"


async def upsert_rates(conn: AsyncConnection, rates: Sequence[ReferenceRate]) -> int:
    """Stores rates, replacing any earlier rate of the same (base, currency, day). Runs in the
    caller's transaction; returns how many rates were written."""
    if not rates:
        return 0
    keys = [(r.base, r.currency, r.day) for r in rates]
    c = exchange_rates.c
    for start in range(0, len(keys), 500):
        await conn.execute(
            delete(exchange_rates).where(
                tuple_(c.base, c.currency, c.day).in_(keys[start : start + 500])
            )
        )
    rows = [{"base": r.base, "currency": r.currency, "day": r.day, "rate": r.rate} for r in rates]
    for start in range(0, len(rows), 1000):
        await conn.execute(insert(exchange_rates), rows[start : start + 1000])
    return len(rows)


async def rate_table(conn: AsyncConnection, day: date, base: str = DEFAULT_BASE) -> RateTable:
    """The rates needed to convert on `day`: that day and the fallback days before it."""
    first, last = required_window(day)
    c = exchange_rates.c
    result = await conn.execute(
        select(c.base, c.currency, c.day, c.rate).where(
            and_(c.base == base, c.day >= first, c.day <= last)
        )
    )
    return RateTable(base, [ReferenceRate(r.base, r.currency, r.day, r.rate) for r in result])


async def rate_tables(
    conn: AsyncConnection, days: Sequence[date], base: str = DEFAULT_BASE
) -> dict[date, RateTable]:
    """Rate tables for several days with one query (for batches of orders)."""
    if not days:
        return {}
    earliest = required_window(min(days))[0]
    c = exchange_rates.c
    result = await conn.execute(
        select(c.base, c.currency, c.day, c.rate).where(
            c.base == base, c.day >= earliest, c.day <= max(days)
        )
    )
    all_rates = [ReferenceRate(r.base, r.currency, r.day, r.rate) for r in result]
    tables = {}
    for day in set(days):
        first, last = required_window(day)
        tables[day] = RateTable(base, [r for r in all_rates if first <= r.day <= last])
    return tables
