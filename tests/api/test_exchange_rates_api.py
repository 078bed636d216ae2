"""Reference exchange rates through HTTP: `importExchangeRates` (a real GraphQL multipart
upload), `exchangeRates`, `exchangeRate`, the `portal rates import` command and the demo data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import UploadFile

from portal.adapters import ecb
from portal.adapters.database import create_engine
from portal.adapters.tables import exchange_rates
from portal.cli import main
from portal.demo import SAMPLE_RATES_CSV, SAMPLE_RATES_XML, sample_file
from portal.demo_data import load_demo
from portal.web import body_limit
from tests.conftest import Api
from tests.factories import build_world

SAMPLE_XML = sample_file(SAMPLE_RATES_XML)
SAMPLE_CSV = sample_file(SAMPLE_RATES_CSV)
SAMPLE_COUNT = 15 * 8 - 1  # 15 business days × 8 currencies, no CZK on 2026-11-11
FILE_MAP = {"0": ["variables.input.file"]}
SAMPLE_CURRENCIES = ["CHF", "CZK", "DKK", "GBP", "JPY", "PLN", "SEK", "USD"]

IMPORT = """
mutation Import($input: ImportExchangeRatesInput!) {
  importExchangeRates(input: $input) {
    importedCount changedCount firstDay lastDay currencies skippedCurrencies
    userErrors { field code message }
  }
}
"""

RATES = """
query Rates($currency: CurrencyCode, $from: Date, $to: Date, $first: Int, $after: String,
            $last: Int, $before: String, $direction: SortDirection) {
  exchangeRates(currency: $currency, from: $from, to: $to, first: $first, after: $after,
                last: $last, before: $before, direction: $direction) {
    totalCount
    edges { cursor node { base currency day rate } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

CONVERT = """
query Convert($base: CurrencyCode!, $quote: CurrencyCode!, $day: Date!) {
  exchangeRate(base: $base, quote: $quote, day: $day) { base quote day rate rateDay }
}
"""


async def upload(
    api: Api, content: bytes, token: str, filename: str = "eurofxref-hist.xml"
) -> dict[str, Any]:
    """Sends the file per the GraphQL multipart request spec: operations, map, then the file."""
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps(FILE_MAP)},
        files={"0": (filename, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("errors") is None, body
    payload: dict[str, Any] = body["data"]["importExchangeRates"]
    return payload


async def stored(engine: AsyncEngine) -> dict[tuple[str, str, date], tuple[int, Decimal]]:
    """Every stored rate by (base, currency, day): its row id and its rate."""
    c = exchange_rates.c
    async with engine.connect() as conn:
        rows = (await conn.execute(select(c.id, c.base, c.currency, c.day, c.rate))).all()
    return {(r.base, r.currency, r.day): (r.id, r.rate.normalize()) for r in rows}


async def row_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(exchange_rates)) or 0)


# --- importExchangeRates ----------------------------------------------------------------------


async def test_admin_uploads_the_xml_sample(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)

    result = await upload(api, SAMPLE_XML, world.tokens["admin"])

    assert result == {
        "importedCount": SAMPLE_COUNT,
        "changedCount": SAMPLE_COUNT,
        "firstDay": "2026-11-02",
        "lastDay": "2026-11-20",
        "currencies": SAMPLE_CURRENCIES,
        "skippedCurrencies": [],
        "userErrors": [],
    }
    rates = await stored(engine)
    assert len(rates) == SAMPLE_COUNT
    assert rates["EUR", "USD", date(2026, 11, 20)][1] == Decimal("1.0823")
    assert rates["EUR", "GBP", date(2026, 11, 20)][1] == Decimal("0.8512")
    assert ("EUR", "CZK", date(2026, 11, 11)) not in rates


async def test_the_csv_sample_stores_the_same_rates_as_the_xml(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    from_csv = await upload(api, SAMPLE_CSV, world.tokens["admin"], "eurofxref-hist.csv")
    after_csv = await stored(engine)

    from_xml = await upload(api, SAMPLE_XML, world.tokens["admin"])

    assert from_csv["userErrors"] == [] and from_csv["importedCount"] == SAMPLE_COUNT
    assert from_xml["importedCount"] == SAMPLE_COUNT
    # Nothing differed from what the CSV had stored, and nothing was added or rewritten.
    assert from_xml["changedCount"] == 0
    assert await stored(engine) == after_csv
    assert {k: v for k, v in from_csv.items() if k != "changedCount"} == {
        k: v for k, v in from_xml.items() if k != "changedCount"
    }


async def test_importing_the_same_file_again_changes_nothing(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])
    before = await stored(engine)

    again = await upload(api, SAMPLE_XML, world.tokens["admin"])

    assert again["importedCount"] == SAMPLE_COUNT
    assert again["changedCount"] == 0
    assert again["userErrors"] == []
    assert await row_count(engine) == SAMPLE_COUNT
    assert await stored(engine) == before  # same rows, same ids


async def test_a_corrected_rate_replaces_the_stored_one(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])
    corrected = b"Date,USD,JPY,\n2026-11-20,1.0830,163.12,\n2026-11-23,1.0840,163.50,\n"

    result = await upload(api, corrected, world.tokens["admin"], "eurofxref.csv")

    assert result["importedCount"] == 4
    assert result["changedCount"] == 3  # USD of the 20th corrected, two rates of the 23rd
    rates = await stored(engine)
    assert len(rates) == SAMPLE_COUNT + 2
    assert rates["EUR", "USD", date(2026, 11, 20)][1] == Decimal("1.083")
    assert rates["EUR", "JPY", date(2026, 11, 20)][1] == Decimal("163.12")


@pytest.mark.parametrize("who", ["adv1", "A"])
async def test_only_admins_import_rates(api: Api, engine: AsyncEngine, who: str) -> None:
    world = await build_world(engine, conversions_per_partner=0)

    result = await upload(api, SAMPLE_XML, world.tokens[who])

    assert [e["code"] for e in result["userErrors"]] == ["PERMISSION_DENIED"]
    assert result["importedCount"] is None
    assert await row_count(engine) == 0


BROKEN_XML = SAMPLE_XML[: len(SAMPLE_XML) // 2]
DOCTYPE_XML = SAMPLE_XML.replace(
    b"<gesmes:Envelope",
    b'<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<gesmes:Envelope',
    1,
)
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        pytest.param(b"", "EMPTY_FILE", "empty", id="empty"),
        pytest.param(b"  \r\n", "EMPTY_FILE", "empty", id="blank"),
        pytest.param(BINARY, "INVALID_RATE_FILE", "not UTF-8", id="binary"),
        pytest.param(BROKEN_XML, "INVALID_RATE_FILE", "broken XML", id="broken-xml"),
        pytest.param(DOCTYPE_XML, "INVALID_RATE_FILE", "DOCTYPE", id="doctype"),
        pytest.param(b"Date,usd,\n2026-11-20,1.08,\n", "UNKNOWN_CURRENCY", "usd", id="bad-code"),
        pytest.param(
            b"Date,USD,\n2026-11-20,1.08,\n2026-11-19,1.0x,\n",
            "INVALID_RATE_FILE",
            "line 3",
            id="bad-rate-after-good-lines",
        ),
    ],
)
async def test_a_bad_file_is_a_coded_user_error_and_stores_nothing(
    api: Api, engine: AsyncEngine, content: bytes, code: str, words: str
) -> None:
    world = await build_world(engine, conversions_per_partner=0)

    result = await upload(api, content, world.tokens["admin"], "rates.xml")

    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, ["input", "file"])]
    assert words in result["userErrors"][0]["message"]
    assert result["importedCount"] is None
    assert await row_count(engine) == 0


