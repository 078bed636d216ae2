"""A request file through the GraphQL multipart upload, the import job and the requests list."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api
from tests.factories import build_world

IMPORT = """
mutation($input: ImportConversionRequestsInput!) {
  importConversionRequests(input: $input) {
    importJob { id status progress { processed total } }
    userErrors { field code message }
  }
}"""
JOB = """query($id: ID!) { node(id: $id) { ... on ImportJob {
  status createdCount errorCount errorReportUrl progress { processed total }
  errors(first: 50) { nodes { row column value code } } } } }"""


async def upload(api: Api, token: str, name: str, content: bytes, **options: Any) -> dict[str, Any]:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **options}}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert body.get("errors") is None, body
    return body["data"]["importConversionRequests"]  # type: ignore[no-any-return]


async def test_partner_imports_a_csv(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    content = (
        b"request_type;program;order_id;conversion_target;tracking_time;order_value\n"
        b"CREATE_NEW;Nordwind DE;F-1;SALE_NEW_CUSTOMER;01.06.2026 10:00;1.234,56\n"
        b"CREATE_NEW;Nordwind DE;F-2;SALE_NEW_CUSTOMER;2026-06-02T10:00:00Z;-5\n"
    )
    started = await upload(api, world.tokens["A"], "requests.csv", content)
    assert started["userErrors"] == [], started
    await api.drain_jobs()
    job = (await api.data(JOB, {"id": started["importJob"]["id"]}, token=world.tokens["A"]))["node"]
    assert job["status"] == "SUCCEEDED"
    assert job["createdCount"] == 1 and job["errorCount"] == 1
    assert job["errors"]["nodes"] == [
        {"row": 3, "column": "order_value", "value": "-5", "code": "NEGATIVE_VALUE"}
    ]
    listed = await api.data(
        "{ conversionRequests { nodes { requested { orderId orderValue } "
        "commission { amount } } } }",
        token=world.tokens["A"],
    )
    assert listed["conversionRequests"]["nodes"] == [
        {
            "requested": {"orderId": "F-1", "orderValue": "1234.56"},
            "commission": {"amount": "61.73"},
        }
    ]
    report = await api.client.get(
        job["errorReportUrl"], headers={"Authorization": f"Bearer {world.tokens['A']}"}
    )
    assert report.status_code == 200 and "NEGATIVE_VALUE" in report.text
    again = await upload(api, world.tokens["A"], "requests.csv", content)
    await api.drain_jobs()
    second = (await api.data(JOB, {"id": again["importJob"]["id"]}, token=world.tokens["A"]))[
        "node"
    ]
    assert second["createdCount"] == 0
