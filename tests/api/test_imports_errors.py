"""Cell errors of a request file: exactly the bad cells are reported (row, column, value,
code), the good rows are created, and the error reports mark exactly those cells. Dry runs,
all-or-nothing and uploading the same file again (SPEC §7)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from tests.api.request_helpers import create_input, gid, new_order, raise_request
from tests.conftest import Api
from tests.factories import World, build_world
from tests.import_files import (
    cell_errors,
    count,
    csv_bytes,
    download,
    marked_cells,
    read_csv,
    requests_of,
    run,
    xlsx_bytes,
)

HEADER = [
    "request_type",
    "program",
    "partner",
    "order_id",
    "conversion_target",
    "tracking_category",
    "tracking_time",
    "order_value",
    "currency",
]
T = "2026-06-01T10:00:00Z"
N = "SALE_NEW_CUSTOMER"
ROWS = [
    ["CREATE_NEW", "Nordwind DE", "Cashback Club", "G-1", N, "", T, "10", ""],  # 2 good
    ["CREATE_NEW", "Nordwind DE", "", "G-2", N, "", T, "-5", ""],  # 3
    ["CREATE_NEW", "Nordwind DE", "", "G-3", N, "shoes", T, "10", ""],  # 4
    ["CREATE_NEW", "Nordwind DE", "", "G-4", N, "", "31.02.2026 10:00", "10", "XYZ"],  # 5
    ["CREATE_NEW", "Nowhere", "", "G-5", N, "", T, "10", ""],  # 6
    ["CREATE_NEW", "Nordwind DE", "", "", N, "", T, "10", ""],  # 7 order id missing
    ["CREATE_NEW", "Nordwind DE", "Coupon Corner", "G-7", N, "", T, "10", ""],  # 8
    ["CREATE_NEW", "Nordwind DE", "", "G-1", N, "", T, "10", ""],  # 9 as row 2
    ["CREATE_NEW", "Nordwind DE", "", "A-0", N, "default", T, "10", ""],  # 10 tracked
    ["CREATE_NEW", "Nordwind DE", "", "OPEN-1", N, "", T, "10", ""],  # 11 requested
    ["CREATE_NEW", "Nordwind DE", "", "G-11", N, "", T, "1.234,5", "EUR"],  # 12 good
]
EXPECTED = [
    (3, "order_value", "-5", "NEGATIVE_VALUE"),
    (4, "tracking_category", "shoes", "UNKNOWN_CATEGORY"),
    (5, "tracking_time", "31.02.2026 10:00", "INVALID_TIME"),
    (5, "currency", "XYZ", "UNKNOWN_CURRENCY"),
    (6, "program", "Nowhere", "UNKNOWN_PROGRAM"),
    (7, "order_id", None, "REQUIRED"),
    (8, "partner", "Coupon Corner", "UNKNOWN_PARTNER"),
    (9, "order_id", "G-1", "DUPLICATE_IN_BATCH"),
    (10, "order_id", "A-0", "ORDER_ALREADY_CONVERTED"),
    (11, "order_id", "OPEN-1", "OPEN_REQUEST_EXISTS"),
]


def _file(fmt: str, rows: list[list[str]] = ROWS) -> tuple[str, bytes]:
    if fmt == "csv":
        # Semicolons: "1.234,5" is a German number.
        return "bad.csv", csv_bytes(HEADER, rows, delimiter=";")
    return "bad.xlsx", xlsx_bytes(
        HEADER, [[None if v == "" else v.replace("1.234,5", "1234.5") for v in r] for r in rows]
    )


async def _world_with_open_request(api: Api, engine: AsyncEngine) -> World:
    world = await build_world(engine)
    await raise_request(
        api, world.tokens["A"], create_input(gid("Program", world.ids["p1"]), new_order("OPEN-1"))
    )
    return world


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_exactly_the_bad_cells_are_reported_and_the_good_rows_created(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await _world_with_open_request(api, engine)
    token = world.tokens["A"]
    job = await run(api, token, *_file(fmt))
    assert cell_errors(job) == EXPECTED
    assert job["errorCount"] == job["errors"]["totalCount"] == len(EXPECTED)
    assert job["createdCount"] == 2
    assert job["progress"] == {"processed": 11, "total": 11}
    assert all(e["message"] for e in job["errors"]["nodes"])
    created = {
        r["requested"]["orderId"]: r["requested"]["orderValue"]
        for r in await requests_of(api, token)
    }
    assert created == {"G-1": "10.00", "G-11": "1234.50", "OPEN-1": "200.00"}
    assert await count(engine, conversion_requests) == 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_error_reports_mark_exactly_the_bad_cells(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await _world_with_open_request(api, engine)
    token = world.tokens["A"]
    job = await run(api, token, *_file(fmt))
    url = job["errorReportUrl"]
    assert url.endswith("/errors.csv")

    marked = marked_cells(await download(api, token, url.replace("errors.csv", "errors.xlsx")))
    assert set(marked) == {(row, column) for row, column, _, _ in EXPECTED}
    for row, column, _, code in EXPECTED:
        assert code in marked[(row, column)], (row, column, marked[(row, column)])

    table = read_csv(await download(api, token, url))
    header = table[0]
    assert header == ["row", *HEADER, "errors"]
    flagged = {int(r[0]): r[-1] for r in table[1:] if r[-1]}
    assert sorted(flagged) == sorted({row for row, *_ in EXPECTED})
    for row, column, _, code in EXPECTED:
        assert f"{column}: {code}" in flagged[row]
    # The rows with errors, and only those, with their cells as read.
    assert [int(r[0]) for r in table[1:]] == sorted({row for row, *_ in EXPECTED})
    assert table[1][1:-1] == ["CREATE_NEW", "Nordwind DE", "", "G-2", N, "", T, "'-5", ""]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_fixed_error_report_is_uploaded_again_as_it_is(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    rows = [
        ["CREATE_NEW", "Nordwind DE", "", "F-1", N, "", T, "10", ""],
        ["CREATE_NEW", "Nordwind DE", "", "F-2", N, "", T, "-5", ""],
        ["CREATE_NEW", "Nordwind DE", "", "F-3", N, "shoes", T, "-7", ""],
    ]
    first = await run(api, token, *_file(fmt, rows))
    assert (first["createdCount"], first["errorCount"]) == (1, 3)
    url = first["errorReportUrl"]
    if fmt == "csv":
        report = read_csv(await download(api, token, url))
        assert [r[0] for r in report[1:]] == ["3", "4"]
        report[1][8] = "5"  # the value of F-2; F-3 left as it was
        fixed = ("fixed.csv", csv_bytes(report[0], report[1:]))
    else:
        book = load_workbook(io.BytesIO(await download(api, token, url[:-3] + "xlsx")))
        sheet = book.worksheets[0]
        assert [row[0].value for row in sheet.iter_rows(min_row=2)] == [3, 4]
        sheet.cell(row=2, column=9).value = 5
        buffer = io.BytesIO()
        book.save(buffer)
        fixed = ("fixed.xlsx", buffer.getvalue())
    again = await run(api, token, *fixed)
    # The report's own columns are ignored; the fixed row is created, the other fails again.
    assert (again["createdCount"], again["errorCount"]) == (1, 2)
    assert sorted(cell_errors(again)) == [
        (3, "order_value", "-7", "NEGATIVE_VALUE"),
        (3, "tracking_category", "shoes", "UNKNOWN_CATEGORY"),
    ]
    assert {r["requested"]["orderId"] for r in await requests_of(api, token)} == {"F-1", "F-2"}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_dry_run_writes_nothing_and_reports_the_same(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await _world_with_open_request(api, engine)
    token = world.tokens["A"]
    job = await run(api, token, *_file(fmt), dryRun=True)
    assert job["dryRun"] is True
    assert cell_errors(job) == EXPECTED
    # createdCount of a dry run: what the real run will create.
    assert job["errorCount"] == len(EXPECTED) and job["createdCount"] == 2
    assert await count(engine, conversion_requests) == 1
    # …and the real run afterwards finds the same.
    real = await run(api, token, *_file(fmt))
    assert cell_errors(real) == EXPECTED and real["createdCount"] == 2


async def test_a_dry_run_finds_duplicates_across_batches(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big file is checked in batches; a dry run must still see a row repeating an order of
    an earlier batch (a real run refuses it)."""
    monkeypatch.setattr("portal.services.import_pass.BATCH_ROWS", 3)
    world = await _world_with_open_request(api, engine)
    token = world.tokens["A"]
    dry = await run(api, token, *_file("csv"), dryRun=True)
    real = await run(api, token, *_file("csv"))
    assert (9, "order_id", "G-1") in [e[:3] for e in cell_errors(real)]
    assert [e[:3] for e in cell_errors(dry)] == [e[:3] for e in cell_errors(real)]
    assert dry["errorCount"] == real["errorCount"] == len(EXPECTED)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_all_or_nothing_applies_nothing_when_one_row_fails(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    good = [ROWS[0], ROWS[-1]]
    one_bad = [*good, ROWS[1]]
    job = await run(api, token, *_file(fmt, one_bad), allOrNothing=True)
    assert job["allOrNothing"] is True
    assert cell_errors(job) == [(4, "order_value", "-5", "NEGATIVE_VALUE")]
    assert (job["createdCount"], job["errorCount"]) == (0, 1)
    assert await count(engine, conversion_requests) == 0

    clean = await run(api, token, *_file(fmt, good), allOrNothing=True)
    assert (clean["createdCount"], clean["errorCount"]) == (2, 0)
    assert await count(engine, conversion_requests) == 2


async def test_all_or_nothing_undoes_rows_of_earlier_batches(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portal.services.import_pass.BATCH_ROWS", 2)
    world = await build_world(engine)
    token = world.tokens["A"]
    rows = [["CREATE_NEW", "Nordwind DE", "", f"H-{i}", N, "", T, "10", ""] for i in range(5)]
    rows.append(["CREATE_NEW", "Nordwind DE", "", "H-9", N, "", T, "-1", ""])
    job = await run(api, token, *_file("csv", rows), allOrNothing=True)
    assert (job["createdCount"], job["errorCount"]) == (0, 1)
    assert await count(engine, conversion_requests) == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_uploading_the_same_file_again_creates_nothing(
    api: Api, engine: AsyncEngine, fmt: str
) -> None:
    world = await build_world(engine)
    token = world.tokens["A"]
    # The same bytes: a workbook saved anew differs (zip and document timestamps).
    same = _file(fmt, [ROWS[0], ROWS[-1]])
    first = await run(api, token, *same)
    second = await run(api, token, *same)
    assert (first["createdCount"], first["errorCount"]) == (2, 0)
    assert (second["createdCount"], second["errorCount"]) == (0, 0)
    assert await count(engine, conversion_requests) == 2
    # A dry run of it afterwards tells the same: nothing to create, nothing wrong.
    dry = await run(api, token, *same, dryRun=True)
    assert (dry["createdCount"], dry["errorCount"]) == (0, 0)


async def test_uploading_a_file_with_errors_again_creates_nothing_new(
    api: Api, engine: AsyncEngine
) -> None:
    world = await _world_with_open_request(api, engine)
    token = world.tokens["A"]
    await run(api, token, *_file("csv"))
    before = await count(engine, conversion_requests)
    again = await run(api, token, *_file("csv"))
    assert again["createdCount"] == 0
    assert await count(engine, conversion_requests) == before == 3
