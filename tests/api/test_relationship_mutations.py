"""applyToProgram and setRelationship: the relationship status machine through HTTP.

The world: partners A and B are ACTIVE in program 1 (advertiser 1, model m1), which is publicly
listed; partner C is ACTIVE in program 2 (advertiser 2, model m2) and has no relationship with
program 1. Program 3 (advertiser 1, model m3) is not listed and has no partners.

Discovery is explicit: a partner sees and applies to listed programs; an advertiser invites the
partners it sees (those working with or applying to one of its programs). Anything else reads
exactly like something that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import add_model
from portal.services import setup
from tests.api.setup_calls import PROGRAM, call, codes, gid, read_relationship, setup_rows
from tests.conftest import Api
from tests.factories import ADMIN, World, build_world


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    world = await build_world(engine, conversions_per_partner=1)
    async with UnitOfWork(engine) as uow:
        await setup.update_program(
            uow, ADMIN, world.ids["p1"], setup.ProgramChanges(publicly_listed=True)
        )
        p3 = await setup.create_program(
            uow, ADMIN, advertiser_id=world.ids["adv1"], name="Nordwind AT", currency="EUR"
        )
        since = datetime(2026, 1, 1, tzinfo=UTC)
        world.ids.update(
            p3=p3.id, m3=await add_model(uow, p3.id, "default", since, Decimal(5), None)
        )
        await uow.commit()
    return world


async def apply(api: Api, world: World, partner: str, program: str = "p1") -> dict[str, Any]:
    return await call(
        api, "applyToProgram", world.tokens[partner], programId=gid("Program", world.ids[program])
    )


async def set_status(
    api: Api,
    world: World,
    partner: str,
    status: str | None,
    token: str = "adv1",
    program: str = "p1",
    **more: Any,
) -> dict[str, Any]:
    extra = {"status": status} if status else {}
    return await call(
        api,
        "setRelationship",
        world.tokens[token],
        programId=gid("Program", world.ids[program]),
        partnerId=gid("Partner", world.ids[partner]),
        **extra,
        **more,
    )


async def status_of(api: Api, world: World, partner: str) -> str | None:
    found = await read_relationship(api, world.tokens["adv1"], world.ids["p1"], world.ids[partner])
    return None if found is None else found["status"]


# -- applyToProgram ----------------------------------------------------------------------------


async def test_partner_sees_a_listed_program_and_applies(api: Api, world: World) -> None:
    p1 = gid("Program", world.ids["p1"])
    # Given partner C, which has no relationship with the listed program 1 but sees it
    before = await api.data(PROGRAM, {"id": p1}, token=world.tokens["C"])
    assert before["program"]["publiclyListed"] is True
    # When it applies
    payload = await apply(api, world, "C")
    # Then the relationship is APPLIED, the advertiser sees it, and C now sees the program
    assert payload["userErrors"] == []
    relationship = payload["relationship"]
    assert relationship["status"] == "APPLIED"
    assert relationship["partner"] == {"id": gid("Partner", world.ids["C"])}
    assert relationship["program"] == {"id": p1}
    assert relationship["commissionModel"] is None
    assert await status_of(api, world, "C") == "APPLIED"
    after = await api.data(PROGRAM, {"id": p1}, token=world.tokens["C"])
    assert after["program"]["name"] == "Nordwind DE"


async def test_applying_twice_or_while_active_is_already_applied(api: Api, world: World) -> None:
    assert (await apply(api, world, "C"))["userErrors"] == []
    again = await apply(api, world, "C")
    assert again["relationship"] is None
    assert codes(again) == [(["input", "programId"], "ALREADY_APPLIED")]
    active = await apply(api, world, "A")
    assert codes(active) == [(["input", "programId"], "ALREADY_APPLIED")]
    assert await status_of(api, world, "A") == "ACTIVE"


async def test_a_rejected_partner_may_apply_again(api: Api, world: World) -> None:
    await apply(api, world, "C")
    rejected = await set_status(api, world, "C", "REJECTED")
    assert rejected["relationship"]["status"] == "REJECTED"
    again = await apply(api, world, "C")
    assert again["userErrors"] == []
    assert again["relationship"]["id"] == rejected["relationship"]["id"]
    assert await status_of(api, world, "C") == "APPLIED"


async def test_a_blocked_partner_may_not_apply(api: Api, world: World) -> None:
    blocked = await set_status(api, world, "A", "BLOCKED")
    assert blocked["relationship"]["status"] == "BLOCKED"
    payload = await apply(api, world, "A")
    assert codes(payload) == [(["input", "programId"], "BLOCKED")]
    assert await status_of(api, world, "A") == "BLOCKED"


async def test_applying_to_a_missing_program_is_not_found(api: Api, world: World) -> None:
    payload = await call(
        api, "applyToProgram", world.tokens["C"], programId=gid("Program", 999_999)
    )
    assert codes(payload) == [(["input", "programId"], "NOT_FOUND")]


async def test_applying_to_an_unlisted_program_reads_exactly_like_a_missing_one(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await setup_rows(engine)
    unlisted = await apply(api, world, "C", program="p3")
    missing = await call(
        api, "applyToProgram", world.tokens["C"], programId=gid("Program", 999_999)
    )
    assert unlisted == missing
    assert codes(unlisted) == [(["input", "programId"], "NOT_FOUND")]
    assert await setup_rows(engine) == before
    seen = await api.data(PROGRAM, {"id": gid("Program", world.ids["p3"])}, world.tokens["C"])
    assert seen["program"] is None


async def test_admins_apply_for_a_named_partner(api: Api, world: World) -> None:
    p1 = gid("Program", world.ids["p1"])
    unnamed = await call(api, "applyToProgram", world.tokens["admin"], programId=p1)
    assert codes(unnamed) == [(["input", "partnerId"], "REQUIRED")]
    missing = await call(
        api,
        "applyToProgram",
        world.tokens["admin"],
        programId=p1,
        partnerId=gid("Partner", 999_999),
    )
    assert codes(missing) == [(["input", "partnerId"], "NOT_FOUND")]
    named = await call(
        api,
        "applyToProgram",
        world.tokens["admin"],
        programId=p1,
        partnerId=gid("Partner", world.ids["C"]),
    )
    assert named["userErrors"] == []
    assert await status_of(api, world, "C") == "APPLIED"


async def test_a_partner_applies_only_for_itself(api: Api, world: World) -> None:
    # Partner C names partner B: the partnerId of a partner user is ignored
    payload = await call(
        api,
        "applyToProgram",
        world.tokens["C"],
        programId=gid("Program", world.ids["p2"]),
        partnerId=gid("Partner", world.ids["B"]),
    )
    assert codes(payload) == [(["input", "programId"], "ALREADY_APPLIED")]
    admin = world.tokens["admin"]
    assert await read_relationship(api, admin, world.ids["p2"], world.ids["B"]) is None


async def test_advertisers_invite_instead_of_applying(api: Api, world: World) -> None:
    payload = await apply(api, world, "adv1")
    assert codes(payload) == [(None, "PERMISSION_DENIED")]


# -- setRelationship: status machine -----------------------------------------------------------


async def test_advertiser_accepts_an_application_with_a_model(api: Api, world: World) -> None:
    await apply(api, world, "C")
    m1 = gid("CommissionModel", world.ids["m1"])
    payload = await set_status(api, world, "C", "ACTIVE", commissionModelId=m1)
    assert payload["userErrors"] == []
    found = await read_relationship(api, world.tokens["adv1"], world.ids["p1"], world.ids["C"])
    assert found is not None
    assert (found["status"], found["commissionModel"]) == ("ACTIVE", {"id": m1, "name": "default"})


async def test_becoming_active_needs_a_model_of_the_same_program(api: Api, world: World) -> None:
    await apply(api, world, "C")
    without = await set_status(api, world, "C", "ACTIVE")
    assert codes(without) == [(["input", "commissionModelId"], "COMMISSION_MODEL_REQUIRED")]
    # m2 belongs to program 2 (advertiser 2): it reads as missing
    foreign = await set_status(
        api, world, "C", "ACTIVE", commissionModelId=gid("CommissionModel", world.ids["m2"])
    )
    assert codes(foreign) == [(["input", "commissionModelId"], "NOT_FOUND")]
    assert await status_of(api, world, "C") == "APPLIED"


async def test_pause_and_resume_keep_the_model(api: Api, world: World) -> None:
    paused = await set_status(api, world, "A", "PAUSED")
    assert paused["userErrors"] == []
    assert await status_of(api, world, "A") == "PAUSED"
    resumed = await set_status(api, world, "A", "ACTIVE")
    assert resumed["userErrors"] == []
    assert resumed["relationship"]["commissionModel"]["id"] == gid(
        "CommissionModel", world.ids["m1"]
    )
    assert await status_of(api, world, "A") == "ACTIVE"


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["APPLIED"], "PAUSED"),
        (["APPLIED", "REJECTED"], "PAUSED"),
        (["APPLIED", "BLOCKED"], "REJECTED"),
    ],
)
async def test_transitions_outside_the_status_machine_are_refused(
    api: Api, world: World, path: list[str], refused: str
) -> None:
    await apply(api, world, "C")
    for status in path[1:]:
        assert (await set_status(api, world, "C", status))["userErrors"] == []
    payload = await set_status(api, world, "C", refused)
    assert codes(payload) == [(["input", "status"], "INVALID_TRANSITION")]
    assert await status_of(api, world, "C") == path[-1]


@pytest.mark.parametrize("refused", ["APPLIED", "REJECTED"])
async def test_an_active_relationship_cannot_go_back(api: Api, world: World, refused: str) -> None:
    payload = await set_status(api, world, "A", refused)
    assert codes(payload) == [(["input", "status"], "INVALID_TRANSITION")]
    assert await status_of(api, world, "A") == "ACTIVE"


async def test_advertiser_invites_a_partner_it_sees_as_active(api: Api, world: World) -> None:
    # adv1 sees A (A works in program 1) and invites it into program 3
    m3 = gid("CommissionModel", world.ids["m3"])
    payload = await set_status(api, world, "A", None, program="p3", commissionModelId=m3)
    assert payload["userErrors"] == []
    assert payload["relationship"]["status"] == "ACTIVE"
    found = await read_relationship(api, world.tokens["A"], world.ids["p3"], world.ids["A"])
    assert found is not None and found["status"] == "ACTIVE"


async def test_inviting_a_partner_the_advertiser_cannot_see_reads_like_a_missing_one(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    # C works only with advertiser 2: to adv1 it is as unknown as a partner that does not exist
    before = await setup_rows(engine)
    m1 = gid("CommissionModel", world.ids["m1"])
    unseen = await set_status(api, world, "C", None, commissionModelId=m1)
    missing = await call(
        api,
        "setRelationship",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        partnerId=gid("Partner", 999_999),
        commissionModelId=m1,
    )
    assert unseen == missing
    assert codes(unseen) == [(["input", "partnerId"], "NOT_FOUND")]
    assert await setup_rows(engine) == before
    # Once C applied (program 1 is listed), adv1 sees it and may accept it
    await apply(api, world, "C")
    accepted = await set_status(api, world, "C", "ACTIVE", commissionModelId=m1)
    assert accepted["userErrors"] == []


async def test_an_invitation_starts_active_or_blocked_only(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await setup_rows(engine)
    m3 = gid("CommissionModel", world.ids["m3"])
    paused = await set_status(api, world, "A", "PAUSED", program="p3", commissionModelId=m3)
    assert codes(paused) == [(["input", "status"], "INVALID_TRANSITION")]
    without_model = await set_status(api, world, "A", None, program="p3")
    assert codes(without_model) == [(["input", "commissionModelId"], "COMMISSION_MODEL_REQUIRED")]
    assert await setup_rows(engine) == before
    barred = await set_status(api, world, "A", "BLOCKED", program="p3")
    assert barred["relationship"]["status"] == "BLOCKED"
    assert codes(await apply(api, world, "A", program="p3")) == [
        (["input", "programId"], "BLOCKED")
    ]


# -- setRelationship: follow-up override -------------------------------------------------------


async def test_follow_up_override_is_set_and_cleared(api: Api, world: World) -> None:
    set_ = await set_status(api, world, "A", None, followUpPolicy="LIFETIME", followUpWindowDays=90)
    assert set_["userErrors"] == []
    found = await read_relationship(api, world.tokens["A"], world.ids["p1"], world.ids["A"])
    assert found is not None
    assert (found["followUpPolicy"], found["followUpWindowDays"], found["status"]) == (
        "LIFETIME",
        90,
        "ACTIVE",
    )
    # Changing only the window keeps the policy override
    window = await set_status(api, world, "A", None, followUpWindowDays=3650)
    assert (
        window["relationship"]["followUpPolicy"],
        window["relationship"]["followUpWindowDays"],
    ) == ("LIFETIME", 3650)
    cleared = await set_status(api, world, "A", None, clearFollowUpOverride=True)
    assert cleared["userErrors"] == []
    found = await read_relationship(api, world.tokens["adv1"], world.ids["p1"], world.ids["A"])
    assert found is not None
    assert (found["followUpPolicy"], found["followUpWindowDays"]) == (None, None)


@pytest.mark.parametrize(
    ("input", "field", "code"),
    [
        ({"followUpWindowDays": 0}, "followUpWindowDays", "OUT_OF_RANGE"),
        ({"followUpWindowDays": 3651}, "followUpWindowDays", "OUT_OF_RANGE"),
        (
            {"clearFollowUpOverride": True, "followUpPolicy": "LIFETIME"},
            "clearFollowUpOverride",
            "CONFLICTING_INPUT",
        ),
    ],
)
async def test_invalid_follow_up_overrides_are_refused(
    api: Api, world: World, engine: AsyncEngine, input: dict[str, Any], field: str, code: str
) -> None:
    before = await setup_rows(engine)
    payload = await set_status(api, world, "A", None, **input)
    assert payload["relationship"] is None
    assert codes(payload) == [(["input", field], code)]
    assert await setup_rows(engine) == before


# -- setRelationship: who may -----------------------------------------------------------------


async def test_another_advertisers_program_reads_exactly_like_a_missing_one(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await setup_rows(engine)
    foreign = await set_status(api, world, "A", "BLOCKED", token="adv2")
    missing = await call(
        api,
        "setRelationship",
        world.tokens["adv2"],
        programId=gid("Program", 999_999),
        partnerId=gid("Partner", world.ids["A"]),
        status="BLOCKED",
    )
    assert foreign == missing
    assert codes(foreign) == [(["input", "programId"], "NOT_FOUND")]
    assert await setup_rows(engine) == before


async def test_partners_cannot_set_relationships(
    api: Api, world: World, engine: AsyncEngine
) -> None:
    before = await setup_rows(engine)
    # Partner A sees program 1 (it works there) but may not manage it
    own = await set_status(api, world, "A", None, token="A", followUpPolicy="LIFETIME")
    assert codes(own) == [(["input", "programId"], "PERMISSION_DENIED")]
    # Partner C sees the listed program 1, but may not manage it either
    listed = await set_status(api, world, "C", "ACTIVE", token="C")
    assert codes(listed) == [(["input", "programId"], "PERMISSION_DENIED")]
    # Partner A does not see the unlisted program 3
    outside = await set_status(api, world, "A", "ACTIVE", token="A", program="p3")
    assert codes(outside) == [(["input", "programId"], "NOT_FOUND")]
    assert await setup_rows(engine) == before


async def test_inviting_a_missing_partner_is_not_found(api: Api, world: World) -> None:
    payload = await call(
        api,
        "setRelationship",
        world.tokens["adv1"],
        programId=gid("Program", world.ids["p1"]),
        partnerId=gid("Partner", 999_999),
        commissionModelId=gid("CommissionModel", world.ids["m1"]),
    )
    assert codes(payload) == [(["input", "partnerId"], "NOT_FOUND")]


@pytest.mark.parametrize("field", ["partnerId", "commissionModelId"])
async def test_ids_of_the_wrong_type_are_invalid(api: Api, world: World, field: str) -> None:
    input = {
        "programId": gid("Program", world.ids["p1"]),
        "partnerId": gid("Partner", world.ids["A"]),
        field: gid("Program", world.ids["p1"]),
    }
    payload = await call(api, "setRelationship", world.tokens["adv1"], **input)
    assert codes(payload) == [(["input", field], "INVALID_ID")]
