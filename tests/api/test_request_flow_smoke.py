"""The main path of a conversion request through the API, with in-process jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.factories import build_world

CREATE = """
mutation($input: CreateConversionRequestInput!) {
  createConversionRequest(input: $input) {
    conversionRequest { id status commission { amount currency } commissionModelName }
    userErrors { field code message }
  }
}"""
DECIDE = """
mutation($input: DecideConversionRequestInput!) {
  decideConversionRequest(input: $input) {
    conversionRequest { id status } userErrors { field code message } }
}"""
DETAIL = """
query($id: ID!) {
  conversionRequest(id: $id) {
    status kind processedAt
    conversion { orderId commission { amount } commissionModelName history { source requestId } }
    history { status }
  }
}"""


async def test_create_accept_process(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    program = (await api.data("{ programs { nodes { id name } } }", token=world.tokens["A"]))[
        "programs"
    ]["nodes"][0]
    created = (
        await api.data(
            CREATE,
            {
                "input": {
                    "kind": "CREATE_NEW",
                    "programId": program["id"],
                    "requested": {
                        "orderId": "MISSED-1",
                        "conversionTarget": "SALE_NEW_CUSTOMER",
                        "trackingTime": "2026-06-01T10:00:00+02:00",
                        "orderValue": "200.00",
                    },
                    "comment": "tracking missed this order",
                }
            },
            token=world.tokens["A"],
        )
    )["createConversionRequest"]
    assert created["userErrors"] == []
    request = created["conversionRequest"]
    assert request["status"] == "INQUIRED"
    assert request["commission"] == {"amount": "10.00", "currency": "EUR"}
    assert request["commissionModelName"] == "default"

    decided = (
        await api.data(
            DECIDE,
            {"input": {"requestId": request["id"], "decision": "ACCEPT"}},
            token=world.tokens["adv1"],
        )
    )["decideConversionRequest"]
    assert decided["userErrors"] == [] and decided["conversionRequest"]["status"] == "ACCEPTED"
    await api.drain_jobs()

    detail = (await api.data(DETAIL, {"id": request["id"]}, token=world.tokens["A"]))[
        "conversionRequest"
    ]
    assert detail["status"] == "PROCESSED"
    assert detail["conversion"]["orderId"] == "MISSED-1"
    assert detail["conversion"]["commission"]["amount"] == "10.00"
    assert detail["conversion"]["history"] == [{"source": "REQUEST", "requestId": request["id"]}]
    assert [e["status"] for e in detail["history"]] == ["INQUIRED", "ACCEPTED", "PROCESSED"]
