"""Issue 14: the mutations the dashboards use are in frontend_contract/operations/ (so codegen
users get their types) and each one works over HTTP as written, for the role that uses it —
and shows nothing across the visibility line."""

from __future__ import annotations

import json
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, OperationType, parse
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.schema.ids import encode_id
from tests.conftest import Api
from tests.contract.test_operations import OPERATION_FILES, operation
from tests.factories import World, build_world
from tests.import_files import auth

DASHBOARD_MUTATIONS = {
    "raiseConversionRequest": "createConversionRequest",
    "amendConversionRequest": "updateConversionRequest",
    "commentOnConversionRequest": "commentOnConversionRequest",
    "decideConversionRequest": "decideConversionRequest",
    "decideConversionRequests": "decideConversionRequests",
    "importConversionRequests": "importConversionRequests",
    "exportConversionRequests": "exportConversionRequests",
    "exportTrackingDifference": "exportTrackingDifference",
}


def test_the_dashboard_mutations_are_in_the_contract() -> None:
    files = {p.stem: p.read_text() for p in OPERATION_FILES}
    for name, field in DASHBOARD_MUTATIONS.items():
        assert name in files, f"frontend_contract/operations/{name}.graphql is missing"
        [definition] = parse(files[name]).definitions
        assert isinstance(definition, OperationDefinitionNode)
        assert definition.operation is OperationType.MUTATION
        assert definition.name is not None and definition.name.value[0].isupper()
        [selection] = definition.selection_set.selections
        assert isinstance(selection, FieldNode) and selection.name.value == field


def _requested(order_id: str, value: str = "80.00") -> dict[str, Any]:
    return {
        "orderId": order_id,
        "conversionTarget": "SALE_NEW_CUSTOMER",
        "trackingTime": "2026-06-01T10:00:00Z",
        "orderValue": value,
    }


async def _raise(api: Api, world: World, who: str, program: str, order_id: str) -> dict[str, Any]:
    payload = (
        await api.data(
            operation("raiseConversionRequest"),
            {
                "input": {
                    "kind": "CREATE_NEW",
                    "programId": encode_id("Program", world.ids[program]),
                    "requested": _requested(order_id),
                    "comment": "missed by tracking",
                }
            },
            token=world.tokens[who],
        )
    )["createConversionRequest"]
    assert payload["userErrors"] == [], payload
    return payload["conversionRequest"]  # type: ignore[no-any-return]


