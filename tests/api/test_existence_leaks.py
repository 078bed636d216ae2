"""What exists outside a viewer's scope reads exactly like what does not exist (SPEC §2), also
through the answers of mutations; discovery, where the product needs it, is explicit: a
partner sees (and may apply to) publicly listed programs only.

applyToProgram and setRelationship are covered in test_relationship_mutations.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversion_requests, users
from portal.adapters.unit_of_work import UnitOfWork
from portal.config import Settings
from portal.services import imports, setup
from tests.api.setup_calls import gid
from tests.conftest import Api
from tests.factories import ADMIN, World, build_world
from tests.import_files import csv_bytes, start_import_of

CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id email } userErrors { field code message } }
}"""
PROGRAM = """query($id: ID!) {
  program(id: $id) {
    name publiclyListed advertiser { name } trackingCategories { key } commissionModels { id }
  }
}"""
PROGRAMS = "{ programs(first: 10) { nodes { name } } }"
ADVERTISERS = "{ advertisers(first: 10) { nodes { name } } }"


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    return await build_world(engine)


async def _users(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(select(users).order_by(users.c.id))]


def _user(email: str, role: str, **org: str) -> dict[str, Any]:
    return {"input": {"email": email, "name": "New", "role": role, **org}}


@pytest.mark.parametrize(
    ("who", "role", "org"),
    [("A", "PARTNER", "partnerId"), ("adv1", "ADVERTISER", "advertiserId")],
)
async def test_create_user_tells_tenants_nothing_about_addresses(
    api: Api, world: World, engine: AsyncEngine, who: str, role: str, org: str
) -> None:
    own_org = gid(
        "Partner" if role == "PARTNER" else "Advertiser",
        world.ids["A" if role == "PARTNER" else "adv1"],
    )
    before = await _users(engine)
    answers = {}
    for case, email in {
        "another tenant's user": "c@partner.test",
        "a colleague": "b@partner.test" if role == "PARTNER" else "adv1@portal.test",
        "nobody": "free@example.com",
    }.items():
        answers[case] = (
            await api.data(CREATE_USER, _user(email, role, **{org: own_org}), world.tokens[who])
        )["createUser"]
    assert answers["another tenant's user"] == answers["nobody"] == answers["a colleague"]
    assert answers["nobody"]["user"] is None
    assert [e["code"] for e in answers["nobody"]["userErrors"]] == ["PERMISSION_DENIED"]
    assert await _users(engine) == before


async def test_admins_create_users_and_are_told_when_an_address_is_taken(
    api: Api, world: World
) -> None:
    partner = {"partnerId": gid("Partner", world.ids["A"])}
    created = await api.data(
        CREATE_USER, _user("second@cashback.test", "PARTNER", **partner), world.tokens["admin"]
    )
    assert created["createUser"]["user"]["email"] == "second@cashback.test"
    taken = await api.data(
        CREATE_USER, _user("C@partner.test", "PARTNER", **partner), world.tokens["admin"]
    )
    assert [e["code"] for e in taken["createUser"]["userErrors"]] == ["EMAIL_TAKEN"]


async def test_a_partner_sees_listed_programs_and_only_their_public_side(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    p2 = gid("Program", world.ids["p2"])
    # Program 2 (Kiko JP, advertiser 2) is partner A's neither by relationship nor by listing.
    assert (await api.data(PROGRAM, {"id": p2}, world.tokens["A"]))["program"] is None
    async with UnitOfWork(engine) as uow:
        await setup.update_program(
            uow, ADMIN, world.ids["p2"], setup.ProgramChanges(publicly_listed=True)
        )
        await uow.commit()
    listed = (await api.data(PROGRAM, {"id": p2}, world.tokens["A"]))["program"]
    assert listed == {
        "name": "Kiko JP",
        "publiclyListed": True,
        "advertiser": {"name": "Kiko Japan"},
        "trackingCategories": [{"key": "default"}],
        "commissionModels": [],  # the models of a program are its partners' business
    }
    programs = await api.data(PROGRAMS, token=world.tokens["A"])
    assert {n["name"] for n in programs["programs"]["nodes"]} == {"Nordwind DE", "Kiko JP"}
    advertisers = await api.data(ADVERTISERS, token=world.tokens["A"])
    assert {n["name"] for n in advertisers["advertisers"]["nodes"]} == {
        "Nordwind Retail",
        "Kiko Japan",
    }
    # Nothing of what happens in the program: C's conversions there stay C's.
    conversions = await api.data(
        "query($p: [ID!]) { conversions(first: 10, filter: {programIds: $p}) { totalCount } }",
        {"p": [p2]},
        world.tokens["A"],
    )
    assert conversions["conversions"]["totalCount"] == 0


async def test_a_partner_s_file_names_its_own_program_before_a_listed_namesake(
    world: World, engine: AsyncEngine, settings: Settings
) -> None:
    """Listing makes other advertisers' programs visible to partners: a program of the same
    name must not take the place of the partner's own in its request files."""
    async with UnitOfWork(engine) as uow:
        await setup.update_program(
            uow,
            ADMIN,
            world.ids["p1"],  # listed, and older than C's own program of that name
            setup.ProgramChanges(name="Kiko JP", publicly_listed=True),
        )
        await uow.commit()
    header = ["request_type", "program", "order_id", "conversion_target", "tracking_time"]
    rows = [["CREATE_NEW", "kiko jp", "X-1", "SALE_NEW_CUSTOMER", "2026-06-01T10:00:00Z"]]
    content = csv_bytes([*header, "order_value"], [[*rows[0], "10"]])
    job_id = await start_import_of(engine, settings, "C", content)
    assert await imports.run_import(engine, settings, job_id) == "succeeded"
    async with engine.connect() as conn:
        program_ids = (await conn.scalars(select(conversion_requests.c.program_id))).all()
    assert program_ids == [world.ids["p2"]]
