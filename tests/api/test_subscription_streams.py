"""The subscriptions over many objects and the cookie sign-in of a socket (issue 15), over a
real WebSocket to the app served by uvicorn: `conversionRequestsChanged(filter)` brings a
partner its own request INQUIRED → ACCEPTED → PROCESSED, matched by the explorer's filter, and
never another partner's; `conversionRecorded(programId)` brings an advertiser the new
conversions of its program (another's program is NOT_FOUND) and a partner only its own; a
socket signs in with the session cookie and its CSRF token, and without that token (or with a
wrong one) it is closed with 4403. As the other partner of the program and the other
advertiser the streams bring nothing of A's request and conversion; an admin's bring both."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from portal.adapters.live_events import HUB
from portal.config import Settings
from portal.schema.subscriptions import MAX_PER_CONNECTION
from portal.web.auth import SESSION_COOKIE
from tests.api.request_helpers import (
    COMMENT,
    CREATE,
    DECIDE,
    RequestWorld,
    create_input,
    new_order,
    request_world,
)
from tests.api.test_subscriptions import SUBSCRIBE, _graphql, _message, _open, live_app
from tests.factories import add_partner_login

WAIT = 5.0
STREAM = """
subscription($filter: ConversionRequestFilterInput) {
  conversionRequestsChanged(filter: $filter) { id status partner { id } }
}"""
RECORDED = """
subscription($programId: ID!) { conversionRecorded(programId: $programId) { id orderId } }"""


async def _ready(ws: ClientConnection) -> ClientConnection:
    assert (await _message(ws, WAIT))["type"] == "connection_ack"
    return ws


async def _start(ws: ClientConnection, sub_id: str, query: str, variables: dict[str, Any]) -> None:
    await ws.send(
        json.dumps(
            {
                "id": sub_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables},
            }
        )
    )


async def _listening(count: int) -> None:
    """Until `count` subscriptions of this process listen (a subscription that sends nothing
    at first gives the client no other sign that it runs)."""
    async with asyncio.timeout(WAIT):
        while HUB.subscriber_count < count:  # noqa: ASYNC110 - the hub offers no event
            await asyncio.sleep(0.01)


async def _nothing_more(ws: ClientConnection, wait: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        extra = await _message(ws, wait)
        pytest.fail(f"unexpected message {extra}")


async def _create(
    client: httpx.AsyncClient, rw: RequestWorld, who: str, order_id: str, program: str = "p1"
) -> str:
    created = await _graphql(
        client,
        CREATE,
        {"input": create_input(rw.program(program), new_order(order_id))},
        rw.token(who),
    )
    payload = created["createConversionRequest"]
    assert payload["userErrors"] == [], payload
    request_id: str = payload["conversionRequest"]["id"]
    return request_id


async def _accept(client: httpx.AsyncClient, rw: RequestWorld, request_id: str, who: str) -> None:
    decided = await _graphql(
        client, DECIDE, {"input": {"requestId": request_id, "decision": "ACCEPT"}}, rw.token(who)
    )
    assert decided["decideConversionRequest"]["userErrors"] == []


def _moves(statuses: Sequence[str]) -> list[str]:
    """The statuses without repeats (a request read again unchanged, e.g. after a comment)."""
    return [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]


async def test_a_partner_follows_its_requests_through_the_explorers_filter_and_no_one_elses(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        own = await _ready(await _open(address, rw.token("A")))
        listening = HUB.subscriber_count
        moving = {"statuses": ["INQUIRED", "ACCEPTED", "PROCESSED"]}
        await _start(own, "moving", STREAM, {"filter": moving})
        await _start(own, "done", STREAM, {"filter": {"statuses": ["PROCESSED"]}})
        # The advertiser's view of B's requests only: the filter, not only visibility, applies.
        adv = await _ready(await _open(address, rw.token("adv1")))
        await _start(adv, "b", STREAM, {"filter": {"partnerIds": [rw.partner("B")]}})
        await _listening(listening + 3)

        foreign = await _create(client, rw, "B", "FOREIGN-1")  # first: it would arrive first
        mine = await _create(client, rw, "A", "MINE-1")
        await _accept(client, rw, foreign, "adv1")
        await _accept(client, rw, mine, "adv1")

        seen: dict[str, list[str]] = {"moving": [], "done": []}
        while "PROCESSED" not in seen["moving"] or not seen["done"]:
            message = await _message(own, WAIT)
            assert message["type"] == "next", message
            update = message["payload"]["data"]["conversionRequestsChanged"]
            assert update["id"] == mine, "another partner's request reached A"
            assert update["partner"]["id"] == rw.partner("A")
            seen[message["id"]].append(update["status"])
        assert _moves(seen["moving"]) == ["INQUIRED", "ACCEPTED", "PROCESSED"]
        assert seen["done"] == ["PROCESSED"]

        # B's request went through the same moves: the advertiser saw them, A never.
        b_statuses = []
        while "PROCESSED" not in b_statuses:
            message = await _message(adv, WAIT)
            update = message["payload"]["data"]["conversionRequestsChanged"]
            assert update["id"] == foreign, "the filter let A's request through"
            b_statuses.append(update["status"])
        assert _moves(b_statuses) == ["INQUIRED", "ACCEPTED", "PROCESSED"]
        await _nothing_more(own)
        await own.close()
        await adv.close()


async def test_a_comment_brings_the_request_again_only_to_those_who_may_read_it(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        mine = await _create(client, rw, "A", "TALK-1")
        own = await _ready(await _open(address, rw.token("A")))
        adv = await _ready(await _open(address, rw.token("adv1")))
        listening = HUB.subscriber_count
        for ws in (own, adv):
            await _start(ws, "1", STREAM, {"filter": {"orderId": "TALK-1"}})
        await _listening(listening + 2)
        for visibility, body in (("INTERNAL", "checking the shop"), ("SHARED", "we look at it")):
            commented = await _graphql(
                client,
                COMMENT,
                {"input": {"requestId": mine, "body": body, "visibility": visibility}},
                rw.token("adv1"),
            )
            assert commented["commentOnConversionRequest"]["userErrors"] == []
        for ws, expected in ((adv, 2), (own, 1)):  # the partner never hears of INTERNAL ones
            for _ in range(expected):
                message = await _message(ws, WAIT)
                assert message["payload"]["data"]["conversionRequestsChanged"]["id"] == mine
            await _nothing_more(ws, 0.3)
            await ws.close()


async def test_a_bad_filter_is_bad_user_input(engine: AsyncEngine, settings: Settings) -> None:
    rw = await request_world(engine)
    async with live_app(engine, settings) as address:
        ws = await _ready(await _open(address, rw.token("A")))
        await _start(ws, "1", STREAM, {"filter": {"programIds": [rw.partner("A")]}})
        answer = await _message(ws, WAIT)
        (error,) = answer["payload"]["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        await ws.close()


async def test_conversion_recorded_goes_to_the_programs_advertiser_and_the_converting_partner(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        adv = await _ready(await _open(address, rw.token("adv1")))
        partner = await _ready(await _open(address, rw.token("A")))
        outsider = await _ready(await _open(address, rw.token("C")))
        other_adv = await _ready(await _open(address, rw.token("adv2")))
        listening = HUB.subscriber_count
        await _start(adv, "foreign", RECORDED, {"programId": rw.program("p2")})
        await _start(outsider, "foreign", RECORDED, {"programId": rw.program("p1")})
        for ws in (adv, outsider):  # another's program reads as one that does not exist
            refused = await _message(ws, WAIT)
            assert refused["id"] == "foreign" and refused["payload"]["data"] is None
            assert [e["extensions"]["reason"] for e in refused["payload"]["errors"]] == [
                "NOT_FOUND"
            ]
            assert await _message(ws, WAIT) == {"id": "foreign", "type": "complete"}
        await _start(adv, "own", RECORDED, {"programId": rw.program("p1")})
        await _start(partner, "own", RECORDED, {"programId": rw.program("p1")})
        await _start(other_adv, "own", RECORDED, {"programId": rw.program("p2")})
        await _listening(listening + 3)

        # Both requests become conversions of p1 when processed: B's first.
        for who, order_id in (("B", "B-NEW"), ("A", "A-NEW")):
            await _accept(client, rw, await _create(client, rw, who, order_id), "adv1")
        # A conversion of another program (adv2's) reaches neither.
        await _accept(client, rw, await _create(client, rw, "C", "C-NEW", "p2"), "adv2")

        to_advertiser: set[str] = set()
        while len(to_advertiser) < 2:
            message = await _message(adv, WAIT)
            assert message["id"] == "own", message
            to_advertiser.add(message["payload"]["data"]["conversionRecorded"]["orderId"])
        assert to_advertiser == {"A-NEW", "B-NEW"}
        message = await _message(partner, WAIT)
        assert message["payload"]["data"]["conversionRecorded"]["orderId"] == "A-NEW"
        # adv2 hears of C's conversion: by then its event had reached every subscription.
        message = await _message(other_adv, WAIT)
        assert message["payload"]["data"]["conversionRecorded"]["orderId"] == "C-NEW"
        for ws in (adv, partner, outsider, other_adv):
            await _nothing_more(ws, 0.3)
            await ws.close()


async def test_the_streams_as_the_other_partner_the_other_advertiser_and_an_admin(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        sockets = {
            who: await _ready(await _open(address, rw.token(who))) for who in ("B", "adv2", "admin")
        }
        listening = HUB.subscriber_count
        # adv2 may not even name program 1; B (a partner of it) and the admin may.
        await _start(sockets["adv2"], "p1", RECORDED, {"programId": rw.program("p1")})
        refused = await _message(sockets["adv2"], WAIT)
        assert refused["payload"]["data"] is None
        assert [e["extensions"]["reason"] for e in refused["payload"]["errors"]] == ["NOT_FOUND"]
        assert await _message(sockets["adv2"], WAIT) == {"id": "p1", "type": "complete"}
        for who, ws in sockets.items():
            await _start(ws, "all", STREAM, {"filter": None})
            if who != "adv2":
                await _start(ws, "p1", RECORDED, {"programId": rw.program("p1")})
        await _listening(listening + 5)

        mine = await _create(client, rw, "A", "ADMIN-SEES-1")
        await _accept(client, rw, mine, "adv1")

        statuses: list[str] = []
        recorded: list[str] = []
        while "PROCESSED" not in statuses or not recorded:
            message = await _message(sockets["admin"], WAIT)
            assert message["type"] == "next", message
            data = message["payload"]["data"]
            if message["id"] == "all":
                assert data["conversionRequestsChanged"]["id"] == mine
                statuses.append(data["conversionRequestsChanged"]["status"])
            else:
                recorded.append(data["conversionRecorded"]["orderId"])
        assert _moves(statuses) == ["INQUIRED", "ACCEPTED", "PROCESSED"]
        assert recorded == ["ADMIN-SEES-1"]
        # By then every subscription had the events: A's request and conversion reached
        # neither the other partner of the program nor the other advertiser.
        for ws in sockets.values():
            await _nothing_more(ws, 0.3)
            await ws.close()


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> tuple[str, str]:
    """The session cookie's secret and the session's CSRF token, from `login`."""
    answer = await client.post(
        "/graphql",
        json={
            "query": "mutation($input: LoginInput!) { login(input: $input) { csrfToken } }",
            "variables": {"input": {"email": email, "password": password}},
        },
    )
    csrf: str = answer.json()["data"]["login"]["csrfToken"]
    cookie = next(
        value.split(";")[0].split("=", 1)[1]
        for value in answer.headers.get_list("set-cookie")
        if value.startswith(f"{SESSION_COOKIE}=")
    )
    return cookie, csrf


async def _open_with_cookie(address: str, cookie: str, payload: dict[str, Any]) -> ClientConnection:
    ws = await connect(
        f"ws://{address}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def test_a_socket_signs_in_with_the_session_cookie_and_its_csrf_token(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    password = "correct horse battery"
    await add_partner_login(engine, rw.world, "spa@partner.test", password, partner="A")
    async with (
        live_app(engine, settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as client,
    ):
        request_id = await _create(client, rw, "A", "COOKIE-1")
        cookie, csrf = await _sign_in(client, "spa@partner.test", password)

        ws = await _ready(await _open_with_cookie(address, cookie, {"csrfToken": csrf}))
        await _start(ws, "1", SUBSCRIBE, {"id": request_id})
        first = await _message(ws, WAIT)  # the partner's user sees its partner's request
        assert first["payload"]["data"]["conversionRequestChanged"]["status"] == "INQUIRED"
        await ws.close()

        # The cookie alone (another site's page could make the browser send it) is not enough.
        # (A lone surrogate, which JSON can carry and no secret holds, is refused the same way.)
        for payload in (
            {},
            {"csrfToken": ""},
            {"csrfToken": "csrf_wrong"},
            {"csrfToken": 1},
            {"csrfToken": "\ud800"},
        ):
            ws = await _open_with_cookie(address, cookie, payload)
            with pytest.raises(ConnectionClosed) as closed:
                await _message(ws, WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, payload
        # Nor is the CSRF token without the cookie.
        ws = await connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"csrfToken": csrf}}))
        with pytest.raises(ConnectionClosed) as closed:
            await _message(ws, WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_the_new_fields_count_against_the_limits_of_a_connection_and_of_a_query(
    engine: AsyncEngine, settings: Settings
) -> None:
    rw = await request_world(engine)
    shallow = dataclasses.replace(settings, max_depth=2)
    async with live_app(engine, shallow) as address:
        ws = await _ready(await _open(address, rw.token("adv1")))
        listening = HUB.subscriber_count
        # Refused answers carry the query's cost, as a query's do.
        await _start(ws, "foreign", RECORDED, {"programId": rw.program("p2")})
        refused = await _message(ws, WAIT)
        assert refused["payload"]["extensions"]["cost"]["requestedQueryCost"] >= 1
        assert await _message(ws, WAIT) == {"id": "foreign", "type": "complete"}
        # Depth: conversionRecorded › program › advertiser › id is three levels deep.
        deep = """subscription($p: ID!) {
          conversionRecorded(programId: $p) { program { advertiser { id } } }
        }"""
        await _start(ws, "deep", deep, {"p": rw.program("p1")})
        too_deep = await _message(ws, WAIT)
        assert too_deep["type"] == "error", too_deep
        assert too_deep["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        # Per connection: both fields take a slot while they run.
        for n in range(MAX_PER_CONNECTION):
            if n % 2:
                await _start(ws, str(n), RECORDED, {"programId": rw.program("p1")})
            else:
                await _start(ws, str(n), STREAM, {"filter": None})
        await _listening(listening + MAX_PER_CONNECTION)
        for query, variables in ((STREAM, {}), (RECORDED, {"programId": rw.program("p1")})):
            await _start(ws, "more", query, variables)
            answer = await _message(ws, WAIT)
            (error,) = answer["payload"]["errors"]
            assert error["extensions"]["reason"] == "TOO_MANY_SUBSCRIPTIONS"
            assert await _message(ws, WAIT) == {"id": "more", "type": "complete"}
        await ws.close()
