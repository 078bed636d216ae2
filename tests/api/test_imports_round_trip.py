"""Conversions exported as a request file, edited in a spreadsheet, uploaded again as
CHANGE_EXISTING requests, accepted — and the conversions change (SPEC §7).

What a user expects of the unchanged rows: a file that keeps only the edited rows raises
exactly those requests and reports nothing; uploading the whole export with a few rows
edited reports each untouched row as NOTHING_TO_CHANGE (the user sees which rows did not
become requests), and changes nothing else."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests, conversions
from tests.api.request_helpers import DECIDE_MANY, execute
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import cell_errors, count, csv_bytes, download, read_csv, run

EXPORT = """mutation($f: TableFormat!) {
  exportConversions(input: {format: $f}) { export { id } userErrors { code } } }"""
EXPORT_JOB = "query($id: ID!) { node(id: $id) { ... on ExportJob { status downloadUrl } } }"
CONVERSIONS = """{ conversions(first: 100) { nodes { orderId status orderValue { amount }
  commission { amount } history { source } } } }"""
EDITS = {"A-1": {"status": "CONFIRMED", "order_value": "150.00"}, "B-2": {"order_value": "99.5"}}


async def _export(api: Api, token: str, fmt: str) -> bytes:
    started = (await api.data(EXPORT, {"f": fmt}, token=token))["exportConversions"]
    assert started["userErrors"] == []
    await api.drain_jobs()
    job = (await api.data(EXPORT_JOB, {"id": started["export"]["id"]}, token=token))["node"]
    assert job["status"] == "SUCCEEDED"
    return await download(api, token, job["downloadUrl"])


def _edit_csv(content: bytes, keep_unchanged: bool) -> tuple[bytes, list[str]]:
    table = read_csv(content)
    header, rows = table[0], table[1:]
    order = header.index("order_id")
    kept = []
    for row in rows:
        edit = EDITS.get(row[order])
        for column, value in (edit or {}).items():
            row[header.index(column)] = value
        if edit or keep_unchanged:
            kept.append(row)
    return csv_bytes(header, kept), [r[order] for r in kept]


def _edit_xlsx(content: bytes, keep_unchanged: bool) -> tuple[bytes, list[str]]:
    book = load_workbook(io.BytesIO(content))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    order = header.index("order_id")
    for number in range(sheet.max_row, 1, -1):
        edit = EDITS.get(sheet.cell(number, order + 1).value)
        for column, value in (edit or {}).items():
            # As a user types it: a number is a number.
            typed: Any = float(value) if column == "order_value" else value
            sheet.cell(number, header.index(column) + 1).value = typed
        if not edit and not keep_unchanged:
            sheet.delete_rows(number)
    kept = [sheet.cell(n, order + 1).value for n in range(2, sheet.max_row + 1)]
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), kept


def _edit(fmt: str, content: bytes, keep_unchanged: bool) -> tuple[bytes, list[str]]:
    return (_edit_csv if fmt == "CSV" else _edit_xlsx)(content, keep_unchanged)


@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_export_edit_import_accept(api: Api, engine: AsyncEngine, fmt: str) -> None:
    world = await build_world(engine)
    token = world.tokens["adv1"]
    exported = await _export(api, token, fmt)
    name = f"conversions.{fmt.lower()}"

    # The whole export with two rows edited, as a dry run: the untouched rows say so.
    whole, orders = _edit(fmt, exported, keep_unchanged=True)
    assert sorted(orders) == ["A-0", "A-1", "A-2", "B-0", "B-1", "B-2"]
    dry = await run(api, token, name, whole, dryRun=True)
    unchanged = {orders[row - 2]: code for row, column, _, code in cell_errors(dry)}
    assert unchanged == {o: "NOTHING_TO_CHANGE" for o in orders if o not in EDITS}
    assert dry["errorCount"] == 4
    assert await count(engine, conversion_requests) == 0

    # Only the edited rows: exactly their requests, no errors.
    edited, orders = _edit(fmt, exported, keep_unchanged=False)
    assert sorted(orders) == sorted(EDITS)
    job = await run(api, token, name, edited)
    assert (job["createdCount"], job["errorCount"]) == (2, 0), job
    requests = (
        await api.data(
            "{ conversionRequests { nodes { id kind status conversion { orderId } "
            "requested { orderValue status commission } } } }",
            token=token,
        )
    )["conversionRequests"]["nodes"]
    asked = {r["conversion"]["orderId"]: (r["kind"], r["requested"]) for r in requests}
    assert asked == {
        # Only what was edited: not the unchanged status, nor the exported commission.
        "A-1": (
            "CHANGE_EXISTING",
            {"orderValue": "150.00", "status": "CONFIRMED", "commission": None},
        ),
        "B-2": ("CHANGE_EXISTING", {"orderValue": "99.50", "status": None, "commission": None}),
    }
    # Meanwhile B-2 is confirmed (as sales validation would): accepting the value change must
    # not put its exported status back.
    await execute(
        engine,
        conversions.update()
        .where(conversions.c.id == world.conversions["B"][2])
        .values(status="CONFIRMED"),
    )

    # adv1 raised them and may not decide its own requests: an admin accepts.
    decided = (
        await api.data(
            DECIDE_MANY,
            {
                "input": {
                    "decisions": [{"requestId": r["id"], "decision": "ACCEPT"} for r in requests]
                }
            },
            token=world.tokens["admin"],
        )
    )["decideConversionRequests"]
    assert decided["userErrors"] == [] and all(r["userErrors"] == [] for r in decided["results"])
    await api.drain_jobs()

    after = {
        c["orderId"]: c for c in (await api.data(CONVERSIONS, token=token))["conversions"]["nodes"]
    }
    assert (after["A-1"]["status"], after["A-1"]["orderValue"]["amount"]) == (
        "CONFIRMED",
        "150.00",
    )
    assert after["A-1"]["commission"]["amount"] == "7.50"
    assert (after["B-2"]["status"], after["B-2"]["orderValue"]["amount"]) == (
        "CONFIRMED",
        "99.50",
    )
    assert after["B-2"]["commission"]["amount"] == "4.98"
    for order in EDITS:
        assert [h["source"] for h in after[order]["history"]] == ["TRACKING", "REQUEST"]
    for order in ("A-0", "A-2", "B-0", "B-1"):
        assert [h["source"] for h in after[order]["history"]] == ["TRACKING"]
        assert after[order]["status"] == "OPEN"
