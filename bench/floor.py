"""The floor of issue 13: a raw Starlette + asyncpg + orjson app, no auth, no GraphQL.

    uvicorn --factory bench.floor:create_app  (PORTAL_DATABASE_URL names the database)

One hand-written SQL statement per bench query of `bench/read_path.py`, answering the bytes of
portal's `data` for that query: the same JSON shape and key order, the same Money amounts
(`portal.domain.money.canonical`, the Decimal scalar's `format(…, "f")`), DateTime as the
DateTime scalar writes it, and global ids and cursors from portal's own helpers
(`portal.global_ids.encode_id`, `portal.adapters.pagination.SortKey.encode`).

- `GET /conversions?program=<pk>&first=<n>[&count=1]`: a program's newest conversions with
  partner and program (queries (a), (b), (d)); the advertiser's scope is the program filter
  alone (no visibility predicates: the floor has no viewer);
- `GET /conversions?partner=<pk>&first=<n>`: a partner's newest conversions (query (c));
- `GET /node/<pk>`: one conversion (`node(id:)`);
- `GET /requests?programs=<pk>,<pk>&from=<DateTime>&first=<n>`: the request explorer's default
  view (`frontend_contract/operations/conversionRequestExplorer.graphql`): open work (INQUIRED,
  ACCEPTED, FAILED) of these programs raised since `from`, newest first, with `totalCount`.

The body is `{"data": …}`; portal's answer has the same `data` followed by `extensions.cost`
(the query cost and the viewer's rate-limit budget, which change per request and mean nothing
without a viewer). `bench/read_path.py` checks that portal's body starts with the floor's body,
byte for byte, before it measures.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.adapters.pagination import SortKey
from portal.adapters.tables import conversion_requests, conversions
from portal.domain.money import canonical, without_padding
from portal.global_ids import encode_id

CURSOR = SortKey("TRACKING_TIME", conversions.c.tracking_time, conversions.c.id, True, "datetime")
"""The conversions list's default ordering, as `Reader.conversions_scope` builds it."""
REQUEST_CURSOR = SortKey(
    "CREATED_AT", conversion_requests.c.created_at, conversion_requests.c.id, True, "datetime"
)
"""The explorer's ordering (`RequestReader.requests_scope`, CREATED_AT DESC)."""

COLUMNS = """
    c.id, c.order_id, c.tracking_time, c.status, c.order_value, c.commission, c.currency,
    pa.id AS pa_id, pa.name AS pa_name, pr.id AS pr_id, pr.name AS pr_name
  FROM conversions c
  JOIN partners pa ON pa.id = c.partner_id
  JOIN programs pr ON pr.id = c.program_id"""
NEWEST = "ORDER BY c.tracking_time DESC, c.id DESC LIMIT $2"
BY_PROGRAM = f"SELECT {COLUMNS}\n WHERE c.program_id = $1 {NEWEST}"
BY_PARTNER = f"SELECT {COLUMNS}\n WHERE c.partner_id = $1 {NEWEST}"
BY_ID = f"SELECT {COLUMNS}\n WHERE c.id = $1"
COUNT_PROGRAM = "SELECT count(*) FROM conversions WHERE program_id = $1"
OPEN_WORK = ("INQUIRED", "ACCEPTED", "FAILED")
REQUESTS_WHERE = "r.program_id = ANY($1) AND r.status = ANY($2) AND r.created_at >= $3"
REQUESTS = f"""SELECT
    r.id, r.kind, r.status, r.created_at, r.order_id, r.target, r.category, r.tracking_time,
    r.order_value, r.currency, r.requested_status, r.commission, r.commission_currency,
    r.commission_model_name, r.failure, cb.name AS cb_name, cb.role AS cb_role,
    pr.id AS pr_id, pr.name AS pr_name, pr.currency AS pr_currency,
    pa.id AS pa_id, pa.name AS pa_name
  FROM conversion_requests r
  JOIN users cb ON cb.id = r.created_by
  JOIN programs pr ON pr.id = r.program_id
  JOIN partners pa ON pa.id = r.partner_id
 WHERE {REQUESTS_WHERE}
 ORDER BY r.created_at DESC, r.id DESC LIMIT $4"""
COUNT_REQUESTS = f"SELECT count(*) FROM conversion_requests r WHERE {REQUESTS_WHERE}"


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _amount(value: Decimal, currency: str) -> str:
    return format(canonical(value, currency), "f")


