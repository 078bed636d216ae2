"""JSON columns are written by orjson (`database.json_text`) and event payloads are made once
(`event_store.payload_json`): the values read back are what the standard library gave."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from portal.adapters.database import json_text
from portal.adapters.event_store import payload_json

VALUES: list[Any] = [
    {"a": 1, "b": [1, 2.5, None, True, "x"], "c": {"d": "e"}},
    {"név": "Zoë ü € 𝄞", "escape": 'quote " backslash \\ newline \n tab \t nul \u0000'},
    [{"position": 1, "orderValue": "12.50"}, {"position": 2, "orderValue": "0.01"}],
    {"big": 2**70, "small": -(2**63)},  # beyond 64 bits: the standard library writes it
    {1: "int key", "2": "str key"},
    [],
    {},
    "text",
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_json_text_reads_back_as_the_standard_library_wrote(value: Any) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_json_text_keeps_the_order_of_keys() -> None:
    assert json_text({"z": 1, "a": 2, "m": 3}) == '{"z":1,"a":2,"m":3}'


def test_json_text_refuses_what_the_standard_library_refuses() -> None:
    with pytest.raises(TypeError):
        json_text({"amount": Decimal("1.5")})


def _standard(data: dict[Any, Any]) -> Any:
    """The payload as the standard library made it before (the reference)."""

    def text(value: Any) -> str:
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    return json.loads(json.dumps(data, default=text))


PAYLOADS: list[dict[Any, Any]] = [
    {
        "id": "Q29udmVyc2lvbjox",
        "commission": Decimal("12.345"),
        "orderValue": Decimal("1E+2"),
        "trackingTime": datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "elsewhere": datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2025, 6, 1),
        "commissionBreakdown": {"lines": [{"amount": "1.50", "rate": "7.5"}], "fixed": None},
        "changedFields": ["status", "commission"],
    },
    {"huge": 2**70, "note": "Grüße", 7: "int key"},
]


@pytest.mark.parametrize("data", PAYLOADS)
def test_an_event_payload_is_stored_as_before(data: dict[Any, Any]) -> None:
    assert json.loads(json_text(payload_json(data))) == _standard(data)
