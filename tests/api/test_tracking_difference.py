"""The order book and the tracking-difference report (issue 12): a book built in the test gives
exact counts of matched, untracked, not-in-book and value-difference orders and the monthly
percentage, by mutation and by file alike; re-uploading a period replaces it; duplicate order
ids are refused with nothing written; who may upload, read and download."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import order_book_lines, order_books
from tests.api.order_world import OrderWorld, build_order_world, record
from tests.conftest import Api
from tests.import_files import auth, csv_bytes, read_csv, read_xlsx, xlsx_bytes

UPLOAD = """
mutation($input: UploadOrderBookInput!) {
  uploadOrderBook(input: $input) {
    orderBook { programId firstDay lastDay lineCount totalValue { amount currency } replaced }
    userErrors { field code message }
  }
}"""
IMPORT = """
mutation($input: ImportOrderBookInput!) {
  importOrderBook(input: $input) {
    orderBook { lineCount totalValue { amount currency } replaced }
    cellErrors { row column code message }
    userErrors { field code message }
  }
}"""
REPORT = """
query($p: ID!, $period: DatePeriodInput!, $limit: Int! = 100) {
  trackingDifference(programId: $p, period: $period, rowLimit: $limit) {
    orderBook { lineCount }
    bookOrders { count value { amount currency } }
    matched { count value { amount } }
    untracked { count value { amount } }
    notInBook { count value { amount } }
    valueDifferences { count value { amount } }
    percent
    months { month bookOrders untrackedOrders untrackedValue { amount } percent }
    rowLimit
    matchedRows { orderId conversionId trackedValue { amount } }
    untrackedRows { orderId bookValue { amount } }
    notInBookRows { orderId conversionId trackedValue { amount } conversionStatus }
    valueDifferenceRows { orderId bookValue { amount } trackedValue { amount }
      difference { amount } }
    csvUrl xlsxUrl
  }
}"""
PERIOD = {"from": "2024-05-01", "to": "2024-06-30"}


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# Tracked (program P, partner A): order id, tracking day, order value.
TRACKED = [
    ("O1", "2024-06-01", "100.00"),  # in the book, same value
    ("O2", "2024-06-02", "50.00"),  # in the book at 55.50: +5.50
    ("O3", "2024-05-20", "20.00"),  # in the book at 19.99: −0.01
    ("O4", "2024-06-03", "70.00"),  # not in the book
    ("O5", "2024-05-10", "30.00"),  # not in the book
    ("O6", "2024-07-02", "99.00"),  # not in the book, but tracked after the period
]
# The book: order id, order day, value, currency.
BOOK = [
    ("O1", "2024-06-01", "100.00", None),
    ("O2", "2024-06-02", "55.50", None),
    ("O3", "2024-05-20", "19.99", "EUR"),
    ("B4", "2024-06-10", "40.00", None),  # untracked
    ("B5", "2024-05-05", "10.00", None),  # untracked here (program Q tracked B5: no match)
    ("B6", "2024-05-06", "12.345", None),  # untracked
    ("B7", "2024-06-20", "1.00", "USD"),  # untracked; USD 1.00 at 1.25 = EUR 0.80
]


async def tracked_world(api: Api, engine: AsyncEngine) -> OrderWorld:
    world = await build_order_world(engine)
    await world.add_rate("USD", at("2024-06-20"), "1.25")
    for order_id, day, value in TRACKED:
        moment = at(day)
        payload = await record(
            api,
            world,
            world.order(
                order_id,
                at=moment,
                value=value,
                touchpoints=[world.cookie("A", moment - timedelta(hours=1))],
            ),
        )
        assert payload["userErrors"] == [], payload
    other = world.order(
        "B5",
        program="Q",
        at=at("2024-05-05"),
        touchpoints=[world.cookie("A", at("2024-05-05", 10))],
    )
    assert (await record(api, world, other, token="admin"))["userErrors"] == []
    return world


@pytest.fixture
async def world(api: Api, engine: AsyncEngine) -> OrderWorld:
    return await tracked_world(api, engine)


def lines(book: list[tuple[str, str, str, str | None]] = BOOK) -> list[dict[str, Any]]:
    return [
        {
            "orderId": order_id,
            "orderTime": at(day, 9).isoformat(),
            "orderValue": value,
            **({"currency": currency} if currency else {}),
        }
        for order_id, day, value, currency in book
    ]


async def upload(
    api: Api,
    world: OrderWorld,
    book_lines: list[dict[str, Any]],
    token: str = "adv",
    program: str = "P",
    period: dict[str, str] = PERIOD,
) -> dict[str, Any]:
    variables = {
        "input": {
            "programId": world.gid("Program", program),
            "period": period,
            "lines": book_lines,
        }
    }
    data = await api.data(UPLOAD, variables, token=world.tokens[token])
    return data["uploadOrderBook"]  # type: ignore[no-any-return]


async def import_file(
    api: Api, world: OrderWorld, name: str, content: bytes, token: str = "adv"
) -> dict[str, Any]:
    variables = {"input": {"file": None, "programId": world.gid("Program", "P"), "period": PERIOD}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": IMPORT, "variables": variables}),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers=auth(world.tokens[token]),
    )
    body = response.json()
    assert body.get("errors") is None, body
    return body["data"]["importOrderBook"]  # type: ignore[no-any-return]


async def report(
    api: Api, world: OrderWorld, token: str = "adv", limit: int = 100
) -> dict[str, Any]:
    variables = {"p": world.gid("Program", "P"), "period": PERIOD, "limit": limit}
    data = await api.data(REPORT, variables, token=world.tokens[token])
    return data["trackingDifference"]  # type: ignore[no-any-return]


async def stored_lines(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(order_book_lines)) or 0)


def assert_expected_report(found: dict[str, Any]) -> None:
    assert found["bookOrders"] == {"count": 7, "value": {"amount": "238.635", "currency": "EUR"}}
    assert found["matched"] == {"count": 3, "value": {"amount": "175.49"}}
    assert found["untracked"] == {"count": 4, "value": {"amount": "63.145"}}
    assert found["notInBook"] == {"count": 2, "value": {"amount": "100.00"}}
    assert found["valueDifferences"] == {"count": 2, "value": {"amount": "5.49"}}
    assert found["percent"] == "57.14"  # 4 of 7
    assert found["months"] == [
        {
            "month": "2024-05",
            "bookOrders": 3,
            "untrackedOrders": 2,
            "untrackedValue": {"amount": "22.345"},
            "percent": "66.67",
        },
        {
            "month": "2024-06",
            "bookOrders": 4,
            "untrackedOrders": 2,
            "untrackedValue": {"amount": "40.80"},
            "percent": "50.00",
        },
    ]
    assert [r["orderId"] for r in found["matchedRows"]] == ["O3", "O1", "O2"]
    assert all(r["conversionId"] for r in found["matchedRows"])
    assert [r["orderId"] for r in found["untrackedRows"]] == ["B5", "B6", "B4", "B7"]
    assert [r["bookValue"]["amount"] for r in found["untrackedRows"]][-1] == "0.80"
    assert [(r["orderId"], r["trackedValue"]["amount"]) for r in found["notInBookRows"]] == [
        ("O5", "30.00"),
        ("O4", "70.00"),
    ]
    assert [
        (r["orderId"], r["bookValue"]["amount"], r["trackedValue"]["amount"])
        for r in found["valueDifferenceRows"]
    ] == [("O3", "19.99", "20.00"), ("O2", "55.50", "50.00")]
    assert [r["difference"]["amount"] for r in found["valueDifferenceRows"]] == ["-0.01", "5.50"]


async def test_the_report_counts_a_book_built_in_the_test(api: Api, world: OrderWorld) -> None:
    stored = await upload(api, world, lines())
    assert stored["userErrors"] == []
    assert stored["orderBook"]["lineCount"] == 7
    assert stored["orderBook"]["totalValue"] == {"amount": "238.635", "currency": "EUR"}
    assert stored["orderBook"]["replaced"] is False
    assert_expected_report(await report(api, world))


async def test_row_lists_are_capped_and_totals_stay_exact(api: Api, world: OrderWorld) -> None:
    await upload(api, world, lines())
    found = await report(api, world, limit=1)
    assert found["rowLimit"] == 1
    assert [r["orderId"] for r in found["untrackedRows"]] == ["B5"]
    assert found["untracked"]["count"] == 4 and found["notInBook"]["count"] == 2
    too_many = await api.query(
        REPORT,
        {"p": world.gid("Program", "P"), "period": PERIOD, "limit": 1001},
        token=world.tokens["adv"],
    )
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("kind", ["german-csv", "xlsx"])
async def test_a_file_gives_the_same_report(api: Api, world: OrderWorld, kind: str) -> None:
    header = ["Status", "ORDER_VALUE", "currency", "order_time", "order_id"]
    if kind == "german-csv":
        rows = [
            [
                "paid",
                value.replace(".", ","),
                currency or "",
                at(day, 9).strftime("%d.%m.%Y %H:%M"),
                oid,
            ]
            for oid, day, value, currency in BOOK
        ]
        content, name = csv_bytes(header, rows, delimiter=";", bom=True), "book.csv"
    else:
        rows = [
            ["paid", value, currency, at(day, 9).replace(tzinfo=None), oid]
            for oid, day, value, currency in BOOK
        ]
        content, name = xlsx_bytes(header, rows), "book.xlsx"
    payload = await import_file(api, world, name, content)
    assert payload["userErrors"] == [] and payload["cellErrors"] == [], payload
    assert payload["orderBook"]["lineCount"] == 7
    assert_expected_report(await report(api, world))


async def test_uploading_the_period_again_replaces_it(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    await upload(api, world, lines())
    again = await upload(api, world, lines(BOOK[:2]))
    assert again["userErrors"] == []
    assert again["orderBook"]["lineCount"] == 2 and again["orderBook"]["replaced"] is True
    assert await stored_lines(engine) == 2
    found = await report(api, world)
    assert found["bookOrders"]["count"] == 2 and found["untracked"]["count"] == 0
    assert found["matched"]["count"] == 2
    assert found["notInBook"]["count"] == 3  # O3, O4, O5 now
    assert found["percent"] == "0.00"
    # An overlapping other period is refused; the stored book stays.
    overlap = await upload(
        api, world, lines(BOOK[:1]), period={"from": "2024-06-01", "to": "2024-07-31"}
    )
    assert [e["code"] for e in overlap["userErrors"]] == ["PERIOD_OVERLAP"]
    assert await stored_lines(engine) == 2


async def test_duplicate_order_ids_are_refused_and_nothing_is_written(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    await upload(api, world, lines(BOOK[:3]))
    book = lines()
    book.append({**book[1], "orderValue": "1.00"})  # O2 again, line 8
    refused = await upload(api, world, book)
    assert refused["orderBook"] is None
    [error] = refused["userErrors"]
    assert error["code"] == "DUPLICATE_ORDER_ID"
    assert error["field"] == ["input", "lines", "7", "orderId"]
    assert "line 2 and line 8" in error["message"]
    assert await stored_lines(engine) == 3  # the earlier upload, untouched
    # The same in a file: the rows are named.
    header = ["order_id", "order_time", "order_value"]
    rows = [["X1", "2024-06-01T10:00:00Z", "1"], ["X2", "2024-06-01T10:00:00Z", "2"]]
    rows.append(["X1", "2024-06-02T10:00:00Z", "3"])
    payload = await import_file(api, world, "dup.csv", csv_bytes(header, rows))
    assert payload["orderBook"] is None
    assert [(e["row"], e["column"], e["code"]) for e in payload["cellErrors"]] == [
        (4, "order_id", "DUPLICATE_ORDER_ID")
    ]
    assert "row 2 and row 4" in payload["cellErrors"][0]["message"]
    assert await stored_lines(engine) == 3


async def test_bad_lines_and_periods_are_coded(api: Api, world: OrderWorld) -> None:
    bad = [
        *lines(BOOK[:1]),
        {"orderId": " ", "orderTime": at("2024-06-01").isoformat(), "orderValue": "1"},
        {"orderId": "late", "orderTime": at("2024-07-01").isoformat(), "orderValue": "1"},
        {"orderId": "neg", "orderTime": at("2024-06-01").isoformat(), "orderValue": "-1"},
        {"orderId": "cur", "orderTime": at("2024-06-01").isoformat(), "orderValue": "1",
         "currency": "XYZ"},
        {"orderId": "nor", "orderTime": at("2024-06-01").isoformat(), "orderValue": "1",
         "currency": "NOK"},
    ]  # fmt: skip
    refused = await upload(api, world, bad)
    assert [(e["field"][2], e["code"]) for e in refused["userErrors"]] == [
        ("1", "BLANK"),
        ("2", "OUTSIDE_PERIOD"),
        ("3", "NEGATIVE_VALUE"),
        ("4", "UNKNOWN_CURRENCY"),
    ]
    # NOK has no rate: found once the lines are otherwise valid.
    refused = await upload(api, world, [*lines(BOOK[:1]), bad[-1]])
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "lines", "1", "currency"], "MISSING_EXCHANGE_RATE")
    ]
    backwards = await upload(api, world, [], period={"from": "2024-06-30", "to": "2024-06-01"})
    assert [e["code"] for e in backwards["userErrors"]] == ["INVALID_PERIOD"]
    too_long = await upload(api, world, [], period={"from": "2024-01-01", "to": "2025-01-01"})
    assert [e["code"] for e in too_long["userErrors"]] == ["PERIOD_TOO_LONG"]
    missing = await api.query(
        REPORT,
        {"p": world.gid("Program", "P"), "period": {"from": "2023-01-01",
                                                    "to": "2023-01-31"}},
        token=world.tokens["adv"],
    )  # fmt: skip
    assert missing["errors"][0]["extensions"]["reason"] == "NOT_FOUND"


async def test_the_report_downloads_as_csv_and_xlsx(api: Api, world: OrderWorld) -> None:
    await upload(api, world, lines())
    found = await report(api, world)
    response = await api.client.get(found["csvUrl"], headers=auth(world.tokens["adv"]))
    assert response.status_code == 200, response.text
    table = read_csv(response.content)
    kinds = [row[0] for row in table[1:]]
    assert kinds.count("MATCHED") == 3 and kinds.count("UNTRACKED") == 4
    assert kinds.count("NOT_IN_BOOK") == 2 and kinds.count("VALUE_DIFFERENCE") == 2
    assert kinds[-3:] == ["MONTH", "MONTH", "TOTAL"]
    header = table[0]
    total = dict(zip(header, table[-1], strict=True))
    assert total["book_orders"] == "7" and total["untracked_orders"] == "4"
    assert total["tracking_difference_percent"] == "57.14"
    response = await api.client.get(found["xlsxUrl"], headers=auth(world.tokens["admin"]))
    assert response.status_code == 200
    sheet = read_xlsx(response.content)
    assert len(sheet) == 1 + 3 + 4 + 2 + 2 + 2 + 1
    template = await api.client.get(
        "/files/order-books/template.csv", headers=auth(world.tokens["adv"])
    )
    assert read_csv(template.content) == [
        ["order_id", "order_time", "order_value", "currency", "status"]
    ]


# -- visibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["A", "other"])
async def test_partners_and_other_advertisers_are_refused_everywhere(
    api: Api, world: OrderWorld, engine: AsyncEngine, token: str
) -> None:
    refused = await upload(api, world, lines(), token=token)
    assert refused["orderBook"] is None
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    header = ["order_id", "order_time", "order_value"]
    payload = await import_file(
        api, world, "b.csv", csv_bytes(header, [["X", "2024-06-01T10:00:00Z", "1"]]), token
    )
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(order_books)) == 0
    # The advertiser's book exists: still nothing to see.
    await upload(api, world, lines())
    for query in (
        REPORT,
        "query($p: ID!, $period: DatePeriodInput!) { "
        "orderBook(programId: $p, period: $period) { lineCount } }",
    ):
        answer = await api.query(
            query, {"p": world.gid("Program", "P"), "period": PERIOD}, token=world.tokens[token]
        )
        assert answer["errors"][0]["extensions"]["reason"] == "NOT_FOUND", answer
    url = f"/files/tracking-difference/{world.gid('Program', 'P')}/2024-05-01_2024-06-30.csv"
    response = await api.client.get(url, headers=auth(world.tokens[token]))
    assert response.status_code == 404
    assert (await api.client.get(url)).status_code == 401


async def test_admins_may_upload_read_and_download(api: Api, world: OrderWorld) -> None:
    stored = await upload(api, world, lines(), token="admin")
    assert stored["userErrors"] == [] and stored["orderBook"]["lineCount"] == 7
    found = await report(api, world, token="admin")
    assert_expected_report(found)
    response = await api.client.get(found["csvUrl"], headers=auth(world.tokens["admin"]))
    assert response.status_code == 200
    # The other advertiser's own program is its own: its book is its to upload.
    other = await upload(api, world, lines(BOOK[4:5]), token="other", program="Q")
    assert other["userErrors"] == []


# -- the opt-in step: rejecting the conversions not in the book, through the validation ------

REJECT = """
mutation($input: RejectConversionsNotInBookInput!) {
  rejectConversionsNotInBook(input: $input) {
    results { index orderId outcome status changes { field from to }
      userErrors { field code } conversion { id status conversionNote history { source } } }
    counts { outcome count }
    remainingCount dryRun
    userErrors { field code message }
  }
}"""


async def reject(
    api: Api, world: OrderWorld, older_than_days: int, token: str = "adv", **extra: Any
) -> dict[str, Any]:
    variables = {
        "input": {
            "programId": world.gid("Program", "P"),
            "period": PERIOD,
            "olderThanDays": older_than_days,
            "conversionNote": "CANCELLED",
            **extra,
        }
    }
    data = await api.data(REJECT, variables, token=world.tokens[token])
    return data["rejectConversionsNotInBook"]  # type: ignore[no-any-return]


async def with_note(engine: AsyncEngine, world: OrderWorld) -> None:
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.services import vocabulary
    from tests.factories import ADMIN

    async with UnitOfWork(engine) as uow:
        await vocabulary.create_conversion_note(
            uow, ADMIN, program_id=world.ids["P"], code="CANCELLED", text="Cancelled order"
        )
        await uow.commit()


async def test_rejecting_the_not_in_book_conversions_goes_through_the_validation(
    api: Api, world: OrderWorld, engine: AsyncEngine
) -> None:
    await with_note(engine, world)
    await upload(api, world, lines())
    # O5 (tracked 2024-05-10) is older than the cut-off, O4 (2024-06-03) is not.
    days = (datetime.now(UTC) - at("2024-05-20")).days
    dry = await reject(api, world, days, dryRun=True)
    assert dry["userErrors"] == [] and dry["dryRun"] is True
    assert [(r["orderId"], r["outcome"]) for r in dry["results"]] == [("O5", "REJECTED")]
    assert dry["results"][0]["conversion"]["status"] == "OPEN"  # nothing written
    done = await reject(api, world, days)
    [result] = done["results"]
    assert (result["orderId"], result["outcome"], result["status"]) == (
        "O5",
        "REJECTED",
        "REJECTED",
    )
    assert result["conversion"]["conversionNote"] == "CANCELLED"
    assert result["conversion"]["history"][-1]["source"] == "VALIDATION"
    assert done["counts"] == [{"outcome": "REJECTED", "count": 1}]
    assert done["remainingCount"] == 0
    # All of them (O4 too); O5, already rejected, is no longer among them.
    rest = await reject(api, world, 0)
    assert [(r["orderId"], r["outcome"]) for r in rest["results"]] == [("O4", "REJECTED")]
    # The report still counts them as not in the book, now rejected.
    found = await report(api, world)
    assert [(r["orderId"], r["conversionStatus"]) for r in found["notInBookRows"]] == [
        ("O5", "REJECTED"),
        ("O4", "REJECTED"),
    ]


async def test_the_reject_step_reports_lines_the_validation_refuses(
    api: Api, world: OrderWorld
) -> None:
    await upload(api, world, lines())
    # No note CANCELLED in the program: each line is INVALID, nothing is written.
    refused = await reject(api, world, 0)
    assert [r["outcome"] for r in refused["results"]] == ["INVALID", "INVALID"]
    assert {e["code"] for r in refused["results"] for e in r["userErrors"]} == {
        "UNKNOWN_CONVERSION_NOTE"
    }
    assert [r["conversion"]["status"] for r in refused["results"]] == ["OPEN", "OPEN"]
    bad = await reject(api, world, -1)
    assert [e["code"] for e in bad["userErrors"]] == ["OUT_OF_RANGE"]


@pytest.mark.parametrize("token", ["A", "other"])
async def test_partners_and_other_advertisers_may_not_reject(
    api: Api, world: OrderWorld, engine: AsyncEngine, token: str
) -> None:
    await with_note(engine, world)
    await upload(api, world, lines())
    refused = await reject(api, world, 0, token=token)
    assert refused["results"] == []
    assert [e["code"] for e in refused["userErrors"]] == ["NOT_FOUND"]
    admin = await reject(api, world, 0, token="admin", dryRun=True)
    assert len(admin["results"]) == 2


async def test_a_lead_of_the_order_id_matches_but_has_no_value_to_compare(
    api: Api, world: OrderWorld
) -> None:
    moment = at("2024-06-15")
    lead = world.order(
        "L1",
        at=moment,
        value="0.00",
        conversionTarget="LEAD",
        touchpoints=[world.cookie("A", moment - timedelta(hours=1))],
    )
    assert (await record(api, world, lead))["userErrors"] == []
    await upload(api, world, lines([*BOOK, ("L1", "2024-06-15", "80.00", None)]))
    found = await report(api, world)
    assert found["matched"]["count"] == 4 and found["untracked"]["count"] == 4
    assert found["valueDifferences"]["count"] == 2  # the lead's 0.00 is not an order value
    [row] = [r for r in found["matchedRows"] if r["orderId"] == "L1"]
    assert row["conversionId"] is None and row["trackedValue"] is None


async def test_limits_of_a_call_and_of_a_file(
    api: Api, world: OrderWorld, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.resolvers import order_books as resolver
    from portal.services import order_book_files

    monkeypatch.setattr(resolver, "MAX_LINES_PER_CALL", 3)
    refused = await upload(api, world, lines(BOOK[:4]))
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [
        (["input", "lines"], "TOO_MANY_LINES")
    ]
    monkeypatch.setattr(order_book_files, "MAX_FILE_LINES", 2)
    header = ["order_id", "order_time", "order_value"]
    rows = [[f"X{i}", "2024-06-01T10:00:00Z", "1"] for i in range(3)]
    payload = await import_file(api, world, "big.csv", csv_bytes(header, rows))
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "file"], "TOO_MANY_LINES")
    ]
    assert await stored_lines(engine) == 0
    # Bad cells are named by row and column; nothing is written.
    monkeypatch.setattr(order_book_files, "MAX_FILE_LINES", 100)
    rows = [["X1", "yesterday", "1"], ["", "2024-06-01T10:00:00Z", "1"], ["X3", "2024-06-01", "x"]]
    payload = await import_file(api, world, "bad.csv", csv_bytes(header, rows))
    assert [(e["row"], e["column"], e["code"]) for e in payload["cellErrors"]] == [
        (2, "order_time", "INVALID_DATETIME"),
        (3, "order_id", "REQUIRED"),
        (4, "order_value", "INVALID_NUMBER"),
    ]
    payload = await import_file(api, world, "odd.csv", csv_bytes(["order_id", "price"], []))
    assert [e["code"] for e in payload["userErrors"]] == ["UNKNOWN_COLUMN"]
    assert await stored_lines(engine) == 0


async def test_a_download_of_a_malformed_or_missing_period(api: Api, world: OrderWorld) -> None:
    base = f"/files/tracking-difference/{world.gid('Program', 'P')}/"
    token = auth(world.tokens["adv"])
    assert (
        await api.client.get(base + "2024-13-01_2024-06-30.csv", headers=token)
    ).status_code == 400
    backwards = await api.client.get(base + "2024-06-30_2024-06-01.csv", headers=token)
    assert backwards.status_code == 400 and backwards.json()["error"]["code"] == "INVALID_PERIOD"
    # No book of that period: as unknown as a foreign program.
    assert (
        await api.client.get(base + "2024-05-01_2024-06-30.csv", headers=token)
    ).status_code == 404


async def test_the_template_urls_and_the_xlsx_template(api: Api, world: OrderWorld) -> None:
    data = await api.data(
        "{ orderBookFiles { templateCsvUrl templateXlsxUrl } }", token=world.tokens["adv"]
    )
    urls = data["orderBookFiles"]
    response = await api.client.get(urls["templateXlsxUrl"], headers=auth(world.tokens["adv"]))
    assert response.status_code == 200
    assert read_xlsx(response.content) == [
        ["order_id", "order_time", "order_value", "currency", "status"]
    ]
    assert (await api.client.get(urls["templateCsvUrl"])).status_code == 401
