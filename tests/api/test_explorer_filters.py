"""The request explorer's filters and the request's commission rate (issue 9, defect 16), and
job lists that count the whole list (defect 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.global_ids import encode_id
from tests.api.request_helpers import (
    change_input,
    create_input,
    decide,
    new_order,
    raise_request,
    request_world,
)
from tests.conftest import Api
from tests.import_files import csv_bytes, upload

EXPLORER = """
query($filter: ConversionRequestFilterInput) {
  conversionRequests(first: 50, filter: $filter) {
    totalCount nodes { requested { orderId } }
  }
}"""


async def order_ids(api: Api, token: str, **filter: Any) -> list[str]:
    found = (await api.data(EXPLORER, {"filter": filter}, token=token))["conversionRequests"]
    ids = sorted(n["requested"]["orderId"] or "change" for n in found["nodes"])
    assert found["totalCount"] == len(ids)
    return ids


async def test_filters_by_advertiser_tracking_time_model_and_decision_date(
    api: Api, engine: AsyncEngine
) -> None:
    w = await request_world(engine)
    ids = w.world.ids
    await raise_request(
        api,
        w.token("A"),
        create_input(w.program(), new_order("EARLY", trackingTime="2026-05-01T10:00:00Z")),
    )
    late = await raise_request(
        api,
        w.token("A"),
        create_input(w.program(), new_order("LATE", trackingTime="2026-06-01T10:00:00Z")),
    )
    jp = await raise_request(
        api,
        w.token("C"),
        create_input(
            encode_id("Program", ids["p2"]),
            new_order("JP-1", trackingTime="2026-06-01T10:00:00Z", orderValue="1000"),
        ),
    )
    # A change request that keeps the tracking time: its conversion's (2026-03-01) counts.
    await raise_request(api, w.token("A"), change_input(w.conversion("A", 0), {"device": "X"}))
    before = datetime.now(UTC) - timedelta(seconds=1)
    await decide(api, w.token("adv1"), late["id"], "REJECT", reason="no")
    admin = w.token("admin")

    assert await order_ids(api, admin, advertiserIds=[encode_id("Advertiser", ids["adv2"])]) == [
        "JP-1"
    ]
    assert await order_ids(
        api, admin, trackedFrom="2026-05-15T00:00:00Z", trackedTo="2026-07-01T00:00:00Z"
    ) == ["JP-1", "LATE"]
    assert await order_ids(api, admin, trackedTo="2026-04-01T00:00:00Z") == ["change"]
    assert await order_ids(
        api, admin, commissionModelIds=[encode_id("CommissionModel", ids["m2"])]
    ) == ["JP-1"]
    assert await order_ids(api, admin, decidedFrom=before.isoformat()) == ["LATE"]
    assert await order_ids(api, admin, decidedTo=before.isoformat()) == []
    # The filters never widen what a viewer sees.
    assert (
        await order_ids(api, w.token("adv1"), advertiserIds=[encode_id("Advertiser", ids["adv2"])])
        == []
    )
    assert jp["commission"]["currency"] == "JPY"


RATE = """
query($id: ID!) {
  conversionRequest(id: $id) { commissionRate { percentage fixedAmount { amount currency } } }
}"""


async def test_a_request_shows_its_commission_rate(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    percent = await raise_request(api, w.token("A"), create_input(w.program(), new_order("P-1")))
    both = await raise_request(
        api,
        w.token("C"),
        create_input(encode_id("Program", w.world.ids["p2"]), new_order("P-2", orderValue="1000")),
    )

    first = (await api.data(RATE, {"id": percent["id"]}, token=w.token("A")))["conversionRequest"]
    second = (await api.data(RATE, {"id": both["id"]}, token=w.token("C")))["conversionRequest"]

    assert first["commissionRate"] == {"percentage": "5", "fixedAmount": None}
    assert second["commissionRate"] == {
        "percentage": "3",
        "fixedAmount": {"amount": "100", "currency": "JPY"},
    }


EXPORT = """
mutation($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id } userErrors { code } }
}"""
LISTS = """{
  exports(first: 2) { totalCount nodes { id } }
  imports(first: 1) { totalCount nodes { id } }
}"""


async def test_job_lists_count_the_whole_list_not_the_page(api: Api, engine: AsyncEngine) -> None:
    w = await request_world(engine)
    token = w.token("A")
    for _ in range(3):
        await api.data(EXPORT, {"input": {"format": "CSV"}}, token=token)
    content = csv_bytes(["request_type", "program", "order_id"], [["CREATE_NEW", "x", "1"]])
    for name in ("a.csv", "b.csv", "c.csv"):
        started = await upload(api, token, name, content)
        assert started["userErrors"] == []
    await api.drain_jobs()

    lists = await api.data(LISTS, token=token)
    other = await api.data(LISTS, token=w.token("B"))

    assert (lists["exports"]["totalCount"], len(lists["exports"]["nodes"])) == (3, 2)
    assert (lists["imports"]["totalCount"], len(lists["imports"]["nodes"])) == (3, 1)
    assert other["exports"]["totalCount"] == other["imports"]["totalCount"] == 0
