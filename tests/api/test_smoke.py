from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.factories import build_world

VIEWER = "{ viewer { user { email role } } }"


async def test_each_role_sees_itself(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    for key, role in [("admin", "ADMIN"), ("adv1", "ADVERTISER"), ("A", "PARTNER")]:
        data = await api.data(VIEWER, token=world.tokens[key])
        assert data["viewer"]["user"]["role"] == role


async def test_partner_lists_only_its_conversions(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    data = await api.data(
        "{ conversions(first: 10) { totalCount nodes { orderId partner { name } "
        "program { name } commission { amount currency } } } }",
        token=world.tokens["A"],
    )
    orders = {n["orderId"] for n in data["conversions"]["nodes"]}
    assert orders == {"A-0", "A-1", "A-2"}
    assert data["conversions"]["totalCount"] == 3
    assert data["conversions"]["nodes"][0]["commission"] == {"amount": "5.10", "currency": "EUR"}
