"""Reads of the stored reference exchange rates: the list behind `exchangeRates` (keyset
paginated by day and currency) and the stored rates an import is compared with.

Rates are reference data: every authenticated viewer sees all of them, so no visibility
condition applies here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.adapters.pagination import InvalidPageRequest, Page, PageRequest
from portal.adapters.rate_store import rate_table
from portal.adapters.reader import Listing, SortDirection, counter
from portal.adapters.tables import exchange_rates
from portal.domain.exchange_rates import RateTable, ReferenceRate

_CURSOR_KIND = "rate"


@dataclass(frozen=True, slots=True)
class RateFilter:
    base: str = "EUR"
    currencies: tuple[str, ...] = ()
    """Only these currencies; empty = all."""
    first_day: date | None = None
    """Days on or after this one."""
    last_day: date | None = None
    """Days on or before this one."""


def _conditions(rate_filter: RateFilter) -> list[ColumnElement[bool]]:
    c = exchange_rates.c
    conditions: list[ColumnElement[bool]] = [c.base == rate_filter.base]
    if rate_filter.currencies:
        conditions.append(c.currency.in_(rate_filter.currencies))
    if rate_filter.first_day is not None:
        conditions.append(c.day >= rate_filter.first_day)
    if rate_filter.last_day is not None:
        conditions.append(c.day <= rate_filter.last_day)
    return conditions


def _encode(row: Any) -> str:
    payload = [_CURSOR_KIND, row.day.isoformat(), row.currency]
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode(cursor: str, argument: str) -> tuple[date, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, day, currency = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if kind != _CURSOR_KIND or not isinstance(day, str) or not isinstance(currency, str):
            raise ValueError("not a cursor of the exchange rates")
        return date.fromisoformat(day), currency
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidPageRequest(
            "INVALID_CURSOR", f"{argument} is not a cursor of this list", (argument,)
        ) from None


def _rate(row: Any) -> ReferenceRate:
    # NUMERIC(28, 12) comes back with twelve decimals on PostgreSQL, as written on SQLite:
    # normalize so that both answer the rate as published ("0.8512", not "0.851200000000").
    rate: Decimal = row.rate
    return ReferenceRate(row.base, row.currency, row.day, rate.normalize())


class RateReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def list_rates(
        self, rate_filter: RateFilter, direction: SortDirection, page: PageRequest
    ) -> Listing:
        """Rates ordered by day (in `direction`), then by currency A–Z within a day."""
        page = page.validated()
        c = exchange_rates.c
        where = and_(*_conditions(rate_filter))
        stmt = select(c.base, c.currency, c.day, c.rate).where(where)
        forward = not page.backwards
        days_ascending = direction is SortDirection.ASC
        cursor = page.before if page.backwards else page.after
        if cursor is not None:
            day, currency = _decode(cursor, "before" if page.backwards else "after")
            # Strictly after (day, currency) in the direction of travel.
            later_day = (c.day > day) if days_ascending == forward else (c.day < day)
            later_currency = (c.currency > currency) if forward else (c.currency < currency)
            stmt = stmt.where(or_(later_day, and_(c.day == day, later_currency)))
        day_order = c.day.asc() if days_ascending == forward else c.day.desc()
        currency_order = c.currency.asc() if forward else c.currency.desc()
        async with self.engine.connect() as conn:
            rows: Sequence[Row[Any, Any, Any, Any]] = (
                await conn.execute(stmt.order_by(day_order, currency_order).limit(page.size + 1))
            ).all()
        more = len(rows) > page.size
        rows = list(rows[: page.size])
        if not forward:
            rows.reverse()
        result = Page(
            items=[_rate(r) for r in rows],
            cursors=[_encode(r) for r in rows],
            has_next_page=more if forward else page.before is not None,
            has_previous_page=more if not forward else page.after is not None,
        )
        return Listing(result, counter(self.engine, exchange_rates, where))

    async def table(self, day: date, base: str) -> RateTable:
        """The rates that convert on `day` (that day and the fallback days before it)."""
        async with self.engine.connect() as conn:
            return await rate_table(conn, day, base)


async def stored_rates(
    conn: AsyncConnection, base: str, first_day: date, last_day: date
) -> dict[tuple[str, date], Decimal]:
    """The stored rates of `base` from `first_day` to `last_day` (inclusive), by (currency, day)."""
    c = exchange_rates.c
    result = await conn.execute(
        select(c.currency, c.day, c.rate).where(
            c.base == base, c.day >= first_day, c.day <= last_day
        )
    )
    return {(r.currency, r.day): r.rate for r in result}
