"""Bad input is answered with a coded error that names the problem — never a 500, never a
masked INTERNAL. Unexpected failures, and only those, are masked with an error id that is in
the server log."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.reader import Reader
from portal.adapters.tables import api_tokens
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.domain.access import Role
from portal.schema.errors import format_error
from portal.schema.ids import encode_id
from portal.schema.scalars import SCALAR_MAP
from portal.services import access
from portal.web.app import create_app
from tests.conftest import Api, StatementCounter
from tests.factories import World, build_world

CONVERSIONS = """
query Conversions($first: Int, $last: Int, $after: String, $before: String,
                  $filter: ConversionFilterInput, $orderBy: ConversionOrder) {
  conversions(first: $first, last: $last, after: $after, before: $before,
              filter: $filter, orderBy: $orderBy) {
    totalCount nodes { id }
  }
}
"""
CREATE_PROGRAM = """
mutation CreateProgram($input: CreateProgramInput!) {
  createProgram(input: $input) { program { id } userErrors { field code message } }
}
"""
RECORD_ORDER = """
mutation RecordOrder($input: RecordOrderInput!) {
  recordOrder(input: $input) { conversion { id } userErrors { field code message } }
}
"""


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors")
    assert errors and len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    assert error["extensions"]["code"] != "INTERNAL", error
    return error


async def expect_error(
    api: Api,
    query: str,
    variables: dict[str, Any],
    token: str,
    code: str,
    *,
    reason: str | None = None,
    mentions: str | None = None,
) -> dict[str, Any]:
    response = await api.post(query, variables, token)
    assert response.status_code == 200, (variables, response.text)
    body = response.json()
    errors = body.get("errors") or []
    assert len(errors) == 1, (variables, body)
    error: dict[str, Any] = errors[0]
    assert error["extensions"]["code"] == code, (variables, error)
    if reason is not None:
        assert error["extensions"]["reason"] == reason, (variables, error)
    if mentions is not None:
        assert mentions in error["message"], (variables, error)
    return error


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


# -- scalars ---------------------------------------------------------------------------------


async def test_invalid_currency_code_is_a_validation_error_naming_it(
    api: Api, world: World
) -> None:
    variables = {
        "input": {
            "advertiserId": encode_id("Advertiser", world.ids["adv1"]),
            "name": "X",
            "currency": "EURO",
        }
    }
    error = await expect_error(
        api,
        CREATE_PROGRAM,
        variables,
        world.tokens["admin"],
        "GRAPHQL_VALIDATION_FAILED",
        mentions="'EURO' is not an ISO 4217 currency code",
    )
    assert "currency" in error["message"]
    # Inline literals are checked the same way.
    advertiser = encode_id("Advertiser", world.ids["adv1"])
    inline = CREATE_PROGRAM.replace("($input: CreateProgramInput!)", "").replace(
        "input: $input",
        f'input: {{advertiserId: "{advertiser}", name: "X", currency: "eur"}}',
    )
    await expect_error(
        api,
        inline,
        {},
        world.tokens["admin"],
        "GRAPHQL_VALIDATION_FAILED",
        mentions="'eur' is not an ISO 4217 currency code",
    )


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00", "2026-01-01", "yesterday"])
async def test_datetime_without_offset_is_a_validation_error(
    api: Api, world: World, value: str
) -> None:
    await expect_error(
        api,
        CONVERSIONS,
        {"first": 10, "filter": {"trackedFrom": value}},
        world.tokens["A"],
        "GRAPHQL_VALIDATION_FAILED",
        mentions=repr(value),
    )


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_a_datetime_beyond_the_years_a_database_holds_is_a_validation_error(
    api: Api, world: World, value: str
) -> None:
    """Its UTC instant lies outside the years 1–9999: converting it used to raise an
    OverflowError in the resolver (INTERNAL)."""
    for variables, query in [
        ({"first": 10, "filter": {"trackedTo": value}}, CONVERSIONS),
        (
            {
                "input": {
                    "programId": encode_id("Program", world.ids["p1"]),
                    "orderId": "o-1",
                    "trackingTime": value,
                    "orderValue": "1.00",
                }
            },
            RECORD_ORDER,
        ),
    ]:
        await expect_error(
            api,
            query,
            variables,
            world.tokens["adv1"],
            "GRAPHQL_VALIDATION_FAILED",
            mentions="outside the years 1–9999",
        )


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
async def test_the_first_and_last_instants_work_as_filter_bounds(
    api: Api, world: World, value: str
) -> None:
    data = await api.data(
        CONVERSIONS,
        {"first": 10, "filter": {"trackedFrom": value, "trackedTo": value}},
        token=world.tokens["A"],
    )
    assert data["conversions"]["totalCount"] == 0


async def test_datetime_with_offset_is_accepted(api: Api, world: World) -> None:
    data = await api.data(
        CONVERSIONS,
        {"first": 10, "filter": {"trackedFrom": "2026-03-01T01:30:00+01:00"}},
        token=world.tokens["A"],
    )
    # 00:30Z: the conversions at 00:00Z are before, the ones at 01:00Z and 02:00Z after.
    assert data["conversions"]["totalCount"] == 2


@pytest.mark.parametrize(
    ("value", "mentions"),
    [
        ("abc", "'abc' is not a decimal number"),
        (1.5, "strings"),
        ("NaN", "'NaN' is not a decimal number"),
        # the contract's form is digits with an optional point: an exponent is malformed too
        ("1e2", "'1e2' is not a decimal number"),
        ("1E2", "'1E2' is not a decimal number"),
        ("-2.5e-3", "'-2.5e-3' is not a decimal number"),
        ("1e20", "'1e20' is not a decimal number"),
        # digits are ASCII: Python's Decimal also reads Arabic-Indic or full-width digits
        ("\u0661\u0660\u0660", "'\u0661\u0660\u0660' is not a decimal number"),
        ("\uff11\uff10.5", "'\uff11\uff10.5' is not a decimal number"),
        ("1000000000000000", "too large"),
        ("0.0000001", "decimal places"),
        (True, "strings"),
    ],
)
async def test_malformed_decimal_in_a_mutation_is_a_validation_error(
    api: Api, world: World, value: Any, mentions: str
) -> None:
    variables = {
        "input": {
            "programId": encode_id("Program", world.ids["p1"]),
            "orderId": "o-1",
            "trackingTime": "2026-03-01T10:00:00Z",
            "orderValue": value,
        }
    }
    error = await expect_error(
        api,
        RECORD_ORDER,
        variables,
        world.tokens["adv1"],
        "GRAPHQL_VALIDATION_FAILED",
        mentions=mentions,
    )
    assert "orderValue" in error["message"]


async def test_negative_order_value_is_a_user_error_of_the_field(api: Api, world: World) -> None:
    variables = {
        "input": {
            "programId": encode_id("Program", world.ids["p1"]),
            "orderId": "o-1",
            "trackingTime": "2026-03-01T10:00:00Z",
            "orderValue": "-5.00",
        }
    }
    data = await api.data(RECORD_ORDER, variables, token=world.tokens["adv1"])
    payload = data["recordOrder"]
    assert payload["conversion"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "orderValue"], "NEGATIVE_VALUE")
    ]


@strawberry.type
class _DecimalQuery:
    @strawberry.field
    def echo(self, value: Decimal) -> Decimal:
        return value


DECIMAL_SCHEMA = strawberry.Schema(
    query=_DecimalQuery, config=strawberry.schema.config.StrawberryConfig(scalar_map=SCALAR_MAP)
)


@pytest.mark.parametrize(
    ("value", "expected"), [("12.50", "12.50"), (7, "7"), ("-1.5", "-1.5"), (" 3.10 ", "3.10")]
)
async def test_decimal_scalar_accepts_strings_and_integers_exactly(
    value: Any, expected: str
) -> None:
    # The sign is the domain's business (a negative discount and a negative order value are
    # refused there, with the field's code); the scalar keeps exactness.
    result = await DECIMAL_SCHEMA.execute(
        "query($v: Decimal!) { echo(value: $v) }", variable_values={"v": value}
    )
    assert result.errors is None
    assert result.data == {"echo": expected}


@pytest.mark.parametrize("value", ["abc", 1.5, "", "Infinity", [1], {"amount": 1}])
async def test_decimal_scalar_refuses_non_numbers_and_floats_with_a_code(value: Any) -> None:
    result = await DECIMAL_SCHEMA.execute(
        "query($v: Decimal!) { echo(value: $v) }", variable_values={"v": value}
    )
    assert result.errors and len(result.errors) == 1
    formatted = format_error(result.errors[0])
    assert formatted["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Decimal" in formatted["message"]


async def test_decimal_scalar_refuses_float_literals() -> None:
    result = await DECIMAL_SCHEMA.execute("{ echo(value: 1.5) }")
    assert (
        result.errors
        and format_error(result.errors[0])["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    )


# -- page sizes, ids and cursors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"first": 0}, "PAGE_SIZE_OUT_OF_RANGE"),
        ({"first": 101}, "PAGE_SIZE_OUT_OF_RANGE"),
        ({"first": -1}, "PAGE_SIZE_OUT_OF_RANGE"),
        ({"last": 0}, "PAGE_SIZE_OUT_OF_RANGE"),
        ({"last": 101}, "PAGE_SIZE_OUT_OF_RANGE"),
        ({"first": 5, "last": 5}, "INVALID_PAGINATION"),
    ],
)
async def test_page_size_outside_1_to_100_is_bad_user_input(
    api: Api, world: World, arguments: dict[str, int], reason: str
) -> None:
    error = await expect_error(
        api, CONVERSIONS, arguments, world.tokens["A"], "BAD_USER_INPUT", reason=reason
    )
    assert error["path"] == ["conversions"]


async def test_page_sizes_1_and_100_are_allowed(api: Api, world: World) -> None:
    for size in (1, 100):
        data = await api.data(CONVERSIONS, {"first": size}, token=world.tokens["admin"])
        assert len(data["conversions"]["nodes"]) == min(size, 9)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


BY_ID = [
    "query($id: ID!) { node(id: $id) { id } }",
    "query($id: ID!) { program(id: $id) { id } }",
    "query($id: ID!) { conversion(id: $id) { id } }",
    "query($id: ID!) { nodes(ids: [$id]) { id } }",
]
MALFORMED_IDS = [
    "!!!",
    "",
    _b64(b"\xff\xfe\x00garbage"),
    _b64(b"Program"),
    _b64(b"Program:"),
    _b64(b"Program:-1"),
    _b64(b"Program:1e3"),
    _b64(b"Program:" + b"9" * 40),
    _b64(b":1"),
]


async def test_malformed_global_id_is_bad_user_input(api: Api, world: World) -> None:
    for query in BY_ID:
        for bad_id in MALFORMED_IDS:
            await expect_error(
                api,
                query,
                {"id": bad_id},
                world.tokens["admin"],
                "BAD_USER_INPUT",
                reason="INVALID_ID",
            )


async def test_id_of_another_type_is_bad_user_input(api: Api, world: World) -> None:
    partner_id = encode_id("Partner", world.ids["A"])
    await expect_error(
        api,
        "query($id: ID!) { program(id: $id) { id } }",
        {"id": partner_id},
        world.tokens["admin"],
        "BAD_USER_INPUT",
        reason="INVALID_ID",
        mentions="Program",
    )
    await expect_error(
        api,
        CONVERSIONS,
        {"first": 5, "filter": {"programIds": [partner_id]}},
        world.tokens["admin"],
        "BAD_USER_INPUT",
        reason="INVALID_ID",
    )
    # A type this API does not have: INVALID_ID as well — not null, not INTERNAL.
    await expect_error(
        api,
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": encode_id("Invoice", 1)},
        world.tokens["admin"],
        "BAD_USER_INPUT",
        reason="INVALID_ID",
    )


async def test_too_many_ids_for_nodes_is_bad_user_input(api: Api, world: World) -> None:
    ids = [encode_id("Program", i) for i in range(1, 102)]
    await expect_error(
        api,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        {"ids": ids},
        world.tokens["admin"],
        "BAD_USER_INPUT",
        reason="TOO_MANY_IDS",
    )


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


BAD_CURSORS: list[tuple[str, str | None]] = [
    ("xyz", None),
    ("!!!", None),
    (_cursor({"not": "a list"}), None),
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00+00:00"]), None),
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00+00:00", "1"]), None),
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00+00:00", True]), None),
    (_cursor(["TRACKING_TIME", "not a time", 1]), None),
    (_cursor(["TRACKING_TIME", 12, 1]), None),
    # A time without an offset cannot be compared with the stored (aware) times.
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00", 1]), None),
    # Times with no UTC instant in the years 1–9999 (the comparison raised OverflowError).
    (_cursor(["TRACKING_TIME", "9999-12-31T23:59:59-14:00", 1]), None),
    (_cursor(["TRACKING_TIME", "0001-01-01T00:00:00+14:00", 1]), None),
    # Row ids beyond BIGINT.
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00+00:00", 2**63]), None),
    (_cursor(["TRACKING_TIME", "2026-03-01T00:00:00+00:00", 10**30]), None),
    (_cursor(["ORDER_VALUE", "abc", 1]), "ORDER_VALUE"),
    (_cursor(["ORDER_VALUE", "NaN", 1]), "ORDER_VALUE"),
    (_cursor(["ORDER_VALUE", [1], 1]), "ORDER_VALUE"),
    # Valid cursors of another ordering or list.
    (_cursor(["ORDER_VALUE", "100.00", 1]), None),
    (_cursor(["NAME", "Cashback Club", 1]), None),
]


async def test_bad_cursor_is_bad_user_input(api: Api, world: World) -> None:
    for cursor, order in BAD_CURSORS:
        for direction in ("after", "before"):
            variables: dict[str, Any] = {
                "first" if direction == "after" else "last": 5,
                direction: cursor,
            }
            if order:
                variables["orderBy"] = {"field": order}
            await expect_error(
                api,
                CONVERSIONS,
                variables,
                world.tokens["admin"],
                "BAD_USER_INPUT",
                reason="INVALID_CURSOR",
                mentions=direction,
            )


async def test_cursor_pages_through_the_list(api: Api, world: World) -> None:
    first = await api.data(
        CONVERSIONS.replace("nodes { id }", "nodes { id } pageInfo { endCursor }"),
        {"first": 5},
        token=world.tokens["admin"],
    )
    rest = await api.data(
        CONVERSIONS,
        {"first": 5, "after": first["conversions"]["pageInfo"]["endCursor"]},
        token=world.tokens["admin"],
    )
    seen = [n["id"] for n in first["conversions"]["nodes"] + rest["conversions"]["nodes"]]
    assert len(seen) == len(set(seen)) == 9


# -- authentication --------------------------------------------------------------------------


async def _token(engine: AsyncEngine, email: str) -> tuple[int, str]:
    async with UnitOfWork(engine) as uow:
        user = await access.create_user(uow, None, email=email, name="script", role=Role.ADMIN)
        created = await access.create_api_token(
            uow, user.as_viewer(), name="script", expires_at=uow.now + timedelta(days=1)
        )
        await uow.commit()
    return created.token.id, created.secret


async def test_expired_token_is_401_unauthenticated(api: Api, engine: AsyncEngine) -> None:
    token_id, secret = await _token(engine, "expiring@portal.test")
    assert (await api.data("{ viewer { user { email } } }", token=secret))["viewer"]["user"][
        "email"
    ] == ("expiring@portal.test")
    async with engine.begin() as conn:
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    # The API never moves an expiry: the app's cache of the token, read with the old one, would
    # trust it until its entry ends (tests/api/test_token_cache.py covers the expiry it knows).
    api.app.state.token_cache.clear()
    response = await api.post("{ viewer { user { email } } }", token=secret)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert "data" not in body  # execution never started
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in body["errors"][0]["message"]


async def test_revoked_token_is_401_unauthenticated(api: Api, engine: AsyncEngine) -> None:
    token_id, secret = await _token(engine, "revoked@portal.test")
    async with UnitOfWork(engine) as uow:
        owner = await access.find_user_by_email(uow, "revoked@portal.test")
        assert owner is not None
        await access.revoke_api_token(uow, owner.as_viewer(), token_id)
        await uow.commit()
    response = await api.post("{ viewer { user { email } } }", token=secret)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "header", ["Bearer ptk_unknown", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"]
)
async def test_unknown_token_or_scheme_is_401(api: Api, world: World, header: str) -> None:
    response = await api.post("{ viewer { user { email } } }", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_query_without_credentials_is_unauthenticated(api: Api, world: World) -> None:
    for query in (
        "{ viewer { user { email } } }",
        "{ conversions(first: 5) { totalCount } }",
        '{ node(id: "UHJvZ3JhbTox") { id } }',
        '{ nodes(ids: ["UHJvZ3JhbTox"]) { id } }',
    ):
        response = await api.post(query)
        assert response.status_code == 200
        body = response.json()
        assert set(body["data"] or {}) <= {"node", "nodes"} and not any(
            (body["data"] or {}).values()
        )
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


# -- documents: parse, validation and limits -------------------------------------------------


async def test_parse_error_is_graphql_parse_failed(api: Api, world: World) -> None:
    await expect_error(
        api,
        "{ viewer { user { email }",
        {},
        world.tokens["A"],
        "GRAPHQL_PARSE_FAILED",
        mentions="Syntax Error",
    )


async def test_unknown_field_is_graphql_validation_failed_without_suggestions(
    api: Api, world: World
) -> None:
    error = await expect_error(
        api,
        "{ conversions(first: 5) { totalCont } }",
        {},
        world.tokens["A"],
        "GRAPHQL_VALIDATION_FAILED",
        mentions="totalCont",
    )
    assert "Did you mean" not in error["message"]


def _nested(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"program {{ commissionModels {{ {inner} }} }}"
    return f"{{ conversions(first: 1) {{ nodes {{ {inner} }} }} }}"


async def test_query_over_the_depth_limit_is_query_too_complex(
    api: Api, world: World, statements: StatementCounter
) -> None:
    assert "errors" not in await api.query(_nested(5), token=world.tokens["admin"])  # depth 12
    statements.reset()
    error = await expect_error(
        api, _nested(6), {}, world.tokens["admin"], "QUERY_TOO_COMPLEX", mentions="depth"
    )
    assert "locations" in error
    assert not any("conversions" in s for s in statements.statements), "refused before it runs"


async def test_too_many_aliases_is_query_too_complex(api: Api, world: World) -> None:
    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: viewer {{ user {{ id }} }}" for i in range(n)) + " }"

    assert "errors" not in await api.query(aliased(30), token=world.tokens["A"])
    await expect_error(
        api, aliased(31), {}, world.tokens["A"], "QUERY_TOO_COMPLEX", mentions="aliases"
    )


async def test_too_many_tokens_is_query_too_complex(api: Api, world: World) -> None:
    query = "{ " + " ".join("viewer { user { id } }" for _ in range(800)) + " }"
    await expect_error(api, query, {}, world.tokens["A"], "QUERY_TOO_COMPLEX", mentions="tokens")


@pytest.fixture
async def costly_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(dataclasses.replace(settings, max_query_cost=100), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield Api(client)


async def test_query_over_the_cost_limit_is_refused_before_it_runs(
    costly_api: Api, world: World, statements: StatementCounter
) -> None:
    query = (
        "query($first: Int) {"
        " conversions(first: $first) { nodes { program { name } partner { name } } } }"
    )
    cheap = await costly_api.query(query, {"first": 10}, token=world.tokens["admin"])
    assert "errors" not in cheap
    assert {
        k: cheap["extensions"]["cost"][k] for k in ("requestedQueryCost", "maximumAvailable")
    } == {"requestedQueryCost": 22, "maximumAvailable": 100}

    statements.reset()
    body = (await costly_api.post(query, {"first": 100}, token=world.tokens["admin"])).json()
    error = only_error(body)
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": 202, "maximumCost": 100}
    assert "data" not in body  # refused before execution
    assert {
        k: body["extensions"]["cost"][k] for k in ("requestedQueryCost", "maximumAvailable")
    } == {"requestedQueryCost": 202, "maximumAvailable": 100}
    assert not any("conversions" in s for s in statements.statements), "refused before it runs"


# -- unexpected failures ---------------------------------------------------------------------


async def test_unexpected_exception_is_masked_with_an_error_id_in_the_log(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection string postgres://secret@db")

    # Where both execution paths read the list (the compiled one leaves the failure to the
    # executor, which reports it).
    monkeypatch.setattr(Reader, "conversions_scope", explode)
    with caplog.at_level(logging.ERROR, logger="portal.errors"):
        response = await api.post(
            "{ conversions(first: 5) { totalCount } }", token=world.tokens["A"]
        )
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL"
    error_id = error["extensions"]["errorId"]
    assert error_id in error["message"]
    assert "secret" not in response.text and "RuntimeError" not in response.text
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info is not None and "postgres://secret@db" in str(record.exc_info[1])
