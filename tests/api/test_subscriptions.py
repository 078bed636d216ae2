"""Subscriptions over a real WebSocket (graphql-transport-ws) to the app served by uvicorn on
a free port (issue 15): a partner sees its own request move INQUIRED → ACCEPTED → PROCESSED
live; another partner's subscription to it is refused as NOT_FOUND and receives nothing; a
socket without a valid token is closed with 4403; as each role, another's request, import,
export or billing run is NOT_FOUND, and admins may follow them all."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from portal.config import Settings
from portal.schema.subscriptions import MAX_PER_CONNECTION
from portal.web.app import create_app
from tests.api.billing_helpers import START
from tests.api.request_helpers import CREATE, DECIDE, create_input, new_order, request_world
from tests.conftest import Api
from tests.import_files import upload

SUBSCRIBE = "subscription($id: ID!) { conversionRequestChanged(id: $id) { id status } }"


@contextlib.asynccontextmanager
async def live_app(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _open(address: str, token: str) -> ClientConnection:
    ws = await connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    return ws


async def _message(ws: ClientConnection, wait: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message


async def _subscribe(ws: ClientConnection, request_id: str) -> None:
    assert (await _message(ws))["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": request_id}},
            }
        )
    )


async def _graphql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str
) -> dict[str, Any]:
    answer = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = answer.json()
    assert body.get("errors") is None, body
    return body["data"]


async def test_a_partner_sees_its_request_move_live_and_no_one_elses(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        created = await _graphql(
            client, CREATE, {"input": create_input(rw.program(), new_order())}, rw.token("A")
        )
        request_id = created["createConversionRequest"]["conversionRequest"]["id"]

        own = await _open(address, rw.token("A"))
        other = await _open(address, rw.token("B"))
        await _subscribe(own, request_id)
        await _subscribe(other, request_id)
        first = await _message(own)
        assert first["type"] == "next"
        assert first["payload"]["data"]["conversionRequestChanged"]["status"] == "INQUIRED"
        refused = await _message(other)
        assert refused["payload"]["data"] is None
        assert [e["extensions"]["reason"] for e in refused["payload"]["errors"]] == ["NOT_FOUND"]
        # The same cost accounting as queries.
        assert refused["payload"]["extensions"]["cost"]["requestedQueryCost"] >= 1

        decided = await _graphql(
            client,
            DECIDE,
            {"input": {"requestId": request_id, "decision": "ACCEPT"}},
            rw.token("adv1"),
        )
        assert decided["decideConversionRequest"]["userErrors"] == []
        seen = ["INQUIRED"]
        while seen[-1] != "PROCESSED":
            message = await _message(own)
            assert message["type"] == "next", message
            seen.append(message["payload"]["data"]["conversionRequestChanged"]["status"])
        assert seen == ["INQUIRED", "ACCEPTED", "PROCESSED"]
        # The other partner's socket got nothing more.
        with pytest.raises((TimeoutError, ConnectionClosed)):
            extra = await _message(other, wait=0.5)
            if extra.get("type") == "complete":
                raise TimeoutError
        await own.close()
        await other.close()


async def test_a_socket_without_a_valid_token_is_closed(
    engine: AsyncEngine, settings: Settings
) -> None:
    await request_world(engine)
    async with live_app(engine, settings) as address:
        for token in ("", "not-a-token"):
            ws = await _open(address, token)
            with pytest.raises(ConnectionClosed) as closed:
                await _message(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


PROGRESS = "subscription($id: ID!) { jobProgress(id: $id) { id status processed finishedAt } }"
EXPORT = """
mutation($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id } userErrors { code } }
}"""


async def test_job_progress_follows_an_export_to_its_end_for_its_author_only(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        started = await _graphql(client, EXPORT, {"input": {"format": "CSV"}}, rw.token("A"))
        export_id = started["exportConversionRequests"]["export"]["id"]
        sockets = {who: await _open(address, rw.token(who)) for who in ("A", "B", "adv1")}
        for ws in sockets.values():
            assert (await _message(ws))["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": PROGRESS, "variables": {"id": export_id}},
                    }
                )
            )
        updates = []
        while True:
            message = await _message(sockets["A"])
            if message["type"] == "complete":
                break
            updates.append(message["payload"]["data"]["jobProgress"])
        assert updates[-1]["status"] == "SUCCEEDED" and updates[-1]["finishedAt"]
        assert all(u["id"] == export_id for u in updates)
        for who in ("B", "adv1"):  # the export is A's alone
            refused = await _message(sockets[who])
            assert refused["payload"]["data"] is None, who
            assert refused["payload"]["errors"][0]["extensions"]["reason"] == "NOT_FOUND"
        for ws in sockets.values():
            await ws.close()


async def test_subscriptions_per_connection_are_limited(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        created = await _graphql(
            client, CREATE, {"input": create_input(rw.program(), new_order())}, rw.token("A")
        )
        request_id = created["createConversionRequest"]["conversionRequest"]["id"]
        ws = await _open(address, rw.token("A"))
        assert (await _message(ws))["type"] == "connection_ack"
        for n in range(MAX_PER_CONNECTION + 1):
            await ws.send(
                json.dumps(
                    {
                        "id": str(n),
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIBE, "variables": {"id": request_id}},
                    }
                )
            )
            answer = await _message(ws)
            assert answer["id"] == str(n)
            if n < MAX_PER_CONNECTION:
                assert answer["payload"]["data"]["conversionRequestChanged"]["status"] == "INQUIRED"
            else:
                (error,) = answer["payload"]["errors"]
                assert error["extensions"]["reason"] == "TOO_MANY_SUBSCRIPTIONS"
        await ws.close()


async def _first_answer(ws: ClientConnection, sub_id: str) -> dict[str, Any]:
    """The first result of subscription `sub_id` (skipping the others' updates and ends)."""
    while True:
        message = await _message(ws)
        if message.get("id") == sub_id and message["type"] in ("next", "error"):
            return message


async def test_another_s_request_and_jobs_are_not_found_as_each_role(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        created = await _graphql(
            client, CREATE, {"input": create_input(rw.program(), new_order())}, rw.token("A")
        )
        request_id = created["createConversionRequest"]["conversionRequest"]["id"]
        imported = await upload(
            Api(client),
            rw.token("A"),
            "requests.csv",
            b"request_type;program;order_id;conversion_target;tracking_time;order_value\n"
            b"CREATE_NEW;Nordwind DE;F-1;SALE_NEW_CUSTOMER;01.06.2026 10:00;1.234,56\n",
        )
        assert imported["userErrors"] == [], imported
        exported = await _graphql(client, EXPORT, {"input": {"format": "CSV"}}, rw.token("A"))
        assert exported["exportConversionRequests"]["userErrors"] == []
        run = await _graphql(
            client,
            START,
            {"input": {"periodEnd": "2026-03-31", "dryRun": True}},
            rw.token("adv1"),  # an advertiser's run of its own programs
        )
        assert run["startBillingRun"]["userErrors"] == [], run
        # Who may follow what: the request's partner and advertiser and the admins; a job's
        # author and the admins. Everyone else is told NOT_FOUND, as for an id that does not
        # exist.
        cases = [
            (SUBSCRIBE, request_id, {"adv1", "admin"}, ("B", "adv2")),
            (PROGRESS, imported["importJob"]["id"], {"admin"}, ("B", "adv1", "adv2")),
            (PROGRESS, exported["exportConversionRequests"]["export"]["id"], {"admin"}, ("adv2",)),
            (PROGRESS, run["startBillingRun"]["billingRun"]["id"], {"admin"}, ("A", "B", "adv2")),
        ]  # fmt: skip
        sockets = {}
        for who in ("A", "B", "adv1", "adv2", "admin"):
            sockets[who] = await _open(address, rw.token(who))
            assert (await _message(sockets[who]))["type"] == "connection_ack"
        for n, (query, object_id, allowed, refused) in enumerate(cases):
            for who in (*allowed, *refused):
                await sockets[who].send(
                    json.dumps(
                        {
                            "id": str(n),
                            "type": "subscribe",
                            "payload": {"query": query, "variables": {"id": object_id}},
                        }
                    )
                )
                answer = await _first_answer(sockets[who], str(n))
                assert answer["type"] == "next", (who, object_id, answer)
                if who in allowed:
                    (value,) = answer["payload"]["data"].values()
                    assert value["id"] == object_id, (who, answer)
                else:
                    assert answer["payload"]["data"] is None, (who, object_id)
                    reasons = [e["extensions"]["reason"] for e in answer["payload"]["errors"]]
                    assert reasons == ["NOT_FOUND"], (who, object_id, reasons)
        for ws in sockets.values():
            await ws.close()
