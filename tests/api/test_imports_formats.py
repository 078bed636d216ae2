"""One request file's content as XLSX, as comma CSV and as semicolon CSV with decimal commas,
BOM and CRLF — columns shuffled, headers in any case, cells padded, times in ISO 8601 and as
dd.mm.yyyy hh:mm — gives exactly the same requests (SPEC §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import count, csv_bytes, requests_of, run, xlsx_bytes

# The content, one dict per row; every variant below writes these values its own way.
CONTENT: list[dict[str, Any]] = [
    {  # summer time: Berlin is +02:00
        "request_type": "CREATE_NEW",
        "program": "Nordwind DE",
        "order_id": "F-1",
        "conversion_target": "SALE_NEW_CUSTOMER",
        "tracking_category": "default",
        "tracking_time": (
            "2026-06-01T10:00:00+02:00",
            "01.06.2026 10:00",
            datetime(2026, 6, 1, 10),
        ),
        "order_value": ("1234.56", "1.234,56", 1234.56),
        "currency": "EUR",
        "commission": None,
        "comment": "Bestellung über Gutschein",
    },
    {  # winter time: Berlin is +01:00; an explicit commission
        "request_type": "create_new",
        "program": "nordwind de",
        "order_id": "F-2",
        "conversion_target": "SALE_EXISTING_CUSTOMER",
        "tracking_category": None,
        "tracking_time": (
            "2026-01-15T09:30:00+01:00",
            "15.01.2026 09:30",
            datetime(2026, 1, 15, 9, 30),
        ),
        "order_value": ("80", "80", 80),
        "currency": None,
        "commission": ("12.5", "12,5", 12.5),
        "comment": None,
    },
    {  # thousands and a fraction; seconds; an ambiguous local time
        "request_type": "CREATE_NEW",
        "program": "Nordwind DE",
        "order_id": "F-3",
        "conversion_target": "SALE_NEW_CUSTOMER",
        "tracking_category": "default",
        "tracking_time": (
            "2026-10-25T02:30:15+02:00",
            "25.10.2026 02:30:15",
            "2026-10-25T02:30:15+02:00",
        ),
        "order_value": ("1,000,000.5", "1.000.000,5", "1000000.50"),
        "currency": "eur",
        "commission": None,
        "comment": None,
    },
]
EXPECTED = [
    {
        "kind": "CREATE_NEW",
        "comment": "Bestellung über Gutschein",
        "requested": {
            "orderId": "F-1",
            "conversionTarget": "SALE_NEW_CUSTOMER",
            "trackingCategory": "default",
            "trackingTime": "2026-06-01T08:00:00Z",
            "orderValue": "1234.56",
            "currency": "EUR",
            "status": "OPEN",
            "commission": None,
        },
        "commission": {"amount": "61.73", "currency": "EUR"},
        "partner": {"name": "Cashback Club"},
    },
    {
        "kind": "CREATE_NEW",
        "comment": None,
        "requested": {
            "orderId": "F-2",
            "conversionTarget": "SALE_EXISTING_CUSTOMER",
            "trackingCategory": "default",
            "trackingTime": "2026-01-15T08:30:00Z",
            "orderValue": "80.00",
            "currency": "EUR",
            "status": "OPEN",
            "commission": "12.5",
        },
        "commission": {"amount": "12.50", "currency": "EUR"},
        "partner": {"name": "Cashback Club"},
    },
    {
        "kind": "CREATE_NEW",
        "comment": None,
        "requested": {
            "orderId": "F-3",
            "conversionTarget": "SALE_NEW_CUSTOMER",
            "trackingCategory": "default",
            # 02:30 on the night the clocks go back happens twice: a local time is the first
            "trackingTime": "2026-10-25T00:30:15Z",
            "orderValue": "1000000.50",
            "currency": "EUR",
            "status": "OPEN",
            "commission": None,
        },
        "commission": {"amount": "50000.03", "currency": "EUR"},
        "partner": {"name": "Cashback Club"},
    },
]
COLUMNS = list(CONTENT[0])
# Shuffled, in upper, mixed and lower case, padded.
SHUFFLED = [6, 2, 9, 0, 5, 8, 1, 3, 7, 4]
HEADERS = {
    "xlsx": ["Order_Value", " ORDER_ID", "Comment ", "request_type", "Tracking_Time"],
    "comma": ["ORDER_VALUE", "order_id ", " COMMENT", "Request_Type", "tracking_time"],
    "german": ["  ORDER_VALUE ", "ORDER_ID", "COMMENT", "REQUEST_TYPE", " Tracking_TIME"],
}


def _header(variant: str) -> list[str]:
    names = [COLUMNS[i] for i in SHUFFLED]
    spelled = {h.strip().lower(): h for h in HEADERS[variant]}
    return [spelled.get(name, name.upper() if variant == "german" else name) for name in names]


def _cell(value: Any, variant: str) -> Any:
    if isinstance(value, tuple):
        value = value[{"comma": 0, "german": 1, "xlsx": 2}[variant]]
    if value is None:
        return None if variant == "xlsx" else ""
    return f"  {value} " if isinstance(value, str) else value


def _file(variant: str) -> tuple[str, bytes]:
    header = _header(variant)
    rows = [[_cell(row[COLUMNS[i]], variant) for i in SHUFFLED] for row in CONTENT]
    if variant == "xlsx":
        return "requests.xlsx", xlsx_bytes(header, rows)
    if variant == "comma":
        return "requests.csv", csv_bytes(header, rows)
    return "requests.csv", csv_bytes(header, rows, delimiter=";", bom=True, newline="\r\n")


@pytest.mark.parametrize("variant", ["xlsx", "comma", "german"])
async def test_every_format_gives_the_same_requests(
    api: Api, engine: AsyncEngine, variant: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    name, content = _file(variant)
    job = await run(api, token, name, content, timeZone="Europe/Berlin")
    assert (job["createdCount"], job["errorCount"], job["errors"]["nodes"]) == (3, 0, []), job
    assert job["progress"] == {"processed": 3, "total": 3}
    assert await requests_of(api, token) == EXPECTED
    assert await count(engine, conversion_requests) == 3


async def test_the_time_zone_only_applies_to_times_without_an_offset(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    header = ["request_type", "program", "order_id", "conversion_target", "tracking_time"]
    rows = [
        ["CREATE_NEW", "Nordwind DE", "Z-1", "SALE_NEW_CUSTOMER", "01.06.2026 10:00"],
        ["CREATE_NEW", "Nordwind DE", "Z-2", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00+02:00"],
        ["CREATE_NEW", "Nordwind DE", "Z-3", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z"],
        ["CREATE_NEW", "Nordwind DE", "Z-4", "SALE_NEW_CUSTOMER", "2026-06-01 10:00"],
        ["CREATE_NEW", "Nordwind DE", "Z-5", "SALE_NEW_CUSTOMER", "01.06.2026"],
    ]
    content = csv_bytes([*header, "order_value"], [[*r, "10"] for r in rows])
    job = await run(api, token, "z.csv", content, timeZone="America/New_York")
    assert job["errorCount"] == 0, job
    times = {
        n["requested"]["orderId"]: n["requested"]["trackingTime"]
        for n in await requests_of(api, token)
    }
    assert times == {
        "Z-1": "2026-06-01T14:00:00Z",
        "Z-2": "2026-06-01T08:00:00Z",
        "Z-3": "2026-06-01T10:00:00Z",
        "Z-4": "2026-06-01T14:00:00Z",
        "Z-5": "2026-06-01T04:00:00Z",
    }
