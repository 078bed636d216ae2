"""portal.adapters.bulk_insert.insert_mappings: rows given as mappings go in with one binary
COPY on PostgreSQL (one executemany INSERT on SQLite), ids in input order, JSON as the JSON
columns write it, counted as a statement, all or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.bulk_insert import insert_mappings
from portal.adapters.event_store import payload_json
from portal.adapters.tables import events
from tests.conftest import StatementCounter

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def _event(n: int, payload: Any) -> dict[str, Any]:
    return {
        "event_key": f"key-{n}",
        "type": "conversion.recorded",
        "version": 1,
        "occurred_at": NOW,
        "object_kind": "Conversion",
        "object_id": n,
        "program_id": None,
        "partner_id": None,
        "advertiser_id": None,
        "payload": payload,
        "dispatched_at": None,
    }


async def test_rows_go_in_with_their_ids_in_order_and_json_as_written(engine: AsyncEngine) -> None:
    rows = [
        _event(1, {"a": "1.50", "ü": [1, None, True]}),
        _event(2, payload_json({"at": NOW, "nested": {"x": "y"}})),
        _event(3, {}),
    ]
    counter = StatementCounter(engine)
    try:
        async with engine.begin() as conn:
            ids = await insert_mappings(conn, events, rows)
    finally:
        counter.close()
    assert len(ids) == 3 and ids == sorted(ids)
    if engine.dialect.name == "postgresql":
        assert sum(s.startswith("COPY events") for s in counter.statements) == 1
    async with engine.connect() as conn:
        stored = (await conn.execute(select(events).order_by(events.c.id))).all()
    assert [r.id for r in stored] == ids
    assert [r.object_id for r in stored] == [1, 2, 3]
    assert stored[0].payload == {"a": "1.50", "ü": [1, None, True]}
    assert stored[1].payload == {"at": "2026-12-04T12:00:00+00:00", "nested": {"x": "y"}}
    assert stored[2].payload == {}
    assert all(r.occurred_at == NOW for r in stored)


async def test_json_goes_in_as_an_insert_writes_it(engine: AsyncEngine) -> None:
    """Keys that are not strings and integers beyond 64 bits: the COPY writes the JSON text
    the JSON column's serializer writes for an INSERT (`database.json_text`)."""
    payload = {1: "int key", "big": 2**70, "ü": "é"}
    async with engine.begin() as conn:
        await insert_mappings(conn, events, [_event(1, payload)], ids=False)
        await conn.execute(insert(events), [_event(2, payload)])
    async with engine.connect() as conn:
        stored = (await conn.scalars(select(events.c.payload).order_by(events.c.id))).all()
    assert stored == [{"1": "int key", "big": 2**70, "ü": "é"}] * 2


async def test_a_violation_writes_nothing_and_the_transaction_goes_on(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_mappings(conn, events, [_event(1, {})], ids=False)
        with pytest.raises(IntegrityError):
            await insert_mappings(conn, events, [_event(2, {}), _event(1, {})], ids=False)
        await insert_mappings(conn, events, [_event(3, {})], ids=False)
    async with engine.connect() as conn:
        keys = (await conn.scalars(select(events.c.event_key).order_by(events.c.id))).all()
    assert keys == ["key-1", "key-3"]


async def test_rows_must_share_their_columns(engine: AsyncEngine) -> None:
    second = _event(2, {})
    del second["dispatched_at"]
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="same columns"):
            await insert_mappings(conn, events, [_event(1, {}), second])
        extra = {**_event(3, {}), "partner_id": None, "nonsense": 1}
        with pytest.raises(ValueError, match="same columns"):
            await insert_mappings(conn, events, [_event(1, {}), extra])


async def test_the_order_of_a_rows_keys_does_not_matter(engine: AsyncEngine) -> None:
    reordered = dict(reversed(list(_event(2, {"b": 1}).items())))
    async with engine.begin() as conn:
        await insert_mappings(conn, events, [_event(1, {"a": 1}), reordered], ids=False)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(events).order_by(events.c.id))).all()
    assert [(r.event_key, r.object_id, r.payload) for r in stored] == [
        ("key-1", 1, {"a": 1}),
        ("key-2", 2, {"b": 1}),
    ]


async def test_a_left_out_column_with_a_python_default_is_refused(engine: AsyncEngine) -> None:
    """COPY fills a column left out with its server default only; refused before any SQL."""
    table = Table(
        "with_defaults",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(10)),
        Column("kind", String(10), default="plain"),
    )
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="Python-side default"):
            await insert_mappings(conn, table, [{"name": "x"}])
