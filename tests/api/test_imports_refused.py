"""Files that cannot be imported: each is a clear, coded user error of
importConversionRequests with nothing written (no job, no request), and the server answers
afterwards. Cells a job cannot take (formulas, merged blanks, huge strings) are cell errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests, import_errors, jobs
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import (
    cell_errors,
    count,
    csv_bytes,
    run,
    upload,
    with_sheet_xml,
    xlsx_bytes,
)

HEADER = [
    "request_type",
    "program",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
T = "2026-06-01T10:00:00Z"


def _row(order: str, value: object = "10") -> list[object]:
    return ["CREATE_NEW", "Nordwind DE", order, "SALE_NEW_CUSTOMER", T, value]


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


BIG = 10 * 1024 * 1024


def _hostile(edit: Callable[[bytes], bytes]) -> bytes:
    """A workbook with its sheet's XML edited as no spreadsheet program writes it."""
    return with_sheet_xml(xlsx_bytes(HEADER, [_row("1"), _row("2"), _row("3")]), edit)


def _entities(xml: bytes) -> bytes:
    """Entities that would multiply rows the upload counted once."""
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in (90, 91))
    body = xml.split(b"?>", 1)[-1] if xml.startswith(b"<?xml") else xml
    return (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY more "{rows}">]>'.encode()
        + body.replace(b"</sheetData>", b"&more;</sheetData>")
    )


async def _refused(
    api: Api, engine: AsyncEngine, token: str, name: str, content: bytes, **options: object
) -> list[dict[str, object]]:
    result = await upload(api, token, name, content, **options)
    assert result["importJob"] is None, result
    assert await count(engine, jobs) == 0
    assert await count(engine, conversion_requests) == 0
    assert await count(engine, import_errors) == 0
    # The server still answers.
    assert (await api.data("{ viewer { user { role } } }", token=token))["viewer"]["user"]
    errors: list[dict[str, object]] = result["userErrors"]
    return errors


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("random.xlsx", bytes(range(256)) * 64, "UNREADABLE_FILE"),
        ("image.xlsx", _png(), "UNREADABLE_FILE"),
        ("zip.xlsx", b"PK\x03\x04" + bytes(range(256)) * 4, "UNREADABLE_FILE"),
        ("empty.csv", b"", "EMPTY_FILE"),
        ("empty.xlsx", b"", "EMPTY_FILE"),
        ("blank.csv", b"\r\n\r\n", "EMPTY_FILE"),
        ("bom.csv", b"\xef\xbb\xbf", "EMPTY_FILE"),
        ("empty-sheet.xlsx", xlsx_bytes([], []), "EMPTY_FILE"),
        ("header.csv", csv_bytes(HEADER, []), "NO_ROWS"),
        ("header-crlf.csv", csv_bytes(HEADER, [], newline="\r\n", bom=True), "NO_ROWS"),
        ("blank-rows.csv", csv_bytes(HEADER, [[""] * 6, [" "] * 6]), "NO_ROWS"),
        ("header.xlsx", xlsx_bytes(HEADER, []), "NO_ROWS"),
        (
            "latin1-header.csv",
            ("request_type;program;order_id;Straße\n").encode("latin-1"),
            "INVALID_ENCODING",
        ),
        (
            "latin1.csv",
            csv_bytes(
                HEADER,
                [_row("1"), [*_row("2")[:1], "Müller", *_row("2")[2:]]],
                delimiter=";",
                encoding="latin-1",
            ),
            "INVALID_ENCODING",
        ),
        (
            "huge-cell.csv",
            csv_bytes(HEADER, [_row("1"), _row("9" * BIG)]),
            "CELL_TOO_LARGE",
        ),
        (
            "huge-header.csv",
            csv_bytes([*HEADER, "x" * 100_000], [[*_row("1"), ""]]),
            "CELL_TOO_LARGE",
        ),
        (
            "extra-cells.csv",
            csv_bytes(HEADER, [_row("1"), [*_row("2"), "surprise"]]),
            "EXTRA_CELLS",
        ),
        ("entities.xlsx", _hostile(_entities), "UNREADABLE_FILE"),
        ("wide.xlsx", _hostile(lambda x: x.replace(b'r="B3"', b'r="ZZZZZZ3"')), "UNREADABLE_FILE"),
        (
            "order.xlsx",
            _hostile(lambda x: x.replace(b'<row r="3"', b'<row r="2"')),
            "UNREADABLE_FILE",
        ),
    ],
)
async def test_unreadable_files_are_refused_at_once(
    api: Api, engine: AsyncEngine, name: str, content: bytes, code: str
) -> None:
    world = await build_world(engine)
    errors = await _refused(api, engine, world.tokens["A"], name, content)
    assert [e["code"] for e in errors] == [code], errors
    assert errors[0]["field"] == ["input", "file"]
    assert errors[0]["message"]
    assert len(str(errors[0]["message"])) < 1000


