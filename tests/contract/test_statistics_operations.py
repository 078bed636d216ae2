"""The dashboard statistics operations (`partnerDashboard`, `advertiserDashboard`) answer with
real data for the roles that use them, each scoped to its own view."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.rate_store import upsert_rates
from portal.domain.exchange_rates import ReferenceRate
from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.contract.test_operations import operation
from tests.factories import build_world

PERIOD = {"from": "2026-02-01", "to": "2026-03-02"}  # 30 days


async def test_partner_dashboard_shows_its_own_days_and_totals(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)
    data = await api.data(operation("partnerDashboard"), PERIOD, token=world.tokens["B"])
    answer = data["statistics"]
    assert answer["userErrors"] == []
    [day] = answer["rows"]
    assert (day["periodStart"], day["conversionCount"]) == ("2026-03-01", 3)
    assert day["commission"] == {"amount": "15.15", "currency": "EUR"}
    [total] = answer["totals"]
    assert total["averageOrderValue"] == {"amount": "101.00", "currency": "EUR"}
    assert total["open"]["conversionCount"] == 3


async def test_partner_dashboard_refuses_an_unknown_time_zone(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)
    data = await api.data(
        operation("partnerDashboard"),
        {**PERIOD, "timeZone": "Europe/Atlantis"},
        token=world.tokens["A"],
    )
    [error] = data["statistics"]["userErrors"]
    assert error["code"] == "UNKNOWN_TIME_ZONE"


@pytest.mark.parametrize(("role", "partners"), [("adv1", {"A", "B"}), ("admin", {"A", "B", "C"})])
async def test_advertiser_dashboard_by_day_and_top_partners(
    engine: AsyncEngine, api: Api, role: str, partners: set[str]
) -> None:
    world = await build_world(engine)
    async with engine.begin() as conn:
        await upsert_rates(conn, [ReferenceRate("EUR", "JPY", date(2026, 3, 1), Decimal("100"))])
    data = await api.data(
        operation("advertiserDashboard"), {**PERIOD, "currency": "EUR"}, token=world.tokens[role]
    )
    assert data["byDay"]["userErrors"] == [] and data["byPartner"]["userErrors"] == []
    [day] = data["byDay"]["rows"]
    assert day["conversionCount"] == 3 * len(partners)
    assert {r["partner"]["id"] for r in data["byPartner"]["rows"]} == {
        encode_id("Partner", world.ids[p]) for p in partners
    }
    [total] = data["byDay"]["totals"]
    assert total["orderValue"]["currency"] == "EUR"


async def test_advertiser_dashboard_of_a_foreign_program_is_refused(
    engine: AsyncEngine, api: Api
) -> None:
    world = await build_world(engine)
    data = await api.data(
        operation("advertiserDashboard"),
        {**PERIOD, "currency": "EUR", "programIds": [encode_id("Program", world.ids["p2"])]},
        token=world.tokens["adv1"],
    )
    assert data["byDay"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert data["byPartner"]["rows"] == []
