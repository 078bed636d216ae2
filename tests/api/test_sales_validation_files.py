"""Issue 12: `importSalesValidation` — the validation lines as a file, through the import
pipeline (a job in `imports`, cell errors, dryRun, allOrNothing, a result report of every row),
on SQLite and PostgreSQL. The file and `validateConversions` share one code path: the same lines
give the same outcomes both ways."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.schema.ids import encode_id
from tests.api.validation_helpers import (
    JOB,
    add_lead,
    conversion_row,
    history,
    lock,
    program_gid,
    run_file,
    snapshot,
    upload,
    validate,
)
from tests.conftest import Api
from tests.factories import World, build_world
from tests.import_files import auth, csv_bytes, download, read_csv, read_xlsx, xlsx_bytes

HEADER = ["order_id", "status", "conversion_target", "order_value", "currency", "conversion_note"]
# API field → file column
COLUMNS = {
    "orderId": "order_id",
    "status": "status",
    "conversionTarget": "conversion_target",
    "orderValue": "order_value",
    "currency": "currency",
    "conversionNote": "conversion_note",
}


def as_rows(lines: list[dict[str, Any]]) -> list[list[Any]]:
    return [[line.get(api) for api, column in COLUMNS.items()] for line in lines]


def report_rows(content: bytes) -> list[dict[str, str]]:
    rows = read_csv(content)
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


async def every_outcome_world(engine: AsyncEngine) -> tuple[World, list[dict[str, Any]]]:
    """A world where the lines below give every outcome code."""
    w = await build_world(engine)
    await add_lead(engine, w, "B-2")
    await lock(engine, w.conversions["B"][0], reserved=False)
    await lock(engine, w.conversions["B"][1], reserved=True)
    lines = [
        {"orderId": "A-0", "status": "CONFIRMED"},
        {"orderId": "A-1", "status": "REJECTED", "conversionNote": "RETURNED"},
        {"orderId": "A-2", "status": "CONFIRMED", "orderValue": "300.00"},
        {"orderId": "NOPE", "status": "CONFIRMED"},
        {"orderId": "B-2", "status": "CONFIRMED"},
        {"orderId": "B-0", "status": "CONFIRMED"},
        {"orderId": "B-1", "status": "CONFIRMED"},
        {"orderId": "B-2", "status": "REJECTED", "conversionTarget": "LEAD"},
        {"orderId": "A-0", "status": "CONFIRMED"},
    ]
    return w, lines


EXPECTED = [
    "CONFIRMED",
    "REJECTED",
    "VALUE_CHANGED",
    "NOT_FOUND",
    "AMBIGUOUS",
    "PAID",
    "RESERVED",
    "INVALID",  # a rejection without a note
    "INVALID",  # the same conversion again
]


async def test_the_file_and_the_mutation_give_the_same_outcomes(
    api: Api, engine: AsyncEngine
) -> None:
    w, lines = await every_outcome_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    before = await snapshot(engine)

    # when the same lines are validated as a dry run, by the mutation and as a file
    by_api = await validate(api, token, program, lines, dry_run=True)
    job = await run_file(
        api, token, program, "book.csv", csv_bytes(HEADER, as_rows(lines)), dryRun=True
    )
    by_file = report_rows(await download(api, token, job["resultReportUrl"]))

    # then every line has the same outcome and the same error codes both ways
    assert [r["outcome"] for r in by_api["results"]] == EXPECTED
    assert [r["outcome"] for r in by_file] == EXPECTED
    api_codes = [sorted(e["code"] for e in r["userErrors"]) for r in by_api["results"]]
    file_codes: list[list[str]] = [[] for _ in lines]
    for e in job["errors"]["nodes"]:
        file_codes[e["row"] - 2].append(e["code"])
    assert api_codes == [sorted(c) for c in file_codes]
    assert [r["applied"] for r in by_file] == ["no"] * len(lines)
    assert await snapshot(engine) == before
    assert job["createdCount"] == 3  # would change
    assert job["errorCount"] == 6

    # and applied, the file does what the dry runs said
    applied = await run_file(api, token, program, "book.csv", csv_bytes(HEADER, as_rows(lines)))
    rows = report_rows(await download(api, token, applied["resultReportUrl"]))
    assert [r["outcome"] for r in rows] == EXPECTED
    assert [r["applied"] for r in rows] == ["yes", "yes", "yes"] + ["no"] * 6
    assert applied["createdCount"] == 3
    row = await conversion_row(engine, w.conversions["A"][2])
    assert (row.status, float(row.order_value), float(row.commission)) == ("CONFIRMED", 300, 15)
    found = await history(api, token, encode_id("Conversion", w.conversions["A"][1]))
    assert found["history"][-1]["source"] == "VALIDATION"
    assert found["history"][-1]["actorEmail"] == "adv1@portal.test"

    # and the mutation finds them validated
    again = await validate(api, token, program, lines[:3])
    assert [r["outcome"] for r in again["results"]] == ["UNCHANGED"] * 3


async def test_german_csv_and_xlsx_in_any_column_order(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    header = ["Conversion_Note", "ORDER_VALUE", "Status", "order_id"]

    german = csv_bytes(
        header,
        [["", "1.234,50", "confirmed", "A-0"], ["RETURNED", "", "REJECTED", "A-1"]],
        delimiter=";",
        bom=True,
    )
    job = await run_file(api, token, program, "buch.csv", german)
    assert job["errorCount"] == 0 and job["createdCount"] == 2
    row = await conversion_row(engine, w.conversions["A"][0])
    assert (row.status, float(row.order_value)) == ("CONFIRMED", 1234.5)

    workbook = xlsx_bytes(header, [[None, 99.5, "CONFIRMED", "B-0"]])
    job = await run_file(api, token, program, "book.xlsx", workbook)
    assert job["createdCount"] == 1
    row = await conversion_row(engine, w.conversions["B"][0])
    assert (row.status, float(row.order_value)) == ("CONFIRMED", 99.5)
    report = read_xlsx(await download(api, token, job["resultReportUrl"].replace(".csv", ".xlsx")))
    assert report[0][:1] == ["row"] and report[0][-5:] == [
        "outcome",
        "applied",
        "conversion_id",
        "errors",
        "changes",
    ]
    assert report[1][0] == 2 and report[1][-5] == "VALUE_CHANGED"


async def test_bad_cells_are_reported_with_row_column_value_and_code(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    before = await snapshot(engine)
    rows = [
        ["A-0", "PAID?", None, None, None, None],
        ["A-1", "CONFIRMED", None, "12,3,4", None, None],
        ["A-2", "CONFIRMED", None, "10", "XXX", None],
        ["B-0", "=1+1", None, None, None, None],
        ["B-1", None, None, None, None, None],
        ["B-2", "CONFIRMED", None, "-5", None, None],
    ]

    job = await run_file(api, token, program, "bad.csv", csv_bytes(HEADER, rows))

    found = [(e["row"], e["column"], e["value"], e["code"]) for e in job["errors"]["nodes"]]
    assert found == [
        (2, "status", "PAID?", "INVALID_VALUE"),
        (3, "order_value", "12,3,4", "INVALID_NUMBER"),
        (4, "currency", "XXX", "UNKNOWN_CURRENCY"),
        (5, "status", None, "FORMULA_NOT_ALLOWED"),
        (6, "status", None, "REQUIRED"),
        (7, "order_value", "-5", "NEGATIVE_VALUE"),
    ]
    assert job["errorCount"] == 6 and job["createdCount"] == 0
    report = report_rows(await download(api, token, job["resultReportUrl"]))
    assert [r["outcome"] for r in report] == ["INVALID"] * 6
    assert report[0]["errors"].startswith("status: INVALID_VALUE")
    assert await snapshot(engine) == before


async def test_all_or_nothing_applies_nothing_when_a_row_fails(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    before = await snapshot(engine)
    rows = as_rows(
        [
            {"orderId": "A-0", "status": "CONFIRMED"},
            {"orderId": "NOPE", "status": "CONFIRMED"},
        ]
    )

    job = await run_file(api, token, program, "b.csv", csv_bytes(HEADER, rows), allOrNothing=True)

    assert job["allOrNothing"] is True and job["createdCount"] == 0
    report = report_rows(await download(api, token, job["resultReportUrl"]))
    assert [(r["outcome"], r["applied"]) for r in report] == [
        ("CONFIRMED", "no"),
        ("NOT_FOUND", "no"),
    ]
    assert await snapshot(engine) == before

    # without the failing row, everything is applied
    job = await run_file(
        api, token, program, "b.csv", csv_bytes(HEADER, rows[:1]), allOrNothing=True
    )
    assert job["createdCount"] == 1
    assert (await conversion_row(engine, w.conversions["A"][0])).status == "CONFIRMED"


async def test_a_file_of_more_than_one_batch_finds_a_conversion_named_twice(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    rows = [["A-0", "CONFIRMED", None, None, None, None]]
    rows += [[f"MISSING-{i}", "CONFIRMED", None, None, None, None] for i in range(1100)]
    rows += [["A-0", "REJECTED", None, None, None, "RETURNED"]]

    job = await run_file(api, token, program, "big.csv", csv_bytes(HEADER, rows))

    assert job["progress"] == {"processed": 1102, "total": 1102}
    report = report_rows(await download(api, token, job["resultReportUrl"]))
    assert len(report) == 1102
    assert report[0]["outcome"] == "CONFIRMED"
    assert {r["outcome"] for r in report[1:-1]} == {"NOT_FOUND"}
    assert report[-1]["outcome"] == "INVALID" and "DUPLICATE_IN_BATCH" in report[-1]["errors"]
    assert (await conversion_row(engine, w.conversions["A"][0])).status == "CONFIRMED"


async def test_a_file_without_a_required_column_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await upload(
        api,
        w.tokens["adv1"],
        program_gid(w),
        "x.csv",
        csv_bytes(["order_id", "colour"], [["A-0", "red"]]),
    )

    assert payload["importJob"] is None
    assert sorted(e["code"] for e in payload["userErrors"]) == ["MISSING_COLUMN", "UNKNOWN_COLUMN"]


async def test_who_may_upload_for_which_program(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    content = csv_bytes(HEADER, [["C-0", "CONFIRMED", None, None, None, None]])

    foreign = await upload(api, w.tokens["adv1"], program_gid(w, "p2"), "x.csv", content)
    assert [(e["code"], e["field"]) for e in foreign["userErrors"]] == [
        ("NOT_FOUND", ["input", "programId"])
    ]
    partner = await upload(api, w.tokens["C"], program_gid(w, "p2"), "x.csv", content)
    assert [e["code"] for e in partner["userErrors"]] == ["PERMISSION_DENIED"]
    job = await run_file(api, w.tokens["admin"], program_gid(w, "p2"), "x.csv", content)
    assert job["createdCount"] == 1


async def test_the_job_and_its_report_are_the_authors_and_admins_only(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    content = csv_bytes(HEADER, [["A-0", "CONFIRMED", None, None, None, None]])
    job = await run_file(api, w.tokens["adv1"], program_gid(w), "x.csv", content)
    assert job["kind"] == "IMPORT_SALES_VALIDATION"
    assert job["errorReportUrl"] is None
    report = job["resultReportUrl"]
    assert report.endswith("/results.csv")

    for who in ("A", "B", "C", "adv2"):
        token = w.tokens[who]
        assert (await api.data(JOB, {"id": job["id"]}, token=token))["node"] is None, who
        listed = (await api.data("{ imports { totalCount nodes { id } } }", token=token))["imports"]
        assert listed == {"totalCount": 0, "nodes": []}, who
        missing = encode_id("ImportJob", 999_999)
        for suffix in ("results.csv", "results.xlsx"):
            url = report.replace("results.csv", suffix)
            theirs = await api.client.get(url, headers=auth(token))
            nothing = await api.client.get(url.replace(job["id"], missing), headers=auth(token))
            assert theirs.status_code == nothing.status_code == 404, who
            assert theirs.json() == nothing.json()
    mine = await api.data("{ imports { nodes { id kind } } }", token=w.tokens["adv1"])
    assert mine["imports"]["nodes"] == [{"id": job["id"], "kind": "IMPORT_SALES_VALIDATION"}]
    assert (await api.client.get(report, headers=auth(w.tokens["adv1"]))).status_code == 200
    assert (await api.client.get(report)).status_code == 401
    # Admins see every job (the rule of all imports), its report included.
    assert (await api.data(JOB, {"id": job["id"]}, token=w.tokens["admin"]))["node"] is not None
    assert (await api.client.get(report, headers=auth(w.tokens["admin"]))).status_code == 200


async def test_the_template_marks_the_required_columns(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    token = w.tokens["adv1"]

    found = (
        await api.data(
            "{ salesValidationTemplate {"
            " columns { name required allowedValues } csvUrl xlsxUrl } }",
            token=token,
        )
    )["salesValidationTemplate"]

    required = [c["name"] for c in found["columns"] if c["required"]]
    assert required == ["order_id", "status"]
    status = next(c for c in found["columns"] if c["name"] == "status")
    assert status["allowedValues"] == ["CONFIRMED", "REJECTED"]
    assert read_csv(await download(api, token, found["csvUrl"]))[0] == [
        c["name"] for c in found["columns"]
    ]
    book = load_workbook(io.BytesIO(await download(api, token, found["xlsxUrl"])))
    header = list(book.worksheets[0][1])
    marked = [c.value for c in header if c.font.bold and c.font.underline == "single"]
    assert marked == ["order_id", "status"]
    assert (await api.client.get(found["csvUrl"])).status_code == 401
