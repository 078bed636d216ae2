"""Who sees an import, whom a file may name, and the template each role downloads."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests
from portal.domain.programs import DEFAULT_NOTES, DEFAULT_TARGETS
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.factories import build_world
from tests.import_files import (
    JOB,
    auth,
    cell_errors,
    count,
    csv_bytes,
    drop_downs,
    read_csv,
    requests_of,
    run,
)

HEADER = [
    "request_type",
    "program",
    "partner",
    "order_id",
    "conversion_target",
    "tracking_time",
    "order_value",
]
T = "2026-06-01T10:00:00Z"
N = "SALE_NEW_CUSTOMER"


async def test_another_users_import_reads_as_missing(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    rows = [["CREATE_NEW", "Nordwind DE", "", "V-1", N, T, "-1"]]
    job = await run(api, world.tokens["A"], "v.csv", csv_bytes(HEADER, rows))
    assert job["errorCount"] == 1
    report = job["errorReportUrl"]
    for who in ("B", "C", "adv1", "adv2"):
        token = world.tokens[who]
        assert (await api.data(JOB, {"id": job["id"]}, token=token))["node"] is None, who
        assert (
            await api.data(
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [job["id"]]}, token=token
            )
        )["nodes"] == [None]
        listed = (await api.data("{ imports { totalCount nodes { id } } }", token=token))["imports"]
        assert listed == {"totalCount": 0, "nodes": []}, who
        missing = encode_id("ImportJob", 999_999)
        for suffix in ("errors.csv", "errors.xlsx"):
            url = report.replace("errors.csv", suffix)
            theirs = await api.client.get(url, headers=auth(token))
            nothing = await api.client.get(url.replace(job["id"], missing), headers=auth(token))
            assert theirs.status_code == nothing.status_code == 404, who
            assert theirs.json() == nothing.json()
    # The author sees it, its errors and its report; nobody unauthenticated does.
    mine = await api.data("{ imports { nodes { id errorCount } } }", token=world.tokens["A"])
    assert mine["imports"]["nodes"] == [{"id": job["id"], "errorCount": 1}]
    assert (await api.client.get(report, headers=auth(world.tokens["A"]))).status_code == 200
    assert (await api.client.get(report)).status_code == 401


async def test_advertisers_name_a_partner_of_their_own_programs(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    rows = [
        ["CREATE_NEW", "Nordwind DE", "Coupon Corner", "W-1", N, T, "10"],  # 2 good
        ["CREATE_NEW", "Nordwind DE", "", "W-2", N, T, "10"],  # 3 no partner
        ["CREATE_NEW", "Nordwind DE", "Tech Blog", "W-3", N, T, "10"],  # 4 adv2's partner
        ["CREATE_NEW", "Kiko JP", "Coupon Corner", "W-4", N, T, "10"],  # 5 adv2's program
        [
            "CREATE_NEW",
            "Nordwind DE",
            encode_id("Partner", world.ids["C"]),
            "W-5",
            N,
            T,
            "10",
        ],  # 6 by id
        ["CREATE_NEW", "Nordwind DE", encode_id("Partner", world.ids["A"]), "W-6", N, T, "10"],
    ]
    job = await run(api, world.tokens["adv1"], "adv.csv", csv_bytes(HEADER, rows))
    assert cell_errors(job) == [
        (3, "partner", None, "REQUIRED"),
        (4, "partner", "Tech Blog", "UNKNOWN_PARTNER"),
        (5, "program", "Kiko JP", "UNKNOWN_PROGRAM"),
        (6, "partner", encode_id("Partner", world.ids["C"]), "UNKNOWN_PARTNER"),
    ]
    created = {
        r["requested"]["orderId"]: r["partner"]["name"]
        for r in await requests_of(api, world.tokens["adv1"])
    }
    assert created == {"W-1": "Coupon Corner", "W-6": "Cashback Club"}


async def test_admins_name_the_partner_too(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    rows = [
        ["CREATE_NEW", "Kiko JP", "Tech Blog", "K-1", N, T, "1000"],  # 2 good
        ["CREATE_NEW", "Kiko JP", "", "K-2", N, T, "1000"],  # 3
        ["CREATE_NEW", "Nordwind DE", "Tech Blog", "K-3", N, T, "10"],  # 4 not in the program
    ]
    job = await run(api, world.tokens["admin"], "admin.csv", csv_bytes(HEADER, rows))
    assert [(r, c, code) for r, c, _, code in cell_errors(job)] == [
        (3, "partner", "REQUIRED"),
        (4, "program", "NO_ACTIVE_RELATIONSHIP"),
    ]
    assert job["createdCount"] == 1 and await count(engine, conversion_requests) == 1


async def test_a_partner_file_never_names_another_partner(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    rows = [
        ["CREATE_NEW", "Nordwind DE", "Cashback Club", "P-1", N, T, "10"],
        ["CREATE_NEW", "Nordwind DE", "", "P-2", N, T, "10"],
        ["CREATE_NEW", "Nordwind DE", "Coupon Corner", "P-3", N, T, "10"],
        ["CREATE_NEW", "Nordwind DE", encode_id("Partner", world.ids["B"]), "P-4", N, T, "10"],
        ["CREATE_NEW", "Kiko JP", "", "P-5", N, T, "10"],
    ]
    job = await run(api, world.tokens["A"], "p.csv", csv_bytes(HEADER, rows))
    assert [(r, c, code) for r, c, _, code in cell_errors(job)] == [
        (4, "partner", "UNKNOWN_PARTNER"),
        (5, "partner", "UNKNOWN_PARTNER"),
        (6, "program", "UNKNOWN_PROGRAM"),
    ]
    assert {r["partner"]["name"] for r in await requests_of(api, world.tokens["A"])} == {
        "Cashback Club"
    }
    assert await count(engine, conversion_requests) == 2


TEMPLATE = (
    "{ conversionRequestTemplate { columns { name required allowedValues } csvUrl xlsxUrl } }"
)


@pytest.mark.parametrize("who", ["A", "adv1", "admin"])
async def test_the_template_for_each_role(api: Api, engine: AsyncEngine, who: str) -> None:
    world = await build_world(engine)
    token = world.tokens[who]
    template = (await api.data(TEMPLATE, token=token))["conversionRequestTemplate"]
    columns = template["columns"]
    names = [c["name"] for c in columns]
    required = {c["name"] for c in columns if c["required"]}
    assert {"request_type", "program", "order_id"} <= required
    if who == "A":
        assert "partner" not in names
    else:
        assert {"name": "partner", "required": True, "allowedValues": []} in columns

    xlsx = await api.client.get(template["xlsxUrl"], headers=auth(token))
    assert xlsx.status_code == 200
    assert "spreadsheetml" in xlsx.headers["content-type"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == names
    for cell in sheet[1]:
        marked = bool(cell.font.b) and cell.font.u == "single"
        assert marked == (cell.value in required), cell.value
    book = load_workbook(io.BytesIO(xlsx.content))
    lists = drop_downs(book)
    # The viewer's own programs, and the targets, categories and notes of those programs.
    programs = {"A": ["Nordwind DE"], "adv1": ["Nordwind DE"], "admin": ["Kiko JP", "Nordwind DE"]}
    assert lists["program"] == programs[who]
    assert lists["conversion_target"] == sorted(DEFAULT_TARGETS)
    assert lists["tracking_category"] == ["default"]
    assert lists["conversion_note"] == sorted(DEFAULT_NOTES)
    assert {"EUR", "JPY", "KWD"} <= set(lists["currency"]) and len(lists["currency"]) > 150
    assert lists["request_type"] == ["CREATE_NEW", "CHANGE_EXISTING"]
    assert lists["status"] == ["OPEN", "CONFIRMED", "REJECTED"]
    assert lists["device"] == ["DESKTOP", "MOBILE", "TABLET", "OTHER"]
    assert set(lists) == {c["name"] for c in columns if c["allowedValues"]}
    for c in columns:
        if c["allowedValues"]:
            assert lists[c["name"]] == c["allowedValues"]

    text = await api.client.get(template["csvUrl"], headers=auth(token))
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    assert read_csv(text.content) == [names]
    assert (await api.client.get(template["csvUrl"])).status_code == 401


async def test_the_template_filled_in_imports(api: Api, engine: AsyncEngine) -> None:
    """The downloaded template is a valid file once rows are added."""
    world = await build_world(engine)
    token = world.tokens["adv1"]
    template = (await api.data(TEMPLATE, token=token))["conversionRequestTemplate"]
    header = read_csv((await api.client.get(template["csvUrl"], headers=auth(token))).content)[0]
    values = {
        "request_type": "CREATE_NEW",
        "program": "Nordwind DE",
        "partner": "Cashback Club",
        "order_id": "TPL-1",
        "conversion_target": N,
        "tracking_time": T,
        "order_value": "10",
    }
    content = csv_bytes(header, [[values.get(h, "") for h in header]])
    job = await run(api, token, "filled.csv", content)
    assert (job["createdCount"], job["errorCount"]) == (1, 0), job
