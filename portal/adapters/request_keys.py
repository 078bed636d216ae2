"""The lookups that keep conversion requests unique, for a whole batch of keys at once: which
idempotency keys a user has used, which open keys are taken, which conversions orders have.

PostgreSQL gets each batch as arrays in one statement (`portal.adapters.key_lists`, `unnest`):
one plan, whatever the batch size. SQLite gets IN lists of at most 900 parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, String, bindparam, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters.key_lists import among, key_chunks
from portal.adapters.tables import conversion_requests, conversions
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.domain.programs import TargetKind

OrderId = tuple[int, str]  # program id, order id
r = conversion_requests.c


async def _text_keys(conn: AsyncConnection, stmt_for: Any, values: Sequence[str]) -> list[Any]:
    found: list[Any] = []
    for chunk in key_chunks(conn, list(dict.fromkeys(values))):
        found.extend(await conn.execute(stmt_for(chunk)))
    return found


async def idempotency_keys_used(
    conn: AsyncConnection, user_id: int, keys: Sequence[str]
) -> dict[str, int]:
    """The requests `user_id` raised with these idempotency keys: key → request id."""
    hits = await _text_keys(
        conn,
        lambda chunk: select(r.idempotency_key, r.id).where(
            r.created_by == user_id, among(conn, r.idempotency_key, chunk)
        ),
        keys,
    )
    return {hit.idempotency_key: hit.id for hit in hits}


async def open_keys_taken(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, str | None]:
    """The open keys among `keys` that an open request holds: key → that request's
    idempotency key."""
    hits = await _text_keys(
        conn,
        lambda chunk: select(r.open_key, r.idempotency_key).where(among(conn, r.open_key, chunk)),
        keys,
    )
    return {hit.open_key: hit.idempotency_key for hit in hits}


async def visible_conversions(
    conn: AsyncConnection, viewer: Viewer, ids: Sequence[int]
) -> set[int]:
    """Those of the conversions `ids` that `viewer` may see."""
    if not ids:
        return set()
    c = conversions.c
    found = await conn.execute(
        select(c.id).where(c.id.in_(list(ids)), visible(conversions, viewer))
    )
    return set(found.scalars())


@dataclass(frozen=True, slots=True)
class OrderConversion:
    """A conversion of an order id: which one, its target kind and whose it is."""

    id: int
    target_kind: TargetKind
    partner_id: int


_OF_ORDERS_PG = text(
    "SELECT c.id, c.program_id, c.order_id, c.target_kind, c.partner_id FROM conversions c "
    "JOIN unnest(:programs, :orders) AS k(program_id, order_id) "
    "ON c.program_id = k.program_id AND c.order_id = k.order_id"
).bindparams(
    bindparam("programs", type_=ARRAY(BigInteger())),
    bindparam("orders", type_=ARRAY(String())),
)


async def conversions_of_orders(
    conn: AsyncConnection, orders: Sequence[OrderId]
) -> dict[OrderId, list[OrderConversion]]:
    """The conversions of these (program, order id) pairs, whoever's they are (at most one of
    each target kind per order): order → conversions. Not scoped by a viewer: the caller
    decides what of it the viewer may learn."""
    unique = list(dict.fromkeys(orders))
    if not unique:
        return {}
    found: dict[OrderId, list[OrderConversion]] = {}

    def add(hit: Any) -> None:
        found.setdefault((hit.program_id, hit.order_id), []).append(
            OrderConversion(hit.id, TargetKind(hit.target_kind), hit.partner_id)
        )

    if conn.dialect.name == "postgresql":
        programs, order_ids = (list(column) for column in zip(*unique, strict=True))
        for hit in await conn.execute(_OF_ORDERS_PG, {"programs": programs, "orders": order_ids}):
            add(hit)
        return found
    c = conversions.c
    for chunk in key_chunks(conn, unique, width=2):
        for hit in await conn.execute(
            select(c.id, c.program_id, c.order_id, c.target_kind, c.partner_id).where(
                tuple_(c.program_id, c.order_id).in_(chunk)
            )
        ):
            add(hit)
    return found
