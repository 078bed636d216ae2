"""Which path served a request: the `portal-execution-path` header and the request log's
`execution_path` say "compiled" or "general"; PORTAL_COMPILED_READS=false turns the compiled
path off. The answers themselves are compared in
tests/integration/test_compiled_reads_differential.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.throttle import MemoryCostBucket
from portal.config import Settings
from portal.web.app import create_app
from tests.conftest import Api
from tests.factories import build_world
from tests.observed import captured_logs

LIST = "query Mine { conversions(first: 2) { nodes { id partner { name } } } }"
OTHER = "query Programs { programs(first: 2) { nodes { id name } } }"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_header_and_the_log_name_the_path(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    for query, path in ((LIST, "compiled"), (OTHER, "general")):
        with captured_logs() as logs:
            response = await api.post(query, token=world.tokens["A"])
        assert response.json().get("errors") is None
        assert response.headers["portal-execution-path"] == path
        [line] = logs.requests()
        assert line["execution_path"] == path
    # a bad argument is reported by the general path, with its usual error
    with captured_logs() as logs:
        response = await api.post(
            "{ conversions(first: 0) { nodes { id } } }", token=world.tokens["A"]
        )
    assert response.json()["errors"][0]["extensions"]["reason"] == "PAGE_SIZE_OUT_OF_RANGE"
    assert response.headers["portal-execution-path"] == "general"
    [line] = logs.requests()
    assert line["execution_path"] == "general"


async def test_unauthenticated_and_over_the_limit_requests_answer_as_before(
    api: Api, engine: AsyncEngine
) -> None:
    await build_world(engine)
    response = await api.post(LIST)
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["portal-execution-path"] == "general"


async def test_the_setting_turns_the_compiled_path_off(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    app = create_app(replace(settings, compiled_reads=False), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        response = await client.post(
            "/graphql", json={"query": LIST}, headers=_auth(world.tokens["A"])
        )
    assert response.json().get("errors") is None
    assert response.headers["portal-execution-path"] == "general"


@pytest.mark.parametrize("value, expected", [("false", False), ("true", True), (None, True)])
def test_portal_compiled_reads_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, expected: bool
) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    if value is None:
        monkeypatch.delenv("PORTAL_COMPILED_READS", raising=False)
    else:
        monkeypatch.setenv("PORTAL_COMPILED_READS", value)
    assert Settings.from_env().compiled_reads is expected


# -- the compiled lane (portal.web.compiled_lane) ---------------------------------------------

BY_ORDER = """query ByOrder($first: Int!, $order: String) {
  conversions(first: $first, filter: {orderId: $order}) { nodes { id orderId } }
}"""


async def test_the_lane_answers_an_operation_the_compiled_path_answered_before(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    lane = api.app.state.compiled_lane
    first = await api.post(LIST, token=world.tokens["A"])
    served = lane.served
    with captured_logs() as logs:
        second = await api.post(LIST, token=world.tokens["A"])
    assert lane.served == served + 1
    assert second.status_code == 200 and second.json()["data"] == first.json()["data"]
    assert second.headers["portal-execution-path"] == "compiled"
    [line] = logs.requests()
    assert line["execution_path"] == "compiled"
    assert line["operation"] == "Mine" and line["operation_type"] == "query"
    assert line["query_cost"] == second.json()["extensions"]["cost"]["requestedQueryCost"]
    # Another viewer's request for the same text: the lane answers it with that viewer's rows.
    other = await api.post(LIST, token=world.tokens["B"])
    assert lane.served == served + 2
    ids = {n["id"] for n in other.json()["data"]["conversions"]["nodes"]}
    assert ids and not ids & {n["id"] for n in first.json()["data"]["conversions"]["nodes"]}


async def test_the_lane_steps_aside_for_what_strawberry_reports(
    engine: AsyncEngine, settings: Settings
) -> None:
    """NUL characters in the variables, a cost over the limit and bad arguments of an admitted
    operation: the lane leaves them to strawberry, which answers with its usual errors."""
    world = await build_world(engine)
    app = create_app(replace(settings, max_query_cost=20), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):

        async def ask(variables: dict[str, object]) -> dict[str, Any]:
            response = await client.post(
                "/graphql",
                json={"query": BY_ORDER, "variables": variables},
                headers=_auth(world.tokens["A"]),
            )
            return response.json()

        lane = app.state.compiled_lane
        assert "errors" not in await ask({"first": 2, "order": None})
        served = lane.served
        assert "errors" not in await ask({"first": 2, "order": None})
        assert lane.served == served + 1
        nul = await ask({"first": 2, "order": "A\x00"})
        assert nul["errors"][0]["extensions"]["reason"] == "NUL_CHARACTER"
        costly = await ask({"first": 50, "order": None})
        assert costly["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        bad = await ask({"first": 0, "order": None})
        assert bad["errors"][0]["extensions"]["reason"] == "PAGE_SIZE_OUT_OF_RANGE"
        assert lane.served == served + 1


async def test_the_lane_refuses_over_the_rate_limit_as_strawberry_does(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    answers: dict[bool, list[httpx.Response]] = {}
    for compiled in (True, False):
        app = create_app(
            replace(
                settings,
                compiled_reads=compiled,
                rate_limit_capacity=6,  # LIST costs 4
                rate_limit_restore_rate=1,
            ),
            engine=engine,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
            ) as client,
        ):
            answers[compiled] = [
                await client.post(
                    "/graphql", json={"query": LIST}, headers=_auth(world.tokens["A"])
                )
                for _ in range(2)
            ]
            assert app.state.compiled_lane.served == (1 if compiled else 0)
    lane, general = answers[True][1], answers[False][1]
    assert lane.status_code == general.status_code
    assert lane.headers["retry-after"] == general.headers["retry-after"]
    assert "portal-execution-path" not in lane.headers
    lane_body, general_body = lane.json(), general.json()
    assert lane_body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert lane_body["errors"] == general_body["errors"]
    assert lane_body.keys() == general_body.keys() == {"errors", "extensions"}
    throttle = lane_body["extensions"]["cost"]["throttleStatus"]
    assert throttle.keys() == general_body["extensions"]["cost"]["throttleStatus"].keys()


async def test_a_failed_read_in_the_lane_is_answered_by_the_general_path_charged_once(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_world(engine)
    app = create_app(
        replace(settings, rate_limit_capacity=1000, rate_limit_restore_rate=1), engine=engine
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):

        async def ask() -> httpx.Response:
            return await client.post(
                "/graphql", json={"query": LIST}, headers=_auth(world.tokens["A"])
            )

        first = await ask()
        cost = first.json()["extensions"]["cost"]
        lane = app.state.compiled_lane

        async def read_failed(*_: object) -> None:
            return None  # what Compiler.run answers when reading failed

        monkeypatch.setattr(lane.compiler, "run", read_failed)
        second = await ask()
    assert second.headers["portal-execution-path"] == "general"
    assert second.json()["data"] == first.json()["data"]
    before = cost["throttleStatus"]["currentlyAvailable"]
    after = second.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    # Charged once (the restore rate of 1 point/s may give one back meanwhile).
    assert before - cost["requestedQueryCost"] <= after <= before - cost["requestedQueryCost"] + 1


async def test_a_bucket_that_fails_leaves_the_request_to_strawberry(
    api: Api, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis down while the lane charges: strawberry answers, as it answers any request then
    (SERVICE_UNAVAILABLE with Retry-After)."""
    world = await build_world(engine)
    lane = api.app.state.compiled_lane
    await api.post(LIST, token=world.tokens["A"])  # admitted
    served = lane.served

    async def down(*_: object) -> None:
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(MemoryCostBucket, "take", down)
    response = await api.post(LIST, token=world.tokens["A"])
    assert lane.served == served
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert "retry-after" in response.headers
