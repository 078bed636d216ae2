"""Uploading a file again (issue 9, defect 12): rows an earlier upload raised already are not
silent — each gets the outcome ALREADY_IMPORTED with the request it raised, in the job and in
its report — and a row whose request was withdrawn is raised again."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from tests.api.request_helpers import WITHDRAW, mutate
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import count, csv_bytes, download, read_csv, run

HEADER = [
    "request_type",
    "program",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
ROWS = [
    ["CREATE_NEW", "Nordwind DE", "F-1", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "10.00"],
    ["CREATE_NEW", "Nordwind DE", "F-2", "SALE_NEW_CUSTOMER", "2026-06-01T11:00:00Z", "-5"],
    ["CREATE_NEW", "Nordwind DE", "F-3", "SALE_NEW_CUSTOMER", "2026-06-01T12:00:00Z", "30.00"],
]
OUTCOMES = """query($id: ID!) { node(id: $id) { ... on ImportJob {
  createdCount errorCount alreadyImportedCount errorReportUrl
  alreadyImported(first: 10) { totalCount nodes { row code message requestId } }
  errors(first: 10) { totalCount nodes { row code } } } } }"""
LIST = "{ conversionRequests(first: 10) { nodes { id status requested { orderId } } } }"


async def outcomes(api: Api, token: str, job: dict[str, Any]) -> Any:
    return (await api.data(OUTCOMES, {"id": job["id"]}, token=token))["node"]


async def test_rows_imported_before_are_named_with_their_requests(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content = csv_bytes(HEADER, ROWS)
    await run(api, token, "requests.csv", content)
    raised = {
        r["requested"]["orderId"]: r["id"]
        for r in (await api.data(LIST, token=token))["conversionRequests"]["nodes"]
    }

    again = await outcomes(api, token, await run(api, token, "requests.csv", content))

    assert (again["createdCount"], again["errorCount"], again["alreadyImportedCount"]) == (0, 1, 2)
    imported = again["alreadyImported"]
    assert imported["totalCount"] == 2
    assert [(n["row"], n["code"], n["requestId"]) for n in imported["nodes"]] == [
        (2, "ALREADY_IMPORTED", raised["F-1"]),
        (4, "ALREADY_IMPORTED", raised["F-3"]),
    ]
    assert raised["F-1"] in imported["nodes"][0]["message"]
    assert [(n["row"], n["code"]) for n in again["errors"]["nodes"]] == [(3, "NEGATIVE_VALUE")]
    report = read_csv(await download(api, token, again["errorReportUrl"]))
    by_row = {line[0]: line[-1] for line in report[1:]}
    assert "ALREADY_IMPORTED" in by_row["2"] and raised["F-1"] in by_row["2"]
    assert "NEGATIVE_VALUE" in by_row["3"]
    assert await count(engine, conversion_requests) == 2


async def test_a_file_of_rows_all_imported_before_says_so(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content = csv_bytes(HEADER, [ROWS[0]])
    await run(api, token, "one.csv", content)

    again = await outcomes(api, token, await run(api, token, "one.csv", content))

    assert (again["createdCount"], again["errorCount"], again["alreadyImportedCount"]) == (0, 0, 1)
    assert again["errorReportUrl"] is not None  # the report lists the row and its request


async def test_a_withdrawn_request_is_raised_again_from_the_file(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content = csv_bytes(HEADER, [ROWS[0], ROWS[2]])
    await run(api, token, "requests.csv", content)
    listed = (await api.data(LIST, token=token))["conversionRequests"]["nodes"]
    f1 = next(r for r in listed if r["requested"]["orderId"] == "F-1")
    withdrawn = await mutate(
        api, WITHDRAW, "withdrawConversionRequest", {"requestId": f1["id"]}, token
    )
    assert withdrawn["userErrors"] == []

    again = await outcomes(api, token, await run(api, token, "requests.csv", content))

    assert (again["createdCount"], again["alreadyImportedCount"]) == (1, 1)
    assert [n["row"] for n in again["alreadyImported"]["nodes"]] == [3]
    statuses = sorted(
        (r["requested"]["orderId"], r["status"])
        for r in (await api.data(LIST, token=token))["conversionRequests"]["nodes"]
    )
    assert statuses == [("F-1", "INQUIRED"), ("F-1", "WITHDRAWN"), ("F-3", "INQUIRED")]
