"""Shared pieces of the sales validation API tests (issue 12): the mutation, the file upload,
and states the API does not offer (a lead next to a sale, billing locks, a second period)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters import rows
from portal.adapters.commission_store import insert_model, insert_period
from portal.adapters.conversion_store import NewConversion, insert_conversion
from portal.adapters.rate_store import upsert_rates
from portal.adapters.tables import conversions, programs, relationships
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import insert_conversion as insert_tracked
from portal.domain.commission import CommissionRate
from portal.domain.conversions import ConversionStatus, RevisionSource
from portal.domain.exchange_rates import ReferenceRate
from portal.domain.programs import DEFAULT_CATEGORY, TargetKind
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.factories import World

ERRORS = "userErrors { field code message }"
VALIDATE = f"""
mutation Validate($input: ValidateConversionsInput!) {{
  validateConversions(input: $input) {{
    results {{
      index orderId outcome status changes {{ field from to }} {ERRORS}
      conversion {{ id status orderValue {{ amount currency }} commission {{ amount currency }}
        conversionNote }}
    }}
    counts {{ outcome count }}
    dryRun
    {ERRORS}
  }}
}}"""
IMPORT = f"""
mutation($input: ImportSalesValidationInput!) {{
  importSalesValidation(input: $input) {{
    importJob {{ id kind status dryRun allOrNothing progress {{ processed total }} }}
    {ERRORS}
  }}
}}"""
JOB = """query($id: ID!) { node(id: $id) { ... on ImportJob {
  id kind status dryRun allOrNothing createdCount errorCount errorReportUrl resultReportUrl error
  progress { processed total }
  errors(first: 100) { totalCount nodes { row column value code message } } } } }"""
HISTORY = """query($id: ID!) { conversion(id: $id) {
  status conversionNote orderValue { amount currency } commission { amount currency }
  history { number source actorEmail changes { field from to } } } }"""


def conversion_gid(world: World, partner: str, index: int = 0) -> str:
    return encode_id("Conversion", world.conversions[partner][index])


def program_gid(world: World, key: str = "p1") -> str:
    return encode_id("Program", world.ids[key])


async def validate(
    api: Api,
    token: str,
    program: str,
    lines: list[dict[str, Any]],
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """The validateConversions payload (top-level errors fail the test)."""
    payload: dict[str, Any] = (
        await api.data(
            VALIDATE,
            {"input": {"programId": program, "lines": lines, "dryRun": dry_run}},
            token=token,
        )
    )["validateConversions"]
    return payload


async def upload(
    api: Api, token: str, program: str, name: str, content: bytes, **options: Any
) -> dict[str, Any]:
    """The importSalesValidation payload (top-level errors fail the test)."""
    variables = {"input": {"programId": program, "file": None, **options}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": IMPORT, "variables": variables}),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert body.get("errors") is None, body
    return body["data"]["importSalesValidation"]  # type: ignore[no-any-return]


async def run_file(
    api: Api, token: str, program: str, name: str, content: bytes, **options: Any
) -> dict[str, Any]:
    """Uploads the file, waits for its job, answers the job as its author sees it."""
    started = await upload(api, token, program, name, content, **options)
    assert started["userErrors"] == [], started
    await api.drain_jobs()
    found = (await api.data(JOB, {"id": started["importJob"]["id"]}, token=token))["node"]
    assert found is not None and found["status"] == "SUCCEEDED", found
    return found  # type: ignore[no-any-return]


async def history(api: Api, token: str, conversion: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(HISTORY, {"id": conversion}, token=token))["conversion"]
    return found


async def conversion_row(engine: AsyncEngine, pk: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(conversions).where(conversions.c.id == pk))).one()


async def snapshot(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    """Every conversion's changeable values, to prove nothing was written."""
    c = conversions.c
    async with engine.connect() as conn:
        found = await conn.execute(
            select(c.id, c.status, c.order_value, c.commission, c.conversion_note).order_by(c.id)
        )
        return [tuple(r) for r in found]


async def add_lead(engine: AsyncEngine, world: World, order_id: str, partner: str = "A") -> int:
    """A LEAD conversion of program 1 for `order_id` (which may have a sale too)."""
    async with UnitOfWork(engine) as uow:
        program = rows.program(
            (await uow.conn.execute(select(programs).where(programs.c.id == world.ids["p1"]))).one()
        )
        pk = await insert_conversion(
            uow,
            NewConversion(
                program_id=program.id,
                partner_id=world.ids[partner],
                order_id=order_id,
                target="LEAD",
                target_kind=TargetKind.LEAD,
                category=DEFAULT_CATEGORY,
                tracking_time=datetime(2026, 3, 1, 12, tzinfo=UTC),
                currency="EUR",
                order_value=Decimal("0.00"),
                commission=Decimal("1.00"),
                status=ConversionStatus.OPEN,
                commission_model_name="default",
                commission_breakdown={},
            ),
            RevisionSource.TRACKING,
            None,
        )
        await uow.commit()
    return pk


async def lock(engine: AsyncEngine, pk: int, *, reserved: bool) -> None:
    """Puts the conversion in a payout entry: PREVIEW (reserved) or CONFIRMED (paid)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(conversions)
            .where(conversions.c.id == pk)
            .values(payout_entry_id=1, payout_reserved=reserved)
        )


async def set_rates(engine: AsyncEngine, day: date, **rates: str) -> None:
    async with engine.begin() as conn:
        await upsert_rates(
            conn, [ReferenceRate("EUR", c, day, Decimal(r)) for c, r in rates.items()]
        )


async def two_periods(engine: AsyncEngine, world: World, partner: str = "A") -> int:
    """Partner `partner` of program 1 moves to a model of 5 % until April 2026 and 10 % from
    then on; answers the id of an order of April (`APR-1`, 200.00, rated 10 %)."""
    async with UnitOfWork(engine) as uow:
        model_id = await insert_model(uow, world.ids["p1"], "seasonal", discount_rating=False)
        april = datetime(2026, 4, 1, tzinfo=UTC)
        for start, end, percent in (
            (datetime(2026, 1, 1, tzinfo=UTC), april, "5"),
            (april, None, "10"),
        ):
            rates = [
                CommissionRate(target, DEFAULT_CATEGORY, Decimal(percent), None)
                for target in ("SALE_NEW_CUSTOMER", "SALE_EXISTING_CUSTOMER")
            ]
            await insert_period(uow, model_id, start, end, rates)
        await uow.execute(
            relationships.update()
            .where(
                relationships.c.partner_id == world.ids[partner],
                relationships.c.program_id == world.ids["p1"],
            )
            .values(commission_model_id=model_id)
        )
        program = rows.program(
            (await uow.conn.execute(select(programs).where(programs.c.id == world.ids["p1"]))).one()
        )
        pk = await insert_tracked(
            uow,
            program,
            world.ids[partner],
            "APR-1",
            datetime(2026, 4, 15, 9, tzinfo=UTC),
            Decimal("200.00"),
        )
        await uow.commit()
    return pk


def codes(result: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in result["userErrors"]]
