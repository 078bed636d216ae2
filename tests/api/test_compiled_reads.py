"""Which path served a request: the `portal-execution-path` header and the request log's
`execution_path` say "compiled" or "general"; PORTAL_COMPILED_READS=false turns the compiled
path off. The answers themselves are compared in
tests/integration/test_compiled_reads_differential.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

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
