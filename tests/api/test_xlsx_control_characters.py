"""Control characters in text written to workbooks (issue 9, files): XML cannot hold
U+0000–U+001F other than tab, newline and carriage return, but the API and CSV files can carry
them. Every XLSX the portal writes — exports of conversions and of requests, import error
reports, the request template — must stay a workbook that opens, with such a character shown
as U+FFFD and the rest of the text as typed. Each test reads the file back with openpyxl."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.spreadsheets import Amount, TableFormat, write_table
from portal.adapters.tables import conversions, programs
from tests.conftest import Api
from tests.factories import World, build_world
from tests.import_files import csv_bytes, download, drop_downs, finished, upload

# Characters XML 1.0 refuses in a document (below U+0020, and the two non-characters U+FFFE
# and U+FFFF), between text that must survive as typed, with a tab and a newline. (NUL, which
# every input refuses and PostgreSQL cannot store, is in the writer's own test below.)
HOSTILE = "b\x01c\x08d\x0be\x0cf\x1fg\ufffeh\uffffi\tj\nk"
SHOWN = "b\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh\ufffdi\tj\nk"


def book(content: bytes) -> Any:
    """The workbook, read as a user's spreadsheet program would (openpyxl parses its XML)."""
    assert content[:2] == b"PK", content[:200]
    return load_workbook(io.BytesIO(content))


def texts(workbook: Any) -> list[str]:
    return [
        cell.value
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]


async def exported(api: Api, token: str, mutation: str) -> bytes:
    fields = "export { id } userErrors { code }"
    started = await api.data(
        f"mutation {{ {mutation}(input: {{format: XLSX}}) {{ {fields} }} }}", token=token
    )
    assert started[mutation]["userErrors"] == [], started
    await api.drain_jobs()
    job = (
        await api.data(
            "query($id: ID!) { node(id: $id) { ... on ExportJob { status error downloadUrl } } }",
            {"id": started[mutation]["export"]["id"]},
            token=token,
        )
    )["node"]
    assert job["status"] == "SUCCEEDED", job
    return await download(api, token, job["downloadUrl"])


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


async def test_a_conversion_export_with_control_characters_opens(
    api: Api, engine: AsyncEngine, world: World
) -> None:
    # Tracking stores sub ids as the shop sent them (JSON may carry any character).
    async with engine.begin() as conn:
        await conn.execute(
            update(conversions)
            .where(conversions.c.id == world.conversions["A"][0])
            .values(sub_id_1=HOSTILE, device="=cmd|' /C calc'!A0\x07")
        )

    found = texts(book(await exported(api, world.tokens["adv1"], "exportConversions")))

    assert SHOWN in found
    assert "=cmd|' /C calc'!A0\ufffd" in found  # a string as typed, no formula, no apostrophe


async def test_a_request_export_with_control_characters_opens(api: Api, world: World) -> None:
    program = (await api.data("{ programs { nodes { id } } }", token=world.tokens["A"]))[
        "programs"
    ]["nodes"][0]["id"]
    raised = await api.data(
        """mutation($input: CreateConversionRequestInput!) {
          createConversionRequest(input: $input) { userErrors { field code } } }""",
        {
            "input": {
                "kind": "CREATE_NEW",
                "programId": program,
                "comment": HOSTILE,
                "requested": {
                    "orderId": "CTRL-1",
                    "conversionTarget": "SALE_NEW_CUSTOMER",
                    "trackingTime": "2026-06-01T10:00:00Z",
                    "orderValue": "50.00",
                    "subIds": ["x\x01y"],
                },
            }
        },
        token=world.tokens["A"],
    )
    assert raised["createConversionRequest"]["userErrors"] == [], raised

    found = texts(book(await exported(api, world.tokens["A"], "exportConversionRequests")))

    assert SHOWN in found
    assert "x\ufffdy" in found


async def test_an_import_error_report_with_control_characters_opens(api: Api, world: World) -> None:
    token = world.tokens["A"]
    header = ["request_type", "program", "order_id", "conversion_target", "tracking_time",
              "order_value", "comment"]  # fmt: skip
    rows = [["CREATE_NEW", "Nordwind DE", "CTRL-2", "SALE_NEW_CUSTOMER",
             "2026-06-01T10:00:00Z", "12\x01.00", HOSTILE]]  # fmt: skip
    started = await upload(api, token, f"bad\x02{header[0]}.csv", csv_bytes(header, rows))
    job = await finished(api, token, started)
    assert job["errorCount"] >= 1 and job["errorReportUrl"], job

    report = book(
        await download(api, token, job["errorReportUrl"].replace("errors.csv", "errors.xlsx"))
    )
    found = texts(report)

    assert "12\ufffd.00" in found
    assert SHOWN in found


async def test_a_template_naming_programs_with_control_characters_opens(
    api: Api, engine: AsyncEngine, world: World
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(programs)
            .where(programs.c.id == world.ids["p1"])
            .values(name="Nord\x01wind\x1f DE\uffff")
        )
    token = world.tokens["adv1"]
    urls = (await api.data("{ conversionRequestTemplate { xlsxUrl } }", token=token))[
        "conversionRequestTemplate"
    ]

    template = book(await download(api, token, urls["xlsxUrl"]))

    assert drop_downs(template)["program"] == ["Nord\ufffdwind\ufffd DE\ufffd"]
    assert any("Nord\ufffdwind" in text for text in texts(template))


def test_the_table_writer_keeps_a_workbook_whatever_the_text(tmp_path: Path) -> None:
    """The one writer of exports: NUL and the other refused characters in any text cell."""
    path = tmp_path / "t.xlsx"
    rows = [["\x00=1+1", "a\x00b" + HOSTILE, Amount(Decimal("1.5"), "EUR"), "\ud800"]]

    write_table(path, ["x", "y", "z", "w"], rows, TableFormat.XLSX)

    [_, row] = book(path.read_bytes()).worksheets[0].iter_rows(values_only=True)
    assert row == ("\ufffd=1+1", "a\ufffdb" + SHOWN, Decimal("1.50"), "\ufffd")
