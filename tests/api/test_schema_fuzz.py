"""The schema fuzzed (hypothesis-graphql): queries and mutations built from the schema — valid
ones and ones with a violation — with random arguments (NUL characters, huge numbers, odd
strings), sent over HTTP as each role (anonymous, partner, advertiser, admin) to a seeded
database. Whatever comes, the answer is never a 5xx and never an INTERNAL error.

Bounded for CI: EXAMPLES operations per role and database (about a minute in all). Raise
PORTAL_FUZZ_EXAMPLES to search longer (e.g. 2000 on a quiet machine)."""

from __future__ import annotations

import asyncio
import os
import string
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

import portal.schema
from portal.adapters.database import create_engine
from portal.config import Settings
from portal.web.app import create_app
from tests.conftest import run_in_thread, truncate
from tests.factories import World, build_world

EXAMPLES = int(os.environ.get("PORTAL_FUZZ_EXAMPLES", "60"))
ROLES = [None, "A", "adv1", "admin"]

_text = st.text(max_size=30)
CUSTOM_SCALARS = {
    "Decimal": st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.integers(),
        _text,
    ).map(lambda v: nodes.Int(v) if isinstance(v, int) else nodes.String(v)),
    "DateTime": st.one_of(
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: d.isoformat()),
        _text,
    ).map(nodes.String),
    "Date": st.one_of(st.dates().map(str), _text).map(nodes.String),
    "CurrencyCode": st.one_of(
        st.sampled_from(["EUR", "USD", "JPY", "KWD"]),
        st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3),
        _text,
    ).map(nodes.String),
    "JSON": _text.map(nodes.String),
    "Upload": _text.map(nodes.String),
}


def operations() -> st.SearchStrategy[str]:
    schema = portal.schema.schema._schema
    return st.one_of(
        from_schema(schema, custom_scalars=CUSTOM_SCALARS),
        from_schema(schema, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database for the app on its own event loop (AppOnItsLoop), seeded."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
        template = request.getfixturevalue("sqlite_template")
        (tmp_path / "fuzz.db").write_bytes(Path(template).read_bytes())
        yield url
        return
    url = request.getfixturevalue("postgres_database")

    async def empty() -> None:
        engine = create_engine(url)
        await truncate(engine)
        await engine.dispose()

    run_in_thread(empty())
    yield url


def _seed(url: str) -> World:
    async def seed() -> World:
        engine = create_engine(url)
        try:
            return await build_world(engine)
        finally:
            await engine.dispose()

    return run_in_thread(seed())


def _judge(status: int, body: Any) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return f"HTTP {status}"
    if not isinstance(body, dict):
        return "not a JSON object"
    for error in body.get("errors") or ():
        code = (error.get("extensions") or {}).get("code")
        if code in (None, "INTERNAL"):
            return f"error {code}: {error.get('message')}"
    return None


class AppOnItsLoop:
    """The app, its lifespan and an HTTP client on an event loop in a thread of their own:
    hypothesis drives a synchronous test, one request at a time."""

    def __init__(self, app_settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.app = create_app(app_settings)
        self.lifespan = self.app.router.lifespan_context(self.app)
        self._run(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://portal.test")

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def post(self, query: str, headers: dict[str, str]) -> httpx.Response:
        return self._run(self.client.post("/graphql", json={"query": query}, headers=headers))  # type: ignore[no-any-return]

    def close(self) -> None:
        self._run(self.client.aclose())
        self._run(self.lifespan.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_no_generated_operation_gets_a_5xx_or_an_internal_error(
    database_url: str, tmp_path: Path, role: str | None
) -> None:
    world = _seed(database_url)
    app_settings = Settings(
        database_url=database_url,
        redis_url=None,
        secret_key="fuzz",
        data_dir=tmp_path / f"data-{uuid.uuid4().hex[:6]}",
        rate_limit_capacity=10**9,
        rate_limit_restore_rate=10**9,
        anonymous_rate_limit_capacity=10**9,
        anonymous_rate_limit_restore_rate=10**9,
    )
    headers = {"Authorization": f"Bearer {world.tokens[role]}"} if role else {}
    server = AppOnItsLoop(app_settings)
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        )
        @given(operations())
        def answers_properly(query: str) -> None:
            response = server.post(query, headers)
            try:
                body = response.json()
            except ValueError:
                body = None
            wrong = _judge(response.status_code, body)
            assert wrong is None, f"{wrong}\n{query}"

        answers_properly()
    finally:
        server.close()
