"""Exporting the conversion request explorer as CSV and XLSX: a job, a download URL, the same
visibility as the list, and text neutralised against formula injection."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.global_ids import encode_id
from tests.conftest import Api
from tests.factories import build_world

CREATE = """
mutation($input: CreateConversionRequestInput!) {
  createConversionRequest(input: $input) { conversionRequest { id } userErrors { code field } }
}"""
EXPORT = """
mutation($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id status format } userErrors { code } }
}"""
JOB = "query($id: ID!) { node(id: $id) { ... on ExportJob { status rowCount downloadUrl error } } }"


async def _raise(api: Api, token: str, program_id: str, order_id: str, comment: str) -> None:
    body = await api.data(
        CREATE,
        {
            "input": {
                "kind": "CREATE_NEW",
                "programId": program_id,
                "comment": comment,
                "requested": {
                    "orderId": order_id,
                    "conversionTarget": "SALE_NEW_CUSTOMER",
                    "trackingTime": "2026-06-01T10:00:00Z",
                    "orderValue": "50.00",
                },
            }
        },
        token=token,
    )
    assert body["createConversionRequest"]["userErrors"] == []


async def _export(api: Api, token: str, fmt: str) -> bytes:
    started = (await api.data(EXPORT, {"input": {"format": fmt}}, token=token))[
        "exportConversionRequests"
    ]
    assert started["userErrors"] == [] and started["export"]["status"] == "QUEUED"
    await api.drain_jobs()
    job = (await api.data(JOB, {"id": started["export"]["id"]}, token=token))["node"]
    assert job["status"] == "SUCCEEDED", job
    response = await api.client.get(
        job["downloadUrl"], headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    # Another user cannot download it, even knowing the URL: it reads as missing.
    return response.content


@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_partner_export_holds_only_its_own_requests_neutralised(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await build_world(engine)
    programs = await api.data("{ programs { nodes { id } } }", token=world.tokens["A"])
    program_id = programs["programs"]["nodes"][0]["id"]
    await _raise(api, world.tokens["A"], program_id, "A-NEW-1", '=HYPERLINK("http://evil")')
    await _raise(api, world.tokens["B"], program_id, "B-NEW-1", "B's request")

    content = await _export(api, world.tokens["A"], fmt)

    typed = {}
    if fmt == "CSV":
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(content)).active
        values = [[c.value for c in r] for r in sheet.iter_rows()]
        rows = [dict(zip(values[0], r, strict=True)) for r in values[1:]]
        typed = {values[0][c.column - 1]: c.data_type for c in sheet[2]}
    assert [r["order_id"] for r in rows] == ["A-NEW-1"]
    if fmt == "CSV":  # CSV has no cell types: the apostrophe keeps it from being a formula
        assert rows[0]["comment"] == '\'=HYPERLINK("http://evil")'
    else:  # a string cell, which Excel never evaluates, shown as typed
        assert rows[0]["comment"] == '=HYPERLINK("http://evil")'
        assert typed["comment"] == "s"
    assert "partner" not in rows[0]  # a partner's files never name a partner
    assert rows[0]["advertiser"] == "Nordwind Retail"


async def test_an_export_is_downloadable_only_by_its_author(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    started = await api.data(EXPORT, {"input": {"format": "CSV"}}, token=world.tokens["A"])
    job_id = started["exportConversionRequests"]["export"]["id"]
    await api.drain_jobs()
    url = "/files/exports/" + job_id
    other = await api.client.get(url, headers={"Authorization": f"Bearer {world.tokens['B']}"})
    missing = await api.client.get(
        "/files/exports/RXhwb3J0Sm9iOjk5OTk5",
        headers={"Authorization": f"Bearer {world.tokens['B']}"},
    )
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert (await api.client.get(url)).status_code == 401
    assert (await api.data(JOB, {"id": job_id}, token=world.tokens["B"]))["node"] is None


def _rows(content: bytes, fmt: str) -> tuple[list[dict[str, object]], dict[str, str]]:
    """The data rows as header → value, and (XLSX) each money column's number format of the
    first row."""
    if fmt == "CSV":
        return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig")))), {}
    sheet = load_workbook(io.BytesIO(content)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    header = values[0]
    formats = {header[c.column - 1]: c.number_format for c in sheet[2]}
    return [dict(zip(header, r, strict=True)) for r in values[1:]], formats


def _blank(value: object) -> bool:
    return value in (None, "")


@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_a_change_request_exports_its_conversion_and_current_values(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    """Issue 9, defect 10: a change request used to export blank order id, target, category
    and time, and no conversion id."""
    world = await build_world(engine)
    conversion = encode_id("Conversion", world.conversions["A"][0])
    body = await api.data(
        CREATE,
        {
            "input": {
                "kind": "CHANGE_EXISTING",
                "conversionId": conversion,
                "requested": {"orderValue": "80.00", "subIds": ["click-7"], "device": "MOBILE"},
            }
        },
        token=world.tokens["A"],
    )
    assert body["createConversionRequest"]["userErrors"] == []

    rows, formats = _rows(await _export(api, world.tokens["adv1"], fmt), fmt)

    [row] = rows
    assert row["conversion_id"] == conversion
    assert row["advertiser"] == "Nordwind Retail" and row["partner"] == "Cashback Club"
    assert row["current_order_id"] == "A-0"
    assert row["current_conversion_target"] == "SALE_NEW_CUSTOMER"
    assert row["current_tracking_category"] == "default"
    assert str(row["current_tracking_time_utc"]).startswith("2026-03-01")
    assert str(row["current_order_value"]) in ("100.00", "100")  # XLSX: a number
    assert row["current_status"] == "OPEN"
    assert str(row["order_value"]) in ("80.00", "80")
    assert _blank(row["order_id"]) and _blank(row["tracking_time_utc"])  # no change asked
    assert (row["sub_id_1"], row["device"]) == ("click-7", "MOBILE")
    assert str(row["commission_percentage"]) == "5"
    if fmt == "XLSX":  # money carries its currency's minor digits
        assert formats["order_value"] == formats["current_order_value"] == "0.00"
        assert formats["commission"] == "0.00"


async def test_money_cells_of_a_currency_without_minor_digits(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)  # program 2 is in JPY, partner C promotes it
    conversion = encode_id("Conversion", world.conversions["C"][0])
    await api.data(
        CREATE,
        {
            "input": {
                "kind": "CHANGE_EXISTING",
                "conversionId": conversion,
                "requested": {"orderValue": "1250"},
            }
        },
        token=world.tokens["C"],
    )

    rows, formats = _rows(await _export(api, world.tokens["C"], "XLSX"), "XLSX")

    assert formats["order_value"] == formats["commission"] == "0"
    assert rows[0]["order_value"] == 1250


async def test_a_claim_exports_the_claimed_conversion_to_the_advertiser_only(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    programs = await api.data("{ programs { nodes { id } } }", token=world.tokens["A"])
    await _raise(api, world.tokens["A"], programs["programs"]["nodes"][0]["id"], "B-0", "mine")

    as_partner, _ = _rows(await _export(api, world.tokens["A"], "CSV"), "CSV")
    as_advertiser, _ = _rows(await _export(api, world.tokens["adv1"], "CSV"), "CSV")

    [mine] = as_partner
    assert _blank(mine["conversion_id"]) and _blank(mine["current_order_id"])
    assert mine["order_id"] == "B-0"
    [claimed] = as_advertiser
    assert claimed["conversion_id"] == encode_id("Conversion", world.conversions["B"][0])
    assert claimed["current_order_id"] == "B-0" and claimed["partner"] == "Cashback Club"