async def test_raise_amend_comment_and_decide_one(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    raised = await _raise(api, world, "A", "p1", "OP-1")
    assert (raised["status"], raised["commission"]) == (
        "INQUIRED",
        {"amount": "4.00", "currency": "EUR"},
    )

    amended = (
        await api.data(
            operation("amendConversionRequest"),
            {"input": {"requestId": raised["id"], "requested": _requested("OP-1", "100.00")}},
            token=world.tokens["A"],
        )
    )["updateConversionRequest"]
    assert (
        amended["userErrors"] == []
        and amended["conversionRequest"]["commission"]["amount"] == "5.00"
    )
    refused = (
        await api.data(
            operation("amendConversionRequest"),
            {"input": {"requestId": raised["id"], "requested": _requested("OP-1", "-1")}},
            token=world.tokens["A"],
        )
    )["updateConversionRequest"]
    assert refused["conversionRequest"] is None and refused["userErrors"][0]["field"]

    comment = operation("commentOnConversionRequest")
    shared = (
        await api.data(
            comment,
            {"input": {"requestId": raised["id"], "body": "order #1 of 3"}},
            token=world.tokens["A"],
        )
    )["commentOnConversionRequest"]
    assert shared["comment"]["visibility"] == "SHARED" and shared["userErrors"] == []
    internal = (
        await api.data(
            comment,
            {"input": {"requestId": raised["id"], "body": "check stock", "visibility": "INTERNAL"}},
            token=world.tokens["adv1"],
        )
    )["commentOnConversionRequest"]
    assert internal["comment"]["author"]["role"] == "ADVERTISER"
    # The other advertiser cannot comment on it: the request reads as missing.
    stranger = (
        await api.data(
            comment, {"input": {"requestId": raised["id"], "body": "x"}}, token=world.tokens["adv2"]
        )
    )["commentOnConversionRequest"]
    assert stranger["comment"] is None and stranger["userErrors"][0]["code"] == "NOT_FOUND"

    decided = (
        await api.data(
            operation("decideConversionRequest"),
            {"input": {"requestId": raised["id"], "decision": "ACCEPT"}},
            token=world.tokens["adv1"],
        )
    )["decideConversionRequest"]
    assert decided["userErrors"] == []
    assert decided["conversionRequest"]["status"] in ("ACCEPTED", "PROCESSED")
    assert decided["conversionRequest"]["decision"]["decidedBy"]["role"] == "ADVERTISER"


async def test_bulk_decide_answers_per_request_and_keeps_to_its_programs(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    first = await _raise(api, world, "A", "p1", "OP-2")
    second = await _raise(api, world, "B", "p1", "OP-3")
    foreign = await _raise(api, world, "C", "p2", "OP-4")
    decisions = [
        {"requestId": first["id"], "decision": "REJECT", "reason": "order cancelled"},
        {"requestId": second["id"], "decision": "REJECT"},  # a rejection needs a reason
        {"requestId": foreign["id"], "decision": "ACCEPT"},  # another advertiser's program
    ]
    payload = (
        await api.data(
            operation("decideConversionRequests"),
            {"input": {"decisions": decisions}},
            token=world.tokens["adv1"],
        )
    )["decideConversionRequests"]
    results = payload["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[0]["conversionRequest"]["status"] == "REJECTED"
    assert results[1]["conversionRequest"] is None and results[1]["userErrors"]
    assert results[2]["conversionRequest"] is None
    assert results[2]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_upload_a_file_and_follow_it(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    content = (
        b"request_type,program,order_id,conversion_target,tracking_time,order_value\n"
        b"CREATE_NEW,Nordwind DE,OP-F1,SALE_NEW_CUSTOMER,2026-06-01T10:00:00Z,20\n"
    )
    operations = {
        "query": operation("importConversionRequests"),
        "variables": {"input": {"file": None, "dryRun": True}},
    }
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": ("requests.csv", content, "text/csv")},
        headers=auth(world.tokens["A"]),
    )
    started = response.json()["data"]["importConversionRequests"]
    assert started["userErrors"] == [] and started["importJob"]["dryRun"] is True
    await api.drain_jobs()
    job = (
        await api.data(
            operation("importJob"), {"id": started["importJob"]["id"]}, token=world.tokens["A"]
        )
    )["node"]
    assert (job["status"], job["createdCount"], job["errorCount"]) == ("SUCCEEDED", 1, 0)
    # The job is its author's: another partner polling its id sees nothing.
    other = await api.data(operation("importJob"), {"id": job["id"]}, token=world.tokens["B"])
    assert other["node"] is None


async def test_export_the_list_and_download_it(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    await _raise(api, world, "A", "p1", "OP-X1")
    started = (
        await api.data(
            operation("exportConversionRequests"),
            {"input": {"format": "CSV"}},
            token=world.tokens["adv1"],
        )
    )["exportConversionRequests"]
    assert started["userErrors"] == [] and started["export"]["status"] == "QUEUED"
    await api.drain_jobs()
    job = (
        await api.data(
            operation("exportJob"), {"id": started["export"]["id"]}, token=world.tokens["adv1"]
        )
    )["node"]
    assert (job["status"], job["rowCount"]) == ("SUCCEEDED", 1)
    download = await api.client.get(job["downloadUrl"], headers=auth(world.tokens["adv1"]))
    assert download.status_code == 200 and b"OP-X1" in download.content
    assert (await api.data(operation("exportJob"), {"id": job["id"]}, token=world.tokens["A"]))[
        "node"
    ] is None
