"""Exporting the conversion request explorer as CSV and XLSX: a job, a download URL, the same
visibility as the list, and text neutralised against formula injection."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

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

    if fmt == "CSV":
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(content)).active
        values = [[c.value for c in r] for r in sheet.iter_rows()]
        rows = [dict(zip(values[0], r, strict=True)) for r in values[1:]]
    assert [r["order_id"] for r in rows] == ["A-NEW-1"]
    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["partner"] == "Cashback Club"


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
