"""The daily statistics rollups: the count and sums of `conversions` per program, UTC day,
partner, currency and status (`statistics_daily`), and the same without the partner
(`statistics_daily_programs`, for programs' and advertisers' dashboards).

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

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.tables import conversions, statistics_daily, statistics_daily_programs
from portal.adapters.unit_of_work import UnitOfWork

MICROS = Decimal(1_000_000)
# What a row of `conversions` contributes, by column.
KEY_COLUMNS = ("program_id", "partner_id", "tracking_time", "currency", "status")
MEASURE_COLUMNS = ("order_value", "commission")
MEASURES = ("conversion_count", "order_value_micros", "commission_micros")
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
        """The changes of `statistics_daily`, in key order."""
        return [
            _row(key, sums, partner_id=key[2])
            for key, sums in sorted(self._by_key.items())
            if sums != [0, 0, 0]
        ]

    def program_rows(self) -> list[dict[str, Any]]:
        """The changes of `statistics_daily_programs`, in key order."""
        by_program: dict[tuple[int, date, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for (program_id, day, _, currency, status), sums in self._by_key.items():
            total = by_program[(program_id, day, currency, status)]
            for i in range(3):
                total[i] += sums[i]
        return [
            _row((key[0], key[1], None, key[2], key[3]), sums)
            for key, sums in sorted(by_program.items())
            if sums != [0, 0, 0]
        ]


def _row(key: tuple[Any, ...], sums: list[int], **partner: Any) -> dict[str, Any]:
    return {
        "program_id": key[0],
        "day": key[1],
        **partner,
        "currency": key[3],
        "status": key[4],
        "conversion_count": sums[0],
        "order_value_micros": sums[1],
        "commission_micros": sums[2],
    }


async def add(uow: UnitOfWork, deltas: Deltas) -> None:
    """Adds `deltas` to both rollups, in the caller's transaction (two statements)."""
    dialect = uow.conn.dialect.name
    for table, rows in (
        (statistics_daily, deltas.rows()),
        (statistics_daily_programs, deltas.program_rows()),
    ):
        if rows:
            await uow.conn.execute(_upsert(dialect, table), rows)


def _upsert(dialect: str, table: Table) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={name: table.c[name] + stmt.excluded[name] for name in MEASURES},
    )


def contribution_columns() -> list[Any]:
    """The columns of `conversions` to read before a change, to count the old values out."""
    return [conversions.c[name] for name in (*KEY_COLUMNS, *MEASURE_COLUMNS)]


async def rebuild(conn: AsyncConnection) -> int:
    """Recomputes both rollups from `conversions` (after a bulk load that bypassed the stores,
    such as the bench generator's COPY); answers the number of `statistics_daily` rows."""
    await conn.execute(statistics_daily.delete())
    await conn.execute(statistics_daily_programs.delete())
    if conn.dialect.name == "postgresql":
        await conn.execute(text(_REBUILD_POSTGRESQL))
        await conn.execute(text(_REBUILD_PROGRAMS))
    else:
        deltas = Deltas()
        for row in await conn.execute(select(*contribution_columns())):
            deltas.add(row._mapping)
        for table, rows in (
            (statistics_daily, deltas.rows()),
            (statistics_daily_programs, deltas.program_rows()),
        ):
            if rows:
                await conn.execute(table.insert(), rows)
    return int(await conn.scalar(select(func.count()).select_from(statistics_daily)) or 0)


_REBUILD_POSTGRESQL = (
    "INSERT INTO statistics_daily (program_id, day, partner_id, currency, status,"
    " conversion_count, order_value_micros, commission_micros)"
    " SELECT program_id, (tracking_time AT TIME ZONE 'UTC')::date, partner_id,"
    " currency, status, count(*), sum(order_value * 1000000)::bigint,"
    " sum(commission * 1000000)::bigint"
    " FROM conversions GROUP BY 1, 2, 3, 4, 5"
)
_REBUILD_PROGRAMS = (
    "INSERT INTO statistics_daily_programs (program_id, day, currency, status,"
    " conversion_count, order_value_micros, commission_micros)"
    " SELECT program_id, day, currency, status, sum(conversion_count),"
    " sum(order_value_micros), sum(commission_micros)"
    " FROM statistics_daily GROUP BY 1, 2, 3, 4"
)