async def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    monkeypatch.setattr(ecb, "MAX_FILE_BYTES", 1000)
    asked: list[int] = []
    read = UploadFile.read

    async def spy(self: UploadFile, size: int = -1) -> bytes:
        asked.append(size)
        return await read(self, size)

    monkeypatch.setattr(UploadFile, "read", spy)

    result = await upload(api, SAMPLE_XML, world.tokens["admin"])

    assert len(SAMPLE_XML) > 1000
    assert [e["code"] for e in result["userErrors"]] == ["FILE_TOO_LARGE"]
    assert "more than 1000 bytes" in result["userErrors"][0]["message"]
    assert asked == [1001]
    assert await row_count(engine) == 0


async def test_a_request_body_over_the_upload_limit_is_refused_before_it_is_read(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    monkeypatch.setattr(ecb, "MAX_FILE_BYTES", 1000)
    monkeypatch.setattr(body_limit, "FORM_OVERHEAD", 1000)
    big = SAMPLE_XML * 4  # > 2000 bytes
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    form = {"operations": json.dumps(operations), "map": json.dumps(FILE_MAP)}
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}

    request = api.client.build_request(
        "POST", "/graphql", data=form, files={"0": ("big.xml", big, "text/xml")}, headers=headers
    )
    body = request.read()

    declared = await api.client.send(request)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    # Streamed without a Content-Length: refused once more than the limit has arrived.
    streamed = await api.client.post(
        "/graphql",
        content=chunks(),
        headers={**headers, "Content-Type": request.headers["Content-Type"]},
    )

    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await row_count(engine) == 0


