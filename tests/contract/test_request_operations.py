"""The conversion request operations of frontend_contract/operations/, run for the roles that
use them: the explorer's default view and the detail panel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.contract.test_operations import operation
from tests.factories import build_world

CREATE = """
mutation($input: CreateConversionRequestInput!) {
  createConversionRequest(input: $input) { conversionRequest { id } userErrors { code } }
}"""
COMMENT = """
mutation($input: CommentOnConversionRequestInput!) {
  commentOnConversionRequest(input: $input) { comment { id } userErrors { code } }
}"""


async def _raise(api: Api, token: str, order_id: str) -> str:
    program = (await api.data("{ programs { nodes { id } } }", token=token))["programs"]["nodes"][
        0
    ]["id"]
    body = await api.data(
        CREATE,
        {
            "input": {
                "kind": "CREATE_NEW",
                "programId": program,
                "requested": {
                    "orderId": order_id,
                    "conversionTarget": "SALE_NEW_CUSTOMER",
                    "trackingTime": "2026-06-01T10:00:00Z",
                    "orderValue": "80.00",
                },
            }
        },
        token=token,
    )
    assert body["createConversionRequest"]["userErrors"] == []
    return body["createConversionRequest"]["conversionRequest"]["id"]  # type: ignore[no-any-return]


async def test_explorer_default_view_shows_each_side_its_open_work(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    mine = await _raise(api, world.tokens["A"], "EXP-A")
    await _raise(api, world.tokens["B"], "EXP-B")
    since = (datetime.now(UTC) - timedelta(days=14)).isoformat()

    partner_view = await api.data(
        operation("conversionRequestExplorer"), {"createdFrom": since}, token=world.tokens["A"]
    )
    advertiser_view = await api.data(
        operation("conversionRequestExplorer"), {"createdFrom": since}, token=world.tokens["adv1"]
    )
    other_advertiser = await api.data(
        operation("conversionRequestExplorer"), {"createdFrom": since}, token=world.tokens["adv2"]
    )

    nodes = partner_view["conversionRequests"]["nodes"]
    assert [n["id"] for n in nodes] == [mine]
    assert (
        nodes[0]["partner"]["name"] == "Cashback Club"
        and nodes[0]["commission"]["amount"] == "4.00"
    )
    assert advertiser_view["conversionRequests"]["totalCount"] == 2
    assert other_advertiser["conversionRequests"]["totalCount"] == 0


async def test_detail_panel_hides_internal_comments_from_the_partner(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    request_id = await _raise(api, world.tokens["A"], "DET-1")
    for token, visibility, body in [
        ("A", "SHARED", "order was paid by card"),
        ("adv1", "INTERNAL", "check with finance"),
    ]:
        result = await api.data(
            COMMENT,
            {"input": {"requestId": request_id, "body": body, "visibility": visibility}},
            token=world.tokens[token],
        )
        assert result["commentOnConversionRequest"]["userErrors"] == []

    as_partner = (
        await api.data(
            operation("conversionRequestDetail"), {"id": request_id}, token=world.tokens["A"]
        )
    )["conversionRequest"]
    as_advertiser = (
        await api.data(
            operation("conversionRequestDetail"), {"id": request_id}, token=world.tokens["adv1"]
        )
    )["conversionRequest"]

    assert [c["body"] for c in as_partner["comments"]["nodes"]] == ["order was paid by card"]
    assert [c["visibility"] for c in as_advertiser["comments"]["nodes"]] == ["SHARED", "INTERNAL"]
    preview = as_advertiser["preview"]
    assert preview["commission"] == {"amount": "4.00", "currency": "EUR"}
    assert {"field": "orderId", "from": None, "to": "DET-1"} in preview["changes"]
    assert [h["status"] for h in as_partner["history"]] == ["INQUIRED"]
