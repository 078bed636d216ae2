"""The database goes away under load, as on a restart or failover of PostgreSQL: a real uvicorn
serves a database of this test alone while clients keep asking; its connections are cut, then
the database refuses connections for a while, then comes back.

Every answer is either a normal one or a JSON GraphQL error SERVICE_UNAVAILABLE with HTTP 503
and Retry-After — never a bare 500, never INTERNAL — and once the database is back every
request succeeds again. Bounded: about 15 s of load, then it stops by itself."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, migrate
from portal.config import Settings
from portal.web.app import create_app
from tests.factories import World, build_world
from tests.integration.conftest import allow_connections, cut_connections

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
QUERY = "{ conversions(first: 5) { nodes { id orderId partner { name } } } }"
CLIENTS = 12


@dataclass
class Outcomes:
    """What the clients got, by phase: 'ok', 'unavailable', or the wrong answer itself."""

    seen: dict[str, Counter[str]] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    def add(self, phase: str, outcome: str) -> None:
        self.seen.setdefault(phase, Counter())[outcome] += 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _judge(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}, not JSON: {response.text[:200]!r}"
    errors = body.get("errors") or []
    if response.status_code == 200 and not errors and body["data"]["conversions"]["nodes"]:
        return "ok"
    codes = [(e.get("extensions") or {}).get("code") for e in errors]
    if (
        response.status_code == 503
        and codes
        and set(codes) == {"SERVICE_UNAVAILABLE"}
        and response.headers.get("Retry-After", "").isdigit()
    ):
        return "unavailable"
    return f"HTTP {response.status_code}: {str(body)[:300]}"


async def _world_in(url: str) -> tuple[str, AsyncEngine, World]:
    """The database of `url` (this test's own), migrated and holding the test world."""
    name = make_url(url).database
    assert name
    engine = create_engine(url)
    await migrate(engine)
    return name, engine, await build_world(engine)


async def test_cut_and_refused_connections_answer_coded_json_then_everything_recovers(
    own_database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    url, admin = own_database
    name, engine, world = await _world_in(url)
    await engine.dispose()

    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PORTAL_DATABASE_URL": url,
        "PORTAL_DATA_DIR": str(tmp_path),
        "PORTAL_SECRET_KEY": "faults",
        "PORTAL_RATE_LIMIT_RESTORE_RATE": "1000000",
    }
    env.pop("PORTAL_REDIS_URL", None)
    # The server's log goes to a file: a pipe nobody reads fills up (the database-down phase logs
    # a lot) and then blocks the server.
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "portal.web.app:create_app",
        "--factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    outcomes = Outcomes()
    phase = "warm-up"
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {world.tokens['A']}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(100):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"the server did not start: {log_path.read_text()[-2000:]}")

            async def keep_asking() -> None:
                while not stop.is_set():
                    asked_in = phase
                    response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
                    if phase != asked_in:  # in flight when the phase changed: of both
                        asked_in = f"{asked_in} → {phase}"
                    outcome = _judge(response)
                    outcomes.add(asked_in, outcome if outcome in ("ok", "unavailable") else "wrong")
                    if outcome not in ("ok", "unavailable"):
                        outcomes.wrong.append(f"{asked_in}: {outcome}")

            load = [asyncio.create_task(keep_asking()) for _ in range(CLIENTS)]
            await asyncio.sleep(1.5)

            phase = "connections cut"  # as on a failover: every connection dies at once
            cut = 0
            for _ in range(6):
                cut += await cut_connections(admin, name)
                await asyncio.sleep(0.4)
            assert cut > 0

            phase = "database down"
            await allow_connections(admin, name, False)
            await cut_connections(admin, name)
            await asyncio.sleep(3)

            phase = "coming back"
            await allow_connections(admin, name, True)
            for _ in range(100):  # at most 10 s until a request succeeds again
                if outcomes.seen.get("coming back", {}).get("ok"):
                    break
                await asyncio.sleep(0.1)
            phase = "recovered"
            await asyncio.sleep(2.5)
            stop.set()
            await asyncio.gather(*load)
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            server.kill()
            await server.wait()
    seen = {p: dict(c) for p, c in outcomes.seen.items()}
    assert outcomes.wrong == [], (seen, outcomes.wrong[:5])
    assert seen["warm-up"].keys() == {"ok"}, seen
    assert seen["database down"].get("unavailable", 0) > 0, seen
    assert seen["recovered"].keys() == {"ok"}, seen
    assert seen["recovered"]["ok"] >= CLIENTS, seen


async def test_a_compiled_read_on_a_cut_connection_is_answered_by_the_general_path(
    own_database: tuple[str, AsyncEngine], tmp_path: Path
) -> None:
    """The compiled path's pool does not ping its connections (`create_read_engine`): after
    the server cut them, the first read fails on one, and the general path, whose pool pings,
    answers that request in full. The next one is compiled again, on a fresh connection."""
    url, admin = own_database
    name, engine, world = await _world_in(url)
    app = create_app(Settings(url, None, "faults", tmp_path), engine=engine)
    headers = {"Authorization": f"Bearer {world.tokens['A']}"}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
            ) as client,
        ):

            async def ask() -> tuple[str, list[str]]:
                response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
                assert response.status_code == 200, response.text
                body = response.json()
                assert "errors" not in body, body
                ids = [n["id"] for n in body["data"]["conversions"]["nodes"]]
                return response.headers["portal-execution-path"], ids

            path, expected = await ask()
            assert path == "compiled" and expected
            assert app.state.read_engine is not engine  # PostgreSQL: a pool of its own
            # Several connections in the read pool, all of which the server then cuts.
            await asyncio.gather(*(ask() for _ in range(5)))
            assert app.state.read_engine.sync_engine.pool.checkedin() > 1
            assert await cut_connections(admin, name) > 0
            assert await ask() == ("general", expected)
            # The failure made SQLAlchemy replace the pool's older connections: none of the
            # others is tried dead.
            again = await asyncio.gather(*(ask() for _ in range(5)))
            assert again == [("compiled", expected)] * 5
    finally:
        await engine.dispose()
