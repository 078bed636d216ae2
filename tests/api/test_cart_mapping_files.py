"""A cart-mapping version as a CSV/XLSX file (issue 16): import in any column order with every
bad cell named, dry run, export and template, and who may upload or download."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import cart_mapping_versions
from portal.services.cart_mapping_files import COLUMNS
from tests.api.order_world import SINCE, T0, OrderWorld, record
from tests.api.test_cart_mapping import (
    BASKET,
    RULES,
    mapping_world,
    order,
    program,
    set_mapping,
)
from tests.conftest import Api
from tests.import_files import auth, csv_bytes, read_csv, read_xlsx, xlsx_bytes

IMPORT = """
mutation($input: ImportCartMappingInput!) {
  importCartMapping(input: $input) {
    version { id ruleCount rules { number trackingCategory shopCategory categoryMatch skus
      brand onSale minUnitPrice maxUnitPrice } }
    cellErrors { row column value code }
    userErrors { field code }
  }
}"""
FILES = "query($p: ID!) { cartMappingFiles(programId: $p) { csvUrl xlsxUrl } }"

# The columns shuffled; the rules of RULES as rows.
HEADER = ["Brand", "on_sale", "TRACKING_CATEGORY", "category_match", "shop_category", "skus"]
ROWS = [
    ["", "true", "sale", "", "", ""],
    ["", "", "zero", "prefix", "Gift Cards", ""],
    ["NoPay", "", "zero", "", "", ""],
    ["", "", "electronics", "PREFIX", "Electronics", ""],
    ["", "", "fashion", "GLOB", "fashion > *", "A|B"],
]


@pytest.fixture
async def world(engine: AsyncEngine) -> OrderWorld:
    return await mapping_world(engine)


async def upload(
    api: Api, world: OrderWorld, name: str, content: bytes, token: str = "adv", **options: Any
) -> dict[str, Any]:
    variables = {
        "input": {
            "file": None,
            "programId": program(world),
            "validFrom": SINCE.isoformat(),
            **options,
        }
    }
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
    return body["data"]["importCartMapping"]  # type: ignore[no-any-return]


async def test_a_csv_in_any_column_order_becomes_a_version_that_rates(
    api: Api, world: OrderWorld
) -> None:
    payload = await upload(api, world, "mapping.csv", csv_bytes(HEADER, ROWS))
    assert payload["userErrors"] == [] and payload["cellErrors"] == []
    rules = payload["version"]["rules"]
    assert [(r["trackingCategory"], r["categoryMatch"]) for r in rules] == [
        ("sale", "EXACT"),
        ("zero", "PREFIX"),
        ("zero", "EXACT"),
        ("electronics", "PREFIX"),
        ("fashion", "GLOB"),
    ]
    assert rules[4]["skus"] == ["A", "B"] and rules[0]["onSale"] is True
    recorded = await record(api, world, order(world, "O-1", basket=BASKET[:1]))
    assert recorded["conversion"]["basket"][0]["trackingCategory"] == "electronics"


async def test_an_xlsx_file_with_prices(api: Api, world: OrderWorld) -> None:
    content = xlsx_bytes(
        ["tracking_category", "min_unit_price", "max_unit_price"], [["sale", 0, 9.99]]
    )
    payload = await upload(api, world, "mapping.xlsx", content)
    assert payload["cellErrors"] == []
    [rule] = payload["version"]["rules"]
    assert (rule["minUnitPrice"], rule["maxUnitPrice"]) == ("0", "9.99")


async def test_every_bad_cell_is_named_and_nothing_is_written(api: Api, world: OrderWorld) -> None:
    rows = [
        ["", "maybe", "sale", "", "", ""],  # row 2: on_sale
        ["", "", "zero", "fuzzy", "Gift Cards", ""],  # row 3: category_match
    ]
    payload = await upload(api, world, "bad.csv", csv_bytes(HEADER, rows))
    assert [(e["row"], e["column"], e["code"]) for e in payload["cellErrors"]] == [
        (2, "on_sale", "INVALID_VALUE"),
        (3, "category_match", "INVALID_VALUE"),
    ]
    # Rule errors come back on the cell they are about.
    rows = [
        ["", "", "nope", "", "A", ""],
        ["", "", "sale", "GLOB", "[x]*", ""],
        ["", "", "sale", "", "", ""],
    ]
    payload = await upload(api, world, "bad.csv", csv_bytes(HEADER, rows))
    assert payload["version"] is None
    assert [(e["row"], e["column"], e["code"]) for e in payload["cellErrors"]] == [
        (2, "tracking_category", "UNKNOWN_CATEGORY"),
        (3, "shop_category", "INVALID_GLOB"),
        (4, "", "EMPTY_RULE"),
    ]
    bad_price = csv_bytes(["tracking_category", "min_unit_price"], [["sale", "ten"]])
    payload = await upload(api, world, "bad.csv", bad_price)
    assert [(e["row"], e["column"], e["code"]) for e in payload["cellErrors"]] == [
        (2, "min_unit_price", "INVALID_NUMBER")
    ]
    unknown = await upload(api, world, "bad.csv", csv_bytes(["tracking_category", "x"], []))
    assert unknown["userErrors"] == [{"field": ["input", "file"], "code": "UNKNOWN_COLUMN"}]
    # A column given twice would keep one of its cells silently: refused, like every file.
    twice = csv_bytes(["tracking_category", "brand", "brand"], [["sale", "Acme", "Other"]])
    duplicate = await upload(api, world, "bad.csv", twice)
    assert duplicate["userErrors"] == [{"field": ["input", "file"], "code": "DUPLICATE_COLUMN"}]
    assert await world.count(cart_mapping_versions) == 0


async def test_a_dry_run_writes_nothing(api: Api, world: OrderWorld) -> None:
    payload = await upload(api, world, "m.csv", csv_bytes(HEADER, ROWS), dryRun=True)
    assert payload["version"]["ruleCount"] == 5 and payload["version"]["id"] is None
    assert await world.count(cart_mapping_versions) == 0


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_export_round_trips_and_the_template_is_the_header(
    api: Api, world: OrderWorld, fmt: str
) -> None:
    files = await api.data(FILES, {"p": program(world)}, token=world.tokens["adv"])
    url = files["cartMappingFiles"][f"{fmt}Url"]
    read = read_csv if fmt == "csv" else read_xlsx
    template = await api.client.get(url, headers=auth(world.tokens["adv"]))
    assert template.status_code == 200
    assert [list(r) for r in read(template.content)] == [list(COLUMNS)]

    assert (await set_mapping(api, world, RULES, SINCE))["userErrors"] == []
    response = await api.client.get(
        url, params={"at": T0.isoformat()}, headers=auth(world.tokens["adv"])
    )
    exported = read(response.content)
    assert exported[0] == list(COLUMNS) and len(exported) == 1 + len(RULES)
    # Uploaded again as the next version, it is the same rules.
    again = await upload(
        api, world, f"m.{fmt}", response.content, validFrom=(T0 + timedelta(days=1)).isoformat()
    )
    assert again["cellErrors"] == [] and again["version"]["ruleCount"] == len(RULES)
    assert [r["trackingCategory"] for r in again["version"]["rules"]] == [
        r["trackingCategory"] for r in RULES
    ]


async def test_who_may_upload_and_download(api: Api, world: OrderWorld) -> None:
    await set_mapping(api, world, RULES, SINCE)
    url = f"/files/cart-mappings/{program(world)}.csv"
    for token in ("adv", "admin"):
        assert (await api.client.get(url, headers=auth(world.tokens[token]))).status_code == 200
    for token in ("other", "A"):
        response = await api.client.get(url, headers=auth(world.tokens[token]))
        assert response.status_code == 404, token
        assert "electronics" not in response.text
        payload = await upload(api, world, "m.csv", csv_bytes(HEADER, ROWS), token=token)
        assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], token
    assert (await api.client.get(url)).status_code == 401
    assert await world.count(cart_mapping_versions) == 1


@pytest.mark.parametrize(
    "at",
    ["yesterday", "2026-06-01T10:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],
)
async def test_a_download_at_a_time_that_is_no_instant_is_a_coded_400(
    api: Api, world: OrderWorld, at: str
) -> None:
    # The URL's `at` follows the API's DateTime: an offset, and an instant of the years 1-9999.
    response = await api.client.get(
        f"/files/cart-mappings/{program(world)}.csv",
        params={"at": at},
        headers=auth(world.tokens["adv"]),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_DATETIME"