@pytest.mark.parametrize(
    ("header", "codes", "named"),
    [
        (["request_type", "order_id", "order_value"], ["MISSING_COLUMN"], ["program"]),
        ([*HEADER, "colour"], ["UNKNOWN_COLUMN"], ["colour"]),
        ([*HEADER, "Order_ID "], ["DUPLICATE_COLUMN"], ["order_id"]),
        (
            ["request_type", "order_id", "shop", "order_id"],
            ["DUPLICATE_COLUMN", "UNKNOWN_COLUMN", "MISSING_COLUMN"],
            ["order_id", "shop", "program"],
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_missing_unknown_and_duplicate_columns_are_named(
    api: Api, engine: AsyncEngine, header: list[str], codes: list[str], named: list[str], fmt: str
) -> None:
    world = await build_world(engine)
    rows = [["x"] * len(header)]
    content = csv_bytes(header, rows) if fmt == "csv" else xlsx_bytes(header, rows)
    errors = await _refused(api, engine, world.tokens["A"], f"cols.{fmt}", content)
    by_code = {str(e["code"]): str(e["message"]) for e in errors}
    assert sorted(by_code) == sorted(codes) and len(errors) == len(codes), errors
    for code, name in zip(codes, named, strict=True):
        assert name in by_code[code], (code, by_code[code])


async def test_advertisers_files_need_the_partner_column(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    errors = await _refused(
        api, engine, world.tokens["adv1"], "adv.csv", csv_bytes(HEADER, [_row("1")])
    )
    assert [e["code"] for e in errors] == ["MISSING_COLUMN"]
    assert "partner" in str(errors[0]["message"])


async def test_more_rows_than_the_limit(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    monkeypatch.setenv("PORTAL_IMPORT_MAX_ROWS", "3")
    four = csv_bytes(HEADER, [_row(f"L-{i}") for i in range(4)])
    errors = await _refused(api, engine, world.tokens["A"], "rows.csv", four)
    assert [e["code"] for e in errors] == ["TOO_MANY_ROWS"]
    assert "3" in str(errors[0]["message"])
    three = await run(
        api, world.tokens["A"], "rows.csv", csv_bytes(HEADER, [_row(f"L-{i}") for i in range(3)])
    )
    assert three["createdCount"] == 3


async def test_a_file_over_the_size_limit(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    content = csv_bytes(HEADER, [_row("S-1")])
    monkeypatch.setenv("PORTAL_IMPORT_MAX_BYTES", str(len(content) - 1))
    errors = await _refused(api, engine, world.tokens["A"], "big.csv", content)
    assert [e["code"] for e in errors] == ["FILE_TOO_LARGE"]
    assert errors[0]["field"] == ["input", "file"]
    monkeypatch.setenv("PORTAL_IMPORT_MAX_BYTES", str(len(content)))
    exact = await run(api, world.tokens["A"], "big.csv", content)
    assert exact["createdCount"] == 1


async def test_an_unknown_time_zone(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    errors = await _refused(
        api,
        engine,
        world.tokens["A"],
        "r.csv",
        csv_bytes(HEADER, [_row("1")]),
        timeZone="Mars/Base",
    )
    assert [(e["code"], e["field"]) for e in errors] == [
        ("UNKNOWN_TIME_ZONE", ["input", "timeZone"])
    ]


async def test_formulas_are_cell_errors(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    content = xlsx_bytes(
        HEADER,
        [
            _row("M-1", "=1+2"),
            _row("M-2", 5),
            ["CREATE_NEW", "=A1", "M-3", "SALE_NEW_CUSTOMER", T, 5],
        ],
    )
    job = await run(api, world.tokens["A"], "f.xlsx", content)
    assert cell_errors(job) == [
        (2, "order_value", "=1+2", "FORMULA_NOT_ALLOWED"),
        (4, "program", "=A1", "FORMULA_NOT_ALLOWED"),
    ]
    assert job["createdCount"] == 1 and await count(engine, conversion_requests) == 1


async def test_merged_cells_leave_the_other_rows_blank(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)

    def merge(sheet: object) -> None:
        sheet.merge_cells("B2:B4")  # type: ignore[attr-defined]
        sheet.merge_cells("F3:F4")  # type: ignore[attr-defined]

    content = xlsx_bytes(HEADER, [_row("M-1"), _row("M-2"), _row("M-3")], edit=merge)
    job = await run(api, world.tokens["A"], "m.xlsx", content)
    assert cell_errors(job) == [
        (3, "program", None, "REQUIRED"),
        (4, "program", None, "REQUIRED"),
    ]
    assert job["createdCount"] == 1


async def test_a_huge_xlsx_cell_is_a_cell_error(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    content = xlsx_bytes(
        HEADER,
        [
            _row("X-1"),
            _row("X-2"),
            ["CREATE_NEW", "Nordwind DE", "X-3", "SALE_NEW_CUSTOMER", T, "1" * BIG],
        ],
    )
    job = await run(api, world.tokens["A"], "huge.xlsx", content)
    errors = cell_errors(job)
    assert [(r, c, code) for r, c, _, code in errors] == [(4, "order_value", "CELL_TOO_LARGE")]
    assert len(errors[0][2] or "") <= 201  # the value shown, cut short
    assert job["createdCount"] == 2 and await count(engine, conversion_requests) == 2
    # The error reports are small, too: the huge cell is not copied whole.
    for url in (job["errorReportUrl"], job["errorReportUrl"].replace(".csv", ".xlsx")):
        response = await api.client.get(
            url, headers={"Authorization": f"Bearer {world.tokens['A']}"}
        )
        assert response.status_code == 200
        assert len(response.content) < 1_000_000
