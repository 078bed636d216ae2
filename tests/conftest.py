"""Shared fixtures. The schema of every test database is built by running the migrations.

- `engine` is parametrised over `sqlite` (always) and `postgres` (PORTAL_TEST_POSTGRES_URL). When
  the variable is unset, PostgreSQL tests are skipped — except under CI=true, where they fail.
- `redis_url` likewise for PORTAL_TEST_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.adapters.tables import metadata
from portal.config import Settings
from portal.web.app import create_app

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("PORTAL_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL")
T = TypeVar("T")


def run_in_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion on its own loop in a worker thread: session fixtures are
    set up from inside the test's running event loop, where asyncio.run is not allowed."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Commands under test configure logging (portal.observability.logs) with a handler on
    the test's stderr; the next test starts with the logging it had before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    disabled = logging.getLogger("uvicorn.access").disabled
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = disabled


def unavailable(what: str) -> None:
    if CI:
        pytest.fail(f"{what} is required under CI=true but is not configured or does not answer")
    pytest.skip(f"{what} not configured")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    run_in_thread(build())
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        unavailable("PostgreSQL (PORTAL_TEST_POSTGRES_URL)")
    assert POSTGRES_URL
    name = f"portal_test_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(POSTGRES_URL)
    url = admin_url.set(database=name).render_as_string(hide_password=False)

    async def create() -> None:
        admin = create_engine(
            admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()
        engine = create_engine(url)
        await migrate(engine)
        await engine.dispose()

    async def drop() -> None:
        admin = create_engine(
            admin_url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    try:
        run_in_thread(create())
    except OSError as error:
        unavailable(f"PostgreSQL at {admin_url.host}:{admin_url.port} ({error})")
    yield url
    run_in_thread(drop())


async def truncate(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        path = tmp_path / "portal.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
    else:
        engine = create_engine(request.getfixturevalue("postgres_database"))
        await truncate(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[AsyncEngine]:
    path = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url="unused: the engine fixture is passed in",
        redis_url=None,
        secret_key="test-secret-key",
        data_dir=tmp_path / "data",
    )


class StatementCounter:
    """Counts the statements any engine of this process runs on the database of `engine`: an
    app's compiled reads have an engine of their own (`create_read_engine`). `close` stops."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        self.statements: list[str] = []
        self.url = engine.url
        event.listen(Engine, "before_cursor_execute", self._on_execute)

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if conn.engine.url != self.url:
            return
        if statement.lstrip().upper().startswith(("PRAGMA", "BEGIN", "COMMIT", "ROLLBACK")):
            return
        self.count += 1
        self.statements.append(statement)

    def reset(self) -> None:
        self.count = 0
        self.statements.clear()


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[StatementCounter]:
    counter = StatementCounter(engine)
    yield counter
    counter.close()


class Api:
    """A GraphQL client over real HTTP semantics (ASGI transport)."""

    def __init__(self, client: httpx.AsyncClient, app: Any = None) -> None:
        self.client = client
        self.app = app

    async def drain_jobs(self) -> None:
        """Wait for the in-process jobs the requests so far have queued."""
        await self.app.state.queue.drain()

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token)
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.query(query, variables, token)
        assert body.get("errors") is None, body
        data: dict[str, Any] = body["data"]
        return data


@pytest.fixture
async def api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings, engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield Api(client, app)