class _Row:
    """What `SortKey.encode` reads: a row's mapping."""

    __slots__ = ("_mapping",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._mapping = record


def _node(r: asyncpg.Record) -> dict[str, Any]:
    currency = r["currency"]
    return {
        "id": encode_id("Conversion", r["id"]),
        "orderId": r["order_id"],
        "trackingTime": _time(r["tracking_time"]),
        "status": r["status"],
        "orderValue": {"amount": _amount(r["order_value"], currency), "currency": currency},
        "commission": {"amount": _amount(r["commission"], currency), "currency": currency},
        "partner": {"id": encode_id("Partner", r["pa_id"]), "name": r["pa_name"]},
        "program": {"id": encode_id("Program", r["pr_id"]), "name": r["pr_name"]},
    }


def _request(r: asyncpg.Record) -> dict[str, Any]:
    """A node of the explorer: `RequestedValues.from_domain`'s amounts, Money for the
    commission."""
    currency, tracked, value = r["currency"], r["tracking_time"], r["order_value"]
    if value is not None:
        value = format(canonical(value, currency) if currency else without_padding(value), "f")
    commission, commission_currency = r["commission"], r["commission_currency"]
    return {
        "id": encode_id("ConversionRequest", r["id"]),
        "kind": r["kind"],
        "status": r["status"],
        "createdAt": _time(r["created_at"]),
        "createdBy": {"name": r["cb_name"], "role": r["cb_role"]},
        "program": {
            "id": encode_id("Program", r["pr_id"]),
            "name": r["pr_name"],
            "currency": r["pr_currency"],
        },
        "partner": {"id": encode_id("Partner", r["pa_id"]), "name": r["pa_name"]},
        "requested": {
            "orderId": r["order_id"],
            "conversionTarget": r["target"],
            "trackingCategory": r["category"],
            "trackingTime": None if tracked is None else _time(tracked),
            "orderValue": value,
            "currency": currency,
            "status": r["requested_status"],
        },
        "commission": None
        if commission is None or commission_currency is None
        else {
            "amount": _amount(commission, commission_currency),
            "currency": commission_currency,
        },
        "commissionModelName": r["commission_model_name"],
        "failure": r["failure"],
    }


async def list_requests(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    params = request.query_params
    first = int(params.get("first", "50"))
    programs = [int(pk) for pk in params["programs"].split(",")]
    since = dt.datetime.fromisoformat(params["from"])
    async with pool.acquire() as conn:
        rows = await conn.fetch(REQUESTS, programs, list(OPEN_WORK), since, first + 1)
        total = await conn.fetchval(COUNT_REQUESTS, programs, list(OPEN_WORK), since)
    more = len(rows) > first
    rows = rows[:first]
    connection = {
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": more,
            "endCursor": REQUEST_CURSOR.encode(_Row(rows[-1])) if rows else None,  # type: ignore[arg-type]
        },
        "nodes": [_request(r) for r in rows],
    }
    return _json({"data": {"conversionRequests": connection}})


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def list_conversions(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    params = request.query_params
    first = int(params.get("first", "50"))
    if "program" in params:
        sql, owner = BY_PROGRAM, int(params["program"])
    else:
        sql, owner = BY_PARTNER, int(params["partner"])
    count = params.get("count") == "1"
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, owner, first + 1)
        total = await conn.fetchval(COUNT_PROGRAM, owner) if count else None
    more = len(rows) > first
    rows = rows[:first]
    connection: dict[str, Any] = {"totalCount": total} if count else {}
    connection["nodes"] = [_node(r) for r in rows]
    connection["pageInfo"] = {
        "hasNextPage": more,
        "endCursor": CURSOR.encode(_Row(rows[-1])) if rows else None,  # type: ignore[arg-type]
    }
    return _json({"data": {"conversions": connection}})


async def node(request: Request) -> Response:
    pool: asyncpg.Pool = request.app.state.pool
    row = await pool.fetchrow(BY_ID, int(request.path_params["pk"]))
    return _json({"data": {"node": None if row is None else _node(row)}})


async def health(_request: Request) -> Response:
    return Response(b"ok")


def create_app() -> Starlette:
    """The app; PORTAL_DATABASE_URL (an SQLAlchemy URL or a plain postgresql:// one)."""
    url = os.environ["PORTAL_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
        try:
            yield
        finally:
            await app.state.pool.close()

    return Starlette(
        routes=[
            Route("/conversions", list_conversions),
            Route("/node/{pk:int}", node),
            Route("/requests", list_requests),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
