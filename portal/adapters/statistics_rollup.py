"""The daily statistics rollup (`statistics_daily`): the count and sums of `conversions` per
program, UTC day, partner, currency and status.

Kept exact in the transaction of every conversion write, from one place: the conversion
stores (`conversion_store.insert_conversion` / `update_conversion`,
`conversion_batch_store.insert_conversions`) call `add`, and every writer — tracking, requests,
claims, validation, imports — goes through those stores. Amounts are integer micro-units
(amounts carry at most 6 decimals), so additions are exact on SQLite, which has no decimal type.

Concurrent writers of one key serialise on its row (an upsert); the keys of one call are
written in sorted order, so two batches never wait for each other crosswise (no deadlock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.tables import conversions, statistics_daily
from portal.adapters.unit_of_work import UnitOfWork

MICROS = Decimal(1_000_000)
# What a row of `conversions` contributes, by column.
KEY_COLUMNS = ("program_id", "partner_id", "tracking_time", "currency", "status")
MEASURE_COLUMNS = ("order_value", "commission")
Key = tuple[int, date, int, str, str]


def to_micros(amount: Decimal) -> int:
    micros = amount * MICROS
    if micros != micros.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimals")
    return int(micros)


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class Deltas:
    """What a set of conversion writes changes in the rollup, summed per key."""

    def __init__(self) -> None:
        self._by_key: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])

    def add(self, values: Mapping[str, Any], sign: int = 1) -> None:
        """Counts the conversion with these column values in (+1) or out (-1)."""
        key = (
            values["program_id"],
            utc_day(values["tracking_time"]),
            values["partner_id"],
            values["currency"],
            values["status"],
        )
        sums = self._by_key[key]
        sums[0] += sign
        sums[1] += sign * to_micros(values["order_value"])
        sums[2] += sign * to_micros(values["commission"])

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "program_id": key[0],
                "day": key[1],
                "partner_id": key[2],
                "currency": key[3],
                "status": key[4],
                "conversion_count": sums[0],
                "order_value_micros": sums[1],
                "commission_micros": sums[2],
            }
            for key, sums in sorted(self._by_key.items())
            if sums != [0, 0, 0]
        ]


async def add(uow: UnitOfWork, deltas: Deltas) -> None:
    """Adds `deltas` to the rollup, in the caller's transaction (one statement)."""
    rows = deltas.rows()
    if rows:
        await uow.conn.execute(_upsert(uow.conn.dialect.name), rows)


def _upsert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(statistics_daily)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in statistics_daily.primary_key.columns],
        set_={
            name: statistics_daily.c[name] + stmt.excluded[name]
            for name in ("conversion_count", "order_value_micros", "commission_micros")
        },
    )


def contribution_columns() -> list[Any]:
    """The columns of `conversions` to read before a change, to count the old values out."""
    return [conversions.c[name] for name in (*KEY_COLUMNS, *MEASURE_COLUMNS)]


async def rebuild(conn: AsyncConnection) -> int:
    """Recomputes the whole rollup from `conversions` (after a bulk load that bypassed the
    stores, such as the bench generator's COPY); answers the number of rollup rows."""
    await conn.execute(statistics_daily.delete())
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text(
                "INSERT INTO statistics_daily (program_id, day, partner_id, currency, status,"
                " conversion_count, order_value_micros, commission_micros)"
                " SELECT program_id, (tracking_time AT TIME ZONE 'UTC')::date, partner_id,"
                " currency, status, count(*), sum(order_value * 1000000)::bigint,"
                " sum(commission * 1000000)::bigint"
                " FROM conversions GROUP BY 1, 2, 3, 4, 5"
            )
        )
    else:
        deltas = Deltas()
        for row in await conn.execute(select(*contribution_columns())):
            deltas.add(row._mapping)
        rows = deltas.rows()
        if rows:
            await conn.execute(statistics_daily.insert(), rows)
    return int(await conn.scalar(select(func.count()).select_from(statistics_daily)) or 0)
