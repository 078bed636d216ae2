"""What a subscription must never do, over a real WebSocket: drop updates silently when a commit
brings many (150 orders in one `recordOrders` reach `conversionRecorded` whole; a subscriber
that falls too far behind is told LIVE_UPDATES_LOST), keep streaming after its token was
revoked (the next update ends it with UNAUTHENTICATED, nothing of it is sent), or fail
uncoded on credentials JSON can carry but no secret holds (a lone surrogate: 4403)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from portal.adapters.live_events import LiveEvent, LiveFeed, LiveHub, LiveUpdatesLost
from portal.config import Settings
from portal.schema.errors import BadUserInput
from portal.schema.subscriptions import _next_events
from tests.api.request_helpers import request_world
from tests.api.test_subscription_streams import (
    RECORDED,
    STREAM,
    WAIT,
    _accept,
    _create,
    _listening,
    _ready,
    _start,
)
from tests.api.test_subscriptions import _graphql, _message, _open, live_app
from tests.factories import build_world

RECORD = """
mutation($input: RecordOrdersInput!) {
  recordOrders(input: $input) { createdCount errorCount userErrors { code } }
}"""
MY_TOKENS = "{ viewer { apiTokens(first: 10) { nodes { id name } } } }"
REVOKE = """mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { userErrors { code } } }"""


async def test_a_commit_of_150_conversions_reaches_the_subscriber_whole(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    orders = [
        {
            "programId": rw.program(),
            "orderId": f"BATCH-{n}",
            "trackingTime": "2026-06-01T12:00:00+00:00",
            "orderValue": "10.00",
            "touchpoints": [
                {"kind": "COOKIE", "partnerId": rw.partner("A"), "at": "2026-06-01T11:00:00+00:00"}
            ],
        }
        for n in range(150)
    ]
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as client,
    ):
        ws = await _ready(await _open(address, rw.token("adv1")))
        await _start(ws, "all", RECORDED, {"programId": rw.program()})
        await _listening(1)
        recorded = await _graphql(client, RECORD, {"input": {"orders": orders}}, rw.token("adv1"))
        assert recorded["recordOrders"]["createdCount"] == 150, recorded
        received: set[str] = set()
        while len(received) < 150:
            message = await _message(ws, WAIT)
            assert message["type"] == "next", message
            received.add(message["payload"]["data"]["conversionRecorded"]["orderId"])
        assert received == {f"BATCH-{n}" for n in range(150)}
        await ws.close()


async def test_a_feed_that_overflows_is_lost_never_thinned() -> None:
    hub = LiveHub(buffer=2)
    with hub.subscription() as feed:
        for n in range(2):
            hub.publish([LiveEvent("conversion.recorded", "conversion", n)])
        assert [e.object_id for e in await feed.next_batch()] == [0, 1]  # waiting: one read
        for n in range(3):  # one commit more than the feed holds
            hub.publish([LiveEvent("conversion.recorded", "conversion", 10 + n)])
        assert feed.lost
        with pytest.raises(LiveUpdatesLost):
            await feed.next_batch()
        hub.publish([])  # a commit without events reaches nobody
    assert hub.subscriber_count == 0
    assert isinstance(feed, LiveFeed)


async def test_a_revoked_token_ends_the_stream_before_anything_more_is_sent(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        ws = await _ready(await _open(address, rw.token("A")))
        await _start(ws, "all", STREAM, {"filter": None})
        await _listening(1)
        first = await _create(client, rw, "A", "BEFORE-REVOKE")
        message = await _message(ws, WAIT)
        assert message["payload"]["data"]["conversionRequestsChanged"]["id"] == first
        tokens = (await _graphql(client, MY_TOKENS, {}, rw.token("A")))["viewer"]["apiTokens"]
        [token] = tokens["nodes"]
        revoked = await _graphql(
            client, REVOKE, {"input": {"tokenId": token["id"]}}, rw.token("admin")
        )
        assert revoked["revokeApiToken"]["userErrors"] == []
        await asyncio.sleep(1.1)  # past the socket's one-second re-check
        await _accept(client, rw, first, "adv1")  # a change A's stream would otherwise carry
        ended = await _message(ws, WAIT)
        assert ended["id"] == "all" and ended["payload"]["data"] is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["UNAUTHENTICATED"]
        assert await _message(ws, WAIT) == {"id": "all", "type": "complete"}
        await ws.close()


async def test_a_lone_surrogate_token_is_refused_with_4403(
    engine: AsyncEngine, settings: Settings
) -> None:
    """(The cookie test of test_subscription_streams.py sends one as a session's CSRF token.)"""
    await build_world(engine, conversions_per_partner=0)
    async with live_app(engine, settings) as address:
        ws = await connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        # json.dumps escapes the surrogate (\ud800): valid JSON, a lone surrogate once decoded.
        payload = {"token": "ptk_\ud800"}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_queries_and_mutations_are_not_served_over_the_socket(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Over HTTP the trusted-documents policy, the CSRF rule and the status codes apply; the
    socket would let a query or a mutation slip past them."""
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        ws = await _ready(await _open(address, rw.token("A")))
        tokens = (await _graphql(client, MY_TOKENS, {}, rw.token("A")))["viewer"]["apiTokens"]
        [token] = tokens["nodes"]
        for sub_id, query, variables in (
            ("query", MY_TOKENS, {}),
            ("mutation", REVOKE, {"input": {"tokenId": token["id"]}}),
        ):
            await _start(ws, sub_id, query, variables)
            refused = await _message(ws, WAIT)
            assert refused["id"] == sub_id and refused["payload"]["data"] is None, refused
            assert [e["extensions"]["code"] for e in refused["payload"]["errors"]] == [
                "UNSUPPORTED_OPERATION"
            ]
            assert await _message(ws, WAIT) == {"id": sub_id, "type": "complete"}
        # The mutation did not run: the token still works.
        still = await _graphql(client, MY_TOKENS, {}, rw.token("A"))
        assert still["viewer"]["apiTokens"]["nodes"] == [token]
        await ws.close()


async def test_a_lost_feed_ends_the_subscription_with_live_updates_lost() -> None:
    """What a subscription sees once its feed overflowed: a coded error, not fewer updates."""
    hub = LiveHub(buffer=1)
    with hub.subscription() as feed:
        for n in range(2):
            hub.publish([LiveEvent("conversion.recorded", "conversion", n)])
        info = SimpleNamespace(context=SimpleNamespace(require_still_signed_in=_signed_in))
        with pytest.raises(BadUserInput) as refused:
            await _next_events(info, feed)  # type: ignore[arg-type]
    assert refused.value.extensions is not None
    assert refused.value.extensions["reason"] == "LIVE_UPDATES_LOST"


async def _signed_in() -> None:
    return None