async def test_a_file_at_the_size_limit_is_accepted(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    monkeypatch.setattr(ecb, "MAX_FILE_BYTES", len(SAMPLE_CSV))

    result = await upload(api, SAMPLE_CSV, world.tokens["admin"], "eurofxref-hist.csv")

    assert result["userErrors"] == []
    assert result["importedCount"] == SAMPLE_COUNT


async def test_a_file_sent_as_a_json_value_is_refused(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)

    body = await api.query(
        IMPORT, {"input": {"file": SAMPLE_CSV.decode()}}, token=world.tokens["admin"]
    )

    # Every Upload refuses a value that is not a file (portal.schema.scalars); validation fails,
    # so execution never starts and the response has no `data` key (GraphQL over HTTP).
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "multipart" in body["errors"][0]["message"]
    assert await row_count(engine) == 0


# --- exchangeRates ------------------------------------------------------------------------------


async def test_every_role_reads_the_rates_with_filters(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])

    for who in ("admin", "adv1", "A"):
        data = await api.data(
            RATES,
            {"currency": "USD", "from": "2026-11-16", "to": "2026-11-20"},
            token=world.tokens[who],
        )
        rates = data["exchangeRates"]
        assert rates["totalCount"] == 5
        assert [e["node"] for e in rates["edges"]] == [
            {"base": "EUR", "currency": "USD", "day": day, "rate": rate}
            for day, rate in [
                ("2026-11-20", "1.0823"),
                ("2026-11-19", "1.0821"),
                ("2026-11-18", "1.0828"),
                ("2026-11-17", "1.0832"),
                ("2026-11-16", "1.0825"),
            ]
        ]


async def test_rates_of_one_day_are_ordered_by_currency(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])

    one_day = {"from": "2026-11-11", "to": "2026-11-11"}
    data = await api.data(RATES, one_day, token=world.tokens["A"])

    nodes = [e["node"] for e in data["exchangeRates"]["edges"]]
    assert [n["currency"] for n in nodes] == [c for c in SAMPLE_CURRENCIES if c != "CZK"]
    assert {n["day"] for n in nodes} == {"2026-11-11"}


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_paging_forward_visits_every_rate_once_in_order(
    api: Api, engine: AsyncEngine, direction: str
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])
    seen: list[tuple[str, str]] = []
    after = None
    pages = 0
    while True:
        data = await api.data(
            RATES, {"first": 50, "after": after, "direction": direction}, token=world.tokens["A"]
        )
        page = data["exchangeRates"]
        seen += [(e["node"]["day"], e["node"]["currency"]) for e in page["edges"]]
        pages += 1
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert pages == 3  # 50 + 50 + 19
    assert len(seen) == len(set(seen)) == SAMPLE_COUNT
    by_day = sorted(seen, key=lambda k: k[1])
    expected = sorted(by_day, key=lambda k: k[0], reverse=direction == "DESC")
    assert seen == expected


