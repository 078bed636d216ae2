"""Storing many new conversions at once: the same rows as `conversion_store.insert_conversion`
(the conversion, its revision 1 and its count in the statistics rollup), in a fixed number of
statements whatever the number: on PostgreSQL binary COPYs (`bulk_insert`)."""

from __future__ import annotations

from collections.abc import Sequence

from portal.adapters import statistics_rollup as rollup
from portal.adapters.bulk_insert import insert_mappings
from portal.adapters.conversion_store import (
    NewConversion,
    conversion_values,
    created,
    revision_values,
)
from portal.adapters.event_payloads import conversion_event
from portal.adapters.event_store import record_events
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
    ids = await insert_mappings(uow.conn, conversions, rows)
    await insert_mappings(
        uow.conn,
        conversion_revisions,
        [
            revision_values(conversion_id, 1, created(new), source, actor_user_id, None, uow.now)
            for conversion_id, new in zip(ids, news, strict=True)
        ],
        ids=False,
    )
    counted = rollup.Deltas()
    for values in rows:
        counted.add(values)
    await rollup.add(uow, counted)
    await record_events(
        uow,
        [
            conversion_event("conversion.recorded", conversion_id, values)
            for conversion_id, values in zip(ids, rows, strict=True)
        ],
    )
    return ids
