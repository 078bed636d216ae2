"""Storing many new conversions at once: the same rows as `conversion_store.insert_conversion`
(the conversion, its revision 1 and its count in the statistics rollup), in three statements
whatever the number."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert

from portal.adapters import statistics_rollup as rollup
from portal.adapters.conversion_store import (
    NewConversion,
    conversion_values,
    created,
    revision_values,
)
from portal.adapters.tables import conversion_revisions, conversions
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import RevisionSource


async def insert_conversions(
    uow: UnitOfWork,
    news: Sequence[NewConversion],
    source: RevisionSource,
    actor_user_id: int | None,
) -> list[int]:
    """Stores the conversions and their first revisions; returns the ids in input order.
    A unique violation fails the whole statement: callers run it inside a savepoint."""
    if not news:
        return []
    rows = [conversion_values(new, uow.now) for new in news]
    result = await uow.conn.execute(
        insert(conversions).returning(conversions.c.id, sort_by_parameter_order=True), rows
    )
    ids = [int(row.id) for row in result]
    await uow.conn.execute(
        insert(conversion_revisions),
        [
            revision_values(conversion_id, 1, created(new), source, actor_user_id, None, uow.now)
            for conversion_id, new in zip(ids, news, strict=True)
        ],
    )
    counted = rollup.Deltas()
    for values in rows:
        counted.add(values)
    await rollup.add(uow, counted)
    return ids