async def test_paging_backwards_returns_the_rates_before_a_cursor(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])
    variables = {"currency": "USD", "direction": "ASC"}
    first = (await api.data(RATES, {**variables, "first": 4}, token=world.tokens["A"]))[
        "exchangeRates"
    ]
    second = (
        await api.data(
            RATES,
            {**variables, "first": 3, "after": first["pageInfo"]["endCursor"]},
            token=world.tokens["A"],
        )
    )["exchangeRates"]
    back = (
        await api.data(
            RATES,
            {**variables, "last": 2, "before": second["pageInfo"]["startCursor"]},
            token=world.tokens["A"],
        )
    )["exchangeRates"]

    days = [e["node"]["day"] for e in first["edges"]]
    assert days == ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    assert [e["node"]["day"] for e in second["edges"]] == ["2026-11-06", "2026-11-09", "2026-11-10"]
    assert second["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["day"] for e in back["edges"]] == days[2:]
    assert back["pageInfo"]["hasPreviousPage"] is True


async def test_a_foreign_cursor_or_a_bad_page_size_is_bad_user_input(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])
    programs = await api.data(
        "{ programs(first: 1) { pageInfo { endCursor } } }", token=world.tokens["admin"]
    )
    program_cursor = programs["programs"]["pageInfo"]["endCursor"]
    assert program_cursor

    for variables in ({"after": "not-a-cursor"}, {"first": 101}, {"after": program_cursor}):
        body = await api.query(RATES, variables, token=world.tokens["A"])
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", (variables, body)


async def test_rates_need_authentication(api: Api, engine: AsyncEngine) -> None:
    body = await api.query(RATES, {})

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- exchangeRate ------------------------------------------------------------------------------


async def test_exchange_rate_converts_with_the_fallback_of_seven_days(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine, conversions_per_partner=0)
    await upload(api, SAMPLE_XML, world.tokens["admin"])

    async def convert(base: str, quote: str, day: str) -> dict[str, Any]:
        data = await api.data(
            CONVERT, {"base": base, "quote": quote, "day": day}, token=world.tokens["A"]
        )
        result: dict[str, Any] = data["exchangeRate"]
        return result

    assert await convert("EUR", "USD", "2026-11-20") == {
        "base": "EUR",
        "quote": "USD",
        "day": "2026-11-20",
        "rate": "1.0823",
        "rateDay": "2026-11-20",
    }
    sunday = await convert("EUR", "JPY", "2026-11-22")
    assert (sunday["rate"], sunday["rateDay"]) == ("163.12", "2026-11-20")
    no_czk = await convert("EUR", "CZK", "2026-11-11")
    assert no_czk["rateDay"] == "2026-11-10"
    cross = await convert("USD", "GBP", "2026-11-20")
    assert Decimal(cross["rate"]) == (Decimal("0.85120") / Decimal("1.0823")).normalize()
    assert (await convert("GBP", "GBP", "2030-01-01"))["rate"] == "1"

    body = await api.query(
        CONVERT, {"base": "EUR", "quote": "USD", "day": "2026-11-28"}, token=world.tokens["A"]
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == "MISSING_EXCHANGE_RATE"
    assert "USD" in error["message"] and "2026-11-28" in error["message"]


# --- command line and demo data --------------------------------------------------------------


def test_the_command_line_imports_a_rate_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "cli.db"
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "eurofxref-hist.csv"
    path.write_bytes(SAMPLE_CSV)
    assert main(["migrate"]) == 0

    assert main(["rates", "import", str(path)]) == 0
    first = capsys.readouterr().out
    assert main(["rates", "import", str(path)]) == 0
    second = capsys.readouterr().out

    assert f"imported {SAMPLE_COUNT} rates (2026-11-02 … 2026-11-20" in first
    assert f"{SAMPLE_COUNT} new or changed" in first
    assert "0 new or changed" in second
    assert "skipped currencies: none" in first

    async def count() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            return await row_count(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == SAMPLE_COUNT


def test_the_command_line_fails_with_the_coded_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "broken.xml"
    path.write_bytes(BROKEN_XML)
    # No database yet: refused, and none is created.
    assert main(["rates", "import", str(path)]) == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "cli.db").exists()
    assert main(["migrate"]) == 0
    capsys.readouterr()

    assert main(["rates", "import", str(path)]) == 1
    assert main(["rates", "import", str(tmp_path / "missing.csv")]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines  # one line per failure, no traceback
    assert lines[0].startswith("portal rates: error: INVALID_RATE_FILE: broken.xml, line")
    assert lines[1] == (
        f"portal rates: error: cannot open {tmp_path / 'missing.csv'}: No such file or directory"
    )


async def test_the_demo_data_holds_the_sample_rates(engine: AsyncEngine) -> None:
    await load_demo(engine, conversions=0)

    rates = await stored(engine)
    assert len(rates) == SAMPLE_COUNT
    assert rates["EUR", "CHF", date(2026, 11, 20)][1] == Decimal("0.9412")
