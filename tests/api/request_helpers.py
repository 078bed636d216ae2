"""Shared pieces of the conversion request API tests: query constants, a world with ids ready
for GraphQL, and small SQL helpers for preparing states the API itself does not offer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable

from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.tables import relationships, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.commission import CommissionRate
from portal.domain.programs import DEFAULT_CATEGORY
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.factories import World, build_world

TRACKED_AT = "2026-06-01T10:00:00+02:00"

REQUEST_FIELDS = """
  id kind status comment
  commission { amount currency } commissionModelName failure processedAt
  requested {
    orderId conversionTarget trackingCategory trackingTime orderValue currency status commission
  }
  program { id } partner { id } createdBy { id name }
  decision { conversionNote reason decidedBy { name } }
"""
ERRORS = "userErrors { field code message }"

CREATE = f"""
mutation Create($input: CreateConversionRequestInput!) {{
  createConversionRequest(input: $input) {{ conversionRequest {{ {REQUEST_FIELDS} }} {ERRORS} }}
}}"""
UPDATE = f"""
mutation Update($input: UpdateConversionRequestInput!) {{
  updateConversionRequest(input: $input) {{ conversionRequest {{ {REQUEST_FIELDS} }} {ERRORS} }}
}}"""
WITHDRAW = f"""
mutation Withdraw($input: WithdrawConversionRequestInput!) {{
  withdrawConversionRequest(input: $input) {{ conversionRequest {{ id status }} {ERRORS} }}
}}"""
COMMENT = f"""
mutation Comment($input: CommentOnConversionRequestInput!) {{
  commentOnConversionRequest(input: $input) {{
    comment {{ id body visibility author {{ name }} }} {ERRORS}
  }}
}}"""
PREVIEW = f"""
mutation Preview($input: PreviewConversionRequestInput!) {{
  previewConversionRequest(input: $input) {{
    preview {{
      changes {{ field from to }} commission {{ amount currency }} commissionModelName breakdown
    }}
    {ERRORS}
  }}
}}"""
DECIDE = f"""
mutation Decide($input: DecideConversionRequestInput!) {{
  decideConversionRequest(input: $input) {{ conversionRequest {{ {REQUEST_FIELDS} }} {ERRORS} }}
}}"""
DECIDE_MANY = f"""
mutation DecideMany($input: DecideConversionRequestsInput!) {{
  decideConversionRequests(input: $input) {{
    results {{ index requestId conversionRequest {{ id status }} {ERRORS} }}
    {ERRORS}
  }}
}}"""
RETRY = f"""
mutation Retry($input: RetryConversionRequestInput!) {{
  retryConversionRequest(input: $input) {{ conversionRequest {{ id status failure }} {ERRORS} }}
}}"""
DETAIL = f"""
query Detail($id: ID!) {{
  conversionRequest(id: $id) {{
    {REQUEST_FIELDS}
    conversion {{
      id orderId conversionTarget trackingCategory status
      orderValue {{ amount currency }} commission {{ amount currency }} commissionModelName
      history {{ number source requestId changes {{ field from to }} }}
    }}
    history {{ status }}
  }}
}}"""
COMMENTS = """
query Comments($id: ID!) {
  conversionRequest(id: $id) { id comments(first: 50) { totalCount nodes { body visibility } } }
}"""


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


@dataclass
class RequestWorld:
    """build_world with global ids at hand."""

    world: World

    def token(self, who: str) -> str:
        return self.world.tokens[who]

    def program(self, key: str = "p1") -> str:
        return gid("Program", self.world.ids[key])

    def partner(self, key: str) -> str:
        return gid("Partner", self.world.ids[key])

    def conversion(self, partner: str, index: int = 0) -> str:
        return gid("Conversion", self.world.conversions[partner][index])

    def conversion_pk(self, partner: str, index: int = 0) -> int:
        return self.world.conversions[partner][index]


async def request_world(engine: AsyncEngine, conversions_per_partner: int = 3) -> RequestWorld:
    return RequestWorld(await build_world(engine, conversions_per_partner))


def new_order(order_id: str = "MISSED-1", **requested: Any) -> dict[str, Any]:
    """`requested` of a complete CREATE_NEW input; keyword arguments override or (None) drop."""
    values: dict[str, Any] = {
        "orderId": order_id,
        "conversionTarget": "SALE_NEW_CUSTOMER",
        "trackingTime": TRACKED_AT,
        "orderValue": "200.00",
    }
    values.update(requested)
    return {k: v for k, v in values.items() if v is not None}


def create_input(program: str, requested: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": "CREATE_NEW", "programId": program, "requested": requested, **extra}


def change_input(conversion: str, requested: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": "CHANGE_EXISTING", "conversionId": conversion, "requested": requested, **extra}


async def create(api: Api, token: str, input: dict[str, Any]) -> dict[str, Any]:
    """The createConversionRequest payload."""
    payload: dict[str, Any] = (await api.data(CREATE, {"input": input}, token=token))[
        "createConversionRequest"
    ]
    return payload


async def raise_request(api: Api, token: str, input: dict[str, Any]) -> dict[str, Any]:
    """Creates a request that must be valid; answers the request."""
    payload = await create(api, token, input)
    assert payload["userErrors"] == [], payload
    request: dict[str, Any] = payload["conversionRequest"]
    assert request["status"] == "INQUIRED"
    return request


async def decide(
    api: Api,
    token: str,
    request_id: str,
    decision: str = "ACCEPT",
    note: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    input: dict[str, Any] = {"requestId": request_id, "decision": decision}
    if note is not None:
        input["conversionNote"] = note
    if reason is not None:
        input["reason"] = reason
    payload: dict[str, Any] = (await api.data(DECIDE, {"input": input}, token=token))[
        "decideConversionRequest"
    ]
    return payload


async def mutate(
    api: Api, query: str, name: str, input: dict[str, Any], token: str
) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(query, {"input": input}, token=token))[name]
    return payload


async def detail(api: Api, token: str, request_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.data(DETAIL, {"id": request_id}, token=token))[
        "conversionRequest"
    ]
    return found


def codes_by_field(errors: list[dict[str, Any]]) -> set[tuple[str, tuple[str, ...] | None]]:
    return {(e["code"], tuple(e["field"]) if e["field"] is not None else None) for e in errors}


async def execute(engine: AsyncEngine, *statements: Executable) -> None:
    """Runs statements in one committed transaction (states the API does not offer)."""
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def count_rows(engine: AsyncEngine, *tables: Table) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0) for t in tables
        }


async def user_pk(engine: AsyncEngine, email: str) -> int:
    async with engine.connect() as conn:
        pk = await conn.scalar(select(users.c.id).where(users.c.email == email))
    assert pk is not None
    return int(pk)


async def give_partner_split_model(engine: AsyncEngine, world: World, partner: str = "A") -> None:
    """Partner `partner` of program 1 moves to model `split`: new customers 5 %, existing
    customers 2 % (the world's `default` rates every target alike)."""
    async with UnitOfWork(engine) as uow:
        model_id = await insert_model(uow, world.ids["p1"], "split", discount_rating=False)
        rates = [
            CommissionRate("SALE_NEW_CUSTOMER", DEFAULT_CATEGORY, Decimal("5"), None),
            CommissionRate("SALE_EXISTING_CUSTOMER", DEFAULT_CATEGORY, Decimal("2"), None),
            CommissionRate("LEAD", DEFAULT_CATEGORY, None, Decimal("1")),
        ]
        await insert_period(uow, model_id, datetime(2026, 1, 1, tzinfo=UTC), None, rates)
        await uow.execute(
            relationships.update()
            .where(
                relationships.c.partner_id == world.ids[partner],
                relationships.c.program_id == world.ids["p1"],
            )
            .values(commission_model_id=model_id)
        )
        await uow.commit()
