"""Conversion request files (SPEC §7) through the GraphQL multipart upload and the import job:
formats, cell errors and their report, dry run, all-or-nothing, re-upload, round trip, and
files that must be refused without writing anything."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests, jobs
from tests.api.test_import_smoke import JOB, upload
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import drop_downs

LIST = """{ conversionRequests(first: 100, orderBy: {field: CREATED_AT, direction: ASC}) { nodes {
  kind requested { orderId conversionTarget trackingCategory trackingTime orderValue }
  commission { amount } } } }"""
HEADER = [
    "request_type",
    "program",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
ROWS = [
    [
        "CREATE_NEW",
        "Nordwind DE",
        "F-1",
        "SALE_NEW_CUSTOMER",
        "2026-06-01T10:00:00+02:00",
        "1234.56",
    ],
    [
        "CREATE_NEW",
        "Nordwind DE",
        "F-2",
        "SALE_EXISTING_CUSTOMER",
        "2026-06-02T09:30:00+02:00",
        "80",
    ],
]


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def comma_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode()


def german_csv_with_bom(header: list[str], rows: list[list[str]]) -> bytes:
    # Shuffled and upper-case headers, padded cells, decimal comma, dd.mm.yyyy hh:mm (Berlin).
    order = [5, 3, 0, 4, 2, 1]
    lines = [";".join(f"  {header[i].upper()} " for i in order)]
    for row in rows:
        cells = list(row)
        value = cells[5].replace(".", ",")
        cells[5] = "1.234,56" if value == "1234,56" else value
        day = cells[4][8:10] + "." + cells[4][5:7] + "." + cells[4][0:4] + " " + cells[4][11:16]
        cells[4] = day
        lines.append(";".join(f" {cells[i]} " for i in order))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(reversed(header)))
    for row in rows:
        sheet.append(list(reversed(row)))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def finished(api: Api, token: str, started: dict[str, Any]) -> dict[str, Any]:
    assert started["userErrors"] == [], started
    await api.drain_jobs()
    return (await api.data(JOB, {"id": started["importJob"]["id"]}, token=token))["node"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("variant", ["comma", "german", "xlsx"])
async def test_the_same_content_in_every_format_gives_the_same_requests(
    api: Api, engine: AsyncEngine, variant: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content, name, zone = {
        "comma": (comma_csv(HEADER, ROWS), "r.csv", "UTC"),
        "german": (german_csv_with_bom(HEADER, ROWS), "r.csv", "Europe/Berlin"),
        "xlsx": (xlsx(HEADER, ROWS), "r.xlsx", "UTC"),
    }[variant]
    job = await finished(api, token, await upload(api, token, name, content, timeZone=zone))
    assert (job["status"], job["createdCount"], job["errorCount"]) == ("SUCCEEDED", 2, 0), job
    nodes = (await api.data(LIST, token=token))["conversionRequests"]["nodes"]
    assert nodes == [
        {
            "kind": "CREATE_NEW",
            "requested": {
                "orderId": "F-1",
                "conversionTarget": "SALE_NEW_CUSTOMER",
                "trackingCategory": "default",
                "trackingTime": "2026-06-01T08:00:00Z",
                "orderValue": "1234.56",
            },
            "commission": {"amount": "61.73"},
        },
        {
            "kind": "CREATE_NEW",
            "requested": {
                "orderId": "F-2",
                "conversionTarget": "SALE_EXISTING_CUSTOMER",
                "trackingCategory": "default",
                "trackingTime": "2026-06-02T07:30:00Z",
                "orderValue": "80.00",
            },
            "commission": {"amount": "4.00"},
        },
    ]


BAD = [
    [
        "CREATE_NEW",
        "Nordwind DE",
        "G-1",
        "SALE_NEW_CUSTOMER",
        "2026-06-01T10:00:00Z",
        "10",
        "",
    ],  # good
    ["CREATE_NEW", "Nordwind DE", "G-2", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "-5", ""],
    ["CREATE_NEW", "Nordwind DE", "G-3", "SALE_NEW_CUSTOMER", "31.02.2026 10:00", "10", ""],
    ["CREATE_NEW", "Nowhere", "G-4", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "10", ""],
    [
        "CREATE_NEW",
        "Nordwind DE",
        "G-5",
        "SALE_NEW_CUSTOMER",
        "2026-06-01T10:00:00Z",
        "10",
        "shoes",
    ],
    ["CREATE_NEW", "Nordwind DE", "A-0", "SALE_NEW_CUSTOMER", "2026-03-01T00:00:00Z", "10", ""],
    [
        "CREATE_NEW",
        "Nordwind DE",
        "G-1",
        "SALE_NEW_CUSTOMER",
        "2026-06-01T10:00:00Z",
        "10",
        "",
    ],  # again
]
EXPECTED = [
    (3, "order_value", "-5", "NEGATIVE_VALUE"),
    (4, "tracking_time", "31.02.2026 10:00", "INVALID_DATETIME"),
    (5, "program", "Nowhere", "UNKNOWN_PROGRAM"),
    (6, "tracking_category", "shoes", "UNKNOWN_CATEGORY"),
    (7, "order_id", "A-0", "ORDER_ALREADY_CONVERTED"),
    (8, "order_id", "G-1", "DUPLICATE_IN_BATCH"),
]


async def test_bad_cells_are_reported_exactly_and_marked_in_the_report(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content = comma_csv([*HEADER, "tracking_category"], BAD)
    job = await finished(api, token, await upload(api, token, "bad.csv", content))
    errors = [(e["row"], e["column"], e["value"], e["code"]) for e in job["errors"]["nodes"]]
    assert errors == EXPECTED
    assert (job["createdCount"], job["errorCount"]) == (1, 6)

    report = await api.client.get(
        job["errorReportUrl"].replace(".csv", ".xlsx"), headers={"Authorization": f"Bearer {token}"}
    )
    sheet = load_workbook(io.BytesIO(report.content)).active
    header = [c.value for c in sheet[1]]
    marked = {
        (row[0].value, header[c.column - 1])
        for row in sheet.iter_rows(min_row=2)
        for c in row
        if c.fill.fgColor.rgb not in (None, "00000000")
    }
    assert marked == {(row, column) for row, column, _, _ in EXPECTED}
    text_report = (
        await api.client.get(job["errorReportUrl"], headers={"Authorization": f"Bearer {token}"})
    ).text
    flagged = [
        r["row"] for r in csv.DictReader(io.StringIO(text_report.lstrip("\ufeff"))) if r["errors"]
    ]
    assert flagged == [str(row) for row, *_ in EXPECTED]


async def test_dry_run_writes_nothing_and_reports_the_same(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    job = await finished(
        api,
        token,
        await upload(
            api, token, "bad.csv", comma_csv([*HEADER, "tracking_category"], BAD), dryRun=True
        ),
    )
    assert [(e["row"], e["code"]) for e in job["errors"]["nodes"]] == [
        (r, c) for r, _, _, c in EXPECTED
    ]
    assert await count(engine, conversion_requests) == 0


async def test_all_or_nothing_with_one_bad_row_writes_nothing(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    rows = [
        *ROWS,
        ["CREATE_NEW", "Nordwind DE", "F-3", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "-1"],
    ]
    job = await finished(
        api, token, await upload(api, token, "r.csv", comma_csv(HEADER, rows), allOrNothing=True)
    )
    assert (job["createdCount"], job["errorCount"]) == (0, 1)
    assert await count(engine, conversion_requests) == 0
    clean = await finished(
        api, token, await upload(api, token, "r.csv", comma_csv(HEADER, ROWS), allOrNothing=True)
    )
    assert clean["createdCount"] == 2 and await count(engine, conversion_requests) == 2


async def test_uploading_the_same_file_again_creates_nothing(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    content = comma_csv(HEADER, ROWS)
    first = await finished(api, token, await upload(api, token, "r.csv", content))
    second = await finished(api, token, await upload(api, token, "r.csv", content))
    assert (first["createdCount"], second["createdCount"], second["errorCount"]) == (2, 0, 0)
    assert await count(engine, conversion_requests) == 2


DECIDE_ALL = """mutation($input: DecideConversionRequestsInput!) {
  decideConversionRequests(input: $input) {
    results { userErrors { code } } userErrors { code } } }"""


@pytest.mark.parametrize("fmt", ["CSV", "XLSX"])
async def test_export_edit_import_accept_round_trip(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["adv1"]
    started = await api.data(
        "mutation($f: TableFormat!) { exportConversions(input: {format: $f}) { export { id } } }",
        {"f": fmt},
        token=token,
    )
    await api.drain_jobs()
    job = (
        await api.data(
            "query($id: ID!) { node(id: $id) { ... on ExportJob { downloadUrl } } }",
            {"id": started["exportConversions"]["export"]["id"]},
            token=token,
        )
    )["node"]
    file = (
        await api.client.get(job["downloadUrl"], headers={"Authorization": f"Bearer {token}"})
    ).content
    if fmt == "CSV":
        table = list(csv.reader(io.StringIO(file.decode("utf-8-sig"))))
    else:
        table = [[c.value for c in r] for r in load_workbook(io.BytesIO(file)).active.iter_rows()]
    header, rows = table[0], table[1:]
    assert len(rows) == 6 and {r[header.index("request_type")] for r in rows} == {"CHANGE_EXISTING"}
    edited = [r for r in rows if r[header.index("order_id")] == "A-1"]
    edited[0][header.index("status")] = "CONFIRMED"
    edited[0][header.index("order_value")] = "150.00"
    unchanged = [r for r in rows if r[header.index("order_id")] == "B-0"]
    content = comma_csv(
        header, [[("" if v is None else str(v)) for v in r] for r in edited + unchanged]
    )

    imported = await finished(api, token, await upload(api, token, "edited.csv", content))
    assert imported["createdCount"] == 1
    assert [(e["row"], e["code"]) for e in imported["errors"]["nodes"]] == [
        (3, "NOTHING_TO_CHANGE")
    ]

    requests = (await api.data("{ conversionRequests { nodes { id } } }", token=token))[
        "conversionRequests"
    ]["nodes"]
    # adv1 raised them, so adv1 may not accept them (no self-acceptance): an admin decides.
    decided = await api.data(
        DECIDE_ALL,
        {"input": {"decisions": [{"requestId": r["id"], "decision": "ACCEPT"} for r in requests]}},
        token=world.tokens["admin"],
    )
    assert decided["decideConversionRequests"]["results"][0]["userErrors"] == []
    await api.drain_jobs()
    changed = (
        await api.data(
            '{ conversions(filter: {orderId: "A-1"}) { nodes { status orderValue { amount } '
            "commission { amount } "
            "history { source } } } }",
            token=token,
        )
    )["conversions"]["nodes"][0]
    assert changed["status"] == "CONFIRMED" and changed["orderValue"]["amount"] == "150.00"
    assert changed["commission"]["amount"] == "7.50"
    assert [h["source"] for h in changed["history"]] == ["TRACKING", "REQUEST"]


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("random.xlsx", bytes(range(256)) * 8, "UNREADABLE_FILE"),
        ("image.xlsx", _png(), "UNREADABLE_FILE"),
        ("fake.xlsx", b"PK\x03\x04" + b"\x00" * 200, "UNREADABLE_FILE"),
        ("empty.csv", b"", "EMPTY_FILE"),
        ("header.csv", b"request_type,program,order_id\n", "NO_ROWS"),
        (
            "latin1.csv",
            "request_type;program;order_id\nCREATE_NEW;Müller;1\n".encode("latin-1"),
            "INVALID_ENCODING",
        ),
        ("missing.csv", b"request_type,order_id\nCREATE_NEW,1\n", "MISSING_COLUMN"),
        (
            "unknown.csv",
            b"request_type,program,order_id,colour\nCREATE_NEW,P,1,red\n",
            "UNKNOWN_COLUMN",
        ),
        (
            "twice.csv",
            b"request_type,program,order_id,order_id\nCREATE_NEW,P,1,1\n",
            "DUPLICATE_COLUMN",
        ),
        (
            "huge-cell.csv",
            b"request_type,program,order_id\nCREATE_NEW,P," + b"9" * (10 * 1024 * 1024) + b"\n",
            "CELL_TOO_LARGE",
        ),
    ],
)
async def test_files_that_cannot_be_read_are_refused_at_once_and_nothing_is_written(
    api: Api, engine: AsyncEngine, name: str, content: bytes, code: str
) -> None:
    world = await build_world(engine)
    result = await upload(api, world.tokens["A"], name, content)
    assert result["importJob"] is None
    assert [e["code"] for e in result["userErrors"]] == [code], result["userErrors"]
    assert result["userErrors"][0]["field"] == ["input", "file"]
    assert await count(engine, jobs) == 0 and await count(engine, conversion_requests) == 0
    assert (await api.data("{ viewer { user { role } } }", token=world.tokens["A"]))["viewer"][
        "user"
    ]["role"] == "PARTNER"


async def test_more_rows_than_the_limit_are_refused(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    monkeypatch.setenv("PORTAL_IMPORT_MAX_ROWS", "1")
    result = await upload(api, world.tokens["A"], "r.csv", comma_csv(HEADER, ROWS))
    assert [e["code"] for e in result["userErrors"]] == ["TOO_MANY_ROWS"]
    assert await count(engine, jobs) == 0


async def test_formulas_and_merged_cells_become_cell_errors(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append(
        ["CREATE_NEW", "Nordwind DE", "M-1", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "=1+2"]
    )
    sheet.append(
        ["CREATE_NEW", "Nordwind DE", "M-2", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "5"]
    )
    sheet.append(["CREATE_NEW", None, "M-3", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z", "5"])
    sheet.merge_cells("B3:B4")
    buffer = io.BytesIO()
    book.save(buffer)
    job = await finished(
        api, world.tokens["A"], await upload(api, world.tokens["A"], "f.xlsx", buffer.getvalue())
    )
    assert [(e["row"], e["column"], e["code"]) for e in job["errors"]["nodes"]] == [
        (2, "order_value", "FORMULA_NOT_ALLOWED"),
        (4, "program", "REQUIRED"),
    ]
    assert job["createdCount"] == 1


async def test_a_partner_file_cannot_name_another_partner(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    content = comma_csv(
        [*HEADER, "partner"], [[*ROWS[0], "Coupon Corner"], [*ROWS[1], "Cashback Club"]]
    )
    job = await finished(
        api, world.tokens["A"], await upload(api, world.tokens["A"], "p.csv", content)
    )
    assert [(e["row"], e["column"], e["code"]) for e in job["errors"]["nodes"]] == [
        (2, "partner", "UNKNOWN_PARTNER")
    ]
    assert job["createdCount"] == 1


async def test_another_users_import_reads_as_missing(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    started = await upload(
        api, world.tokens["A"], "bad.csv", comma_csv([*HEADER, "tracking_category"], BAD)
    )
    job = await finished(api, world.tokens["A"], started)
    assert (await api.data(JOB, {"id": started["importJob"]["id"]}, token=world.tokens["B"]))[
        "node"
    ] is None
    other = await api.client.get(
        job["errorReportUrl"], headers={"Authorization": f"Bearer {world.tokens['B']}"}
    )
    assert other.status_code == 404


async def test_template_marks_required_columns_and_offers_lists(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    query = "{ conversionRequestTemplate { columns { name required } csvUrl xlsxUrl } }"
    partner = (await api.data(query, token=world.tokens["A"]))["conversionRequestTemplate"]
    advertiser = (await api.data(query, token=world.tokens["adv1"]))["conversionRequestTemplate"]
    assert "partner" not in {c["name"] for c in partner["columns"]}
    assert {"name": "partner", "required": True} in advertiser["columns"]
    book = load_workbook(
        io.BytesIO(
            (
                await api.client.get(
                    advertiser["xlsxUrl"],
                    headers={"Authorization": f"Bearer {world.tokens['adv1']}"},
                )
            ).content
        )
    )
    sheet = book["requests"]
    required = {c["name"] for c in advertiser["columns"] if c["required"]}
    for cell in sheet[1]:
        assert (bool(cell.font.b) and cell.font.u == "single") == (cell.value in required), (
            cell.value
        )
    lists = drop_downs(book)
    assert lists["request_type"] == ["CREATE_NEW", "CHANGE_EXISTING"]
    assert lists["status"] == ["OPEN", "CONFIRMED", "REJECTED"]
    text = (
        await api.client.get(
            advertiser["csvUrl"], headers={"Authorization": f"Bearer {world.tokens['adv1']}"}
        )
    ).text
    assert text.lstrip("\ufeff").strip().split(",") == [c["name"] for c in advertiser["columns"]]
    assert json.dumps(partner)  # serialisable answer
