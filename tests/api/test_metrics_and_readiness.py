"""Issue 14, `/metrics` and `/ready`: Prometheus metrics for admins only (requests and latency
by operation and outcome, errors by code, rate-limit rejections, job durations and queue
depth, import rows, database pool), `/health` as liveness and `/ready` answering 503 with
the part that fails (database, migrations, Redis)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, downgrade
from portal.config import Settings
from portal.observability.readiness import check_readiness
from portal.web.app import create_app
from tests.conftest import REDIS_URL, Api, unavailable
from tests.factories import build_world
from tests.import_files import run
from tests.observed import samples, value

EXPORT = """mutation($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id } userErrors { code } } }"""
LIST = "query Listing { conversions(first: 20) { nodes { id partner { name } } } }"  # costs 22


async def scrape(api: Api, token: str) -> dict[Any, float]:
    response = await api.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def grew(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_only_admins_read_the_metrics(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    assert (await api.client.get("/metrics")).status_code == 401
    for who in ("A", "adv1"):
        refused = await api.client.get(
            "/metrics", headers={"Authorization": f"Bearer {world.tokens[who]}"}
        )
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "portal_" not in refused.text
    bad = await api.client.get("/metrics", headers={"Authorization": "Bearer ptk_nope-nope"})
    assert bad.status_code == 401
    assert await scrape(api, world.tokens["admin"])  # an admin's token is enough


async def test_requests_errors_jobs_and_import_rows_are_counted(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    admin, partner = world.tokens["admin"], world.tokens["A"]
    before = await scrape(api, admin)

    assert (await api.post(LIST, token=partner)).json().get("errors") is None
    await api.post("query Broken { conversions(first: 1) { nope } }", token=partner)
    await api.post(LIST, token="ptk_unknown-token")
    started = await api.data(EXPORT, {"input": {"format": "CSV"}}, token=partner)
    assert started["exportConversionRequests"]["userErrors"] == []
    await api.drain_jobs()
    rows = "request_type,program,order_id,conversion_target,tracking_time,order_value\n" + "".join(
        f"CREATE_NEW,Nordwind DE,M-{n},SALE_NEW_CUSTOMER,2026-06-01T10:00:00Z,10\n"
        for n in range(3)
    )
    await run(api, partner, "m.csv", rows.encode(), dryRun=True)
    after = await scrape(api, admin)

    graphql = {"endpoint": "graphql"}
    expected = [
        ("portal_http_requests_total", {**graphql, "operation": "Listing", "outcome": "ok"}, 1),
        (
            "portal_http_request_duration_seconds_count",
            {**graphql, "operation": "Listing", "outcome": "ok"},
            1,
        ),
        ("portal_http_requests_total", {**graphql, "operation": "Broken", "outcome": "error"}, 1),
        ("portal_errors_total", {"code": "GRAPHQL_VALIDATION_FAILED"}, 1),
        ("portal_errors_total", {"code": "UNAUTHENTICATED"}, 1),
        ("portal_job_duration_seconds_count", {"kind": "run_export", "outcome": "succeeded"}, 1),
        ("portal_job_duration_seconds_count", {"kind": "run_import", "outcome": "succeeded"}, 1),
        ("portal_import_rows_processed_total", {"mode": "checked"}, 3),
    ]
    measured = [(name, labels, grew(before, after, name, **labels)) for name, labels, _ in expected]
    assert measured == expected
    assert value(after, "portal_db_pool_capacity") > 0
    assert value(after, "portal_db_pool_connections_in_use") >= 0
    assert value(after, "portal_job_queue_depth") == 0  # the in-process queue is drained
    assert (
        "portal_jobs_unfinished",
        (("kind", "PROCESS_CONVERSION_REQUEST"), ("status", "QUEUED")),
    ) in after


async def test_rate_limit_rejections_are_counted(engine: AsyncEngine, settings: Settings) -> None:
    world = await build_world(engine)
    app = create_app(
        dataclasses.replace(settings, rate_limit_capacity=30, rate_limit_restore_rate=1),
        engine=engine,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        api = Api(client, app)
        before = await scrape(api, world.tokens["admin"])
        await api.post(LIST, token=world.tokens["A"])
        refused = await api.post(LIST, token=world.tokens["A"])
        after = await scrape(api, world.tokens["admin"])
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert grew(before, after, "portal_rate_limit_rejections_total") == 1
    assert grew(before, after, "portal_errors_total", code="RATE_LIMITED") == 1


async def test_unfinished_jobs_are_reported_by_kind(api: Api, engine: AsyncEngine) -> None:
    """A job queued while no runner takes it shows as waiting."""
    world = await build_world(engine)
    queue = api.app.state.queue
    queue.enqueue = _ignore  # type: ignore[method-assign]  # the job stays QUEUED
    await api.data(EXPORT, {"input": {"format": "XLSX"}}, token=world.tokens["A"])
    after = await scrape(api, world.tokens["admin"])
    assert (
        value(after, "portal_jobs_unfinished", kind="EXPORT_CONVERSION_REQUESTS", status="QUEUED")
        == 1
    )


async def _ignore(*_: Any, **__: Any) -> None:
    return None


# --- health and readiness --------------------------------------------------------------------


async def test_health_is_liveness_and_ready_checks_database_and_migrations(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert body["checks"]["migrations"]["ok"] is True
    assert "redis" not in body["checks"]  # not configured: jobs run in-process


async def test_ready_is_503_when_the_database_is_behind_the_code(
    sqlite_engine: AsyncEngine, settings: Settings
) -> None:
    await downgrade(sqlite_engine, "-1")
    app = create_app(settings, engine=sqlite_engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/ready")
        health = await c.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["migrations"]
    assert "run portal migrate" in body["checks"]["migrations"]["detail"]
    assert health.status_code == 200  # alive all the same: do not restart it, migrate


async def test_ready_is_503_naming_a_database_that_does_not_answer(settings: Settings) -> None:
    dead = create_engine("postgresql+asyncpg://portal:hunter2@127.0.0.1:1/portal")
    app = create_app(settings, engine=dead)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.get("/ready")
    finally:
        await dead.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "migrations"]
    assert "hunter2" not in response.text


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        unavailable("Redis (PORTAL_TEST_REDIS_URL)")
    assert REDIS_URL
    return REDIS_URL


@pytest.mark.redis
async def test_ready_checks_redis_when_configured(
    sqlite_engine: AsyncEngine, redis_url: str
) -> None:
    ok = await check_readiness(sqlite_engine, redis_url)
    assert [(c.name, c.ok) for c in ok] == [
        ("database", True),
        ("migrations", True),
        ("redis", True),
    ]
    down = await check_readiness(sqlite_engine, "redis://127.0.0.1:1/0")
    assert [(c.name, c.ok) for c in down] == [
        ("database", True),
        ("migrations", True),
        ("redis", False),
    ]


@pytest.fixture
async def served_with_redis(
    sqlite_engine: AsyncEngine, settings: Settings, redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, redis_url=redis_url), engine=sqlite_engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


@pytest.mark.redis
async def test_ready_over_http_includes_redis(served_with_redis: httpx.AsyncClient) -> None:
    body = (await served_with_redis.get("/ready")).json()
    assert body["checks"]["redis"] == {"ok": True, "detail": "ok"}


async def test_the_read_pool_counts_in_the_pool_capacity_while_the_app_runs(
    engine: AsyncEngine, settings: Settings
) -> None:
    """On PostgreSQL the compiled path's pool (`create_read_engine`) adds its connections to
    `portal_db_pool_capacity` while the app runs and takes them back when it stops; on SQLite
    there is no second pool."""
    from portal.observability.metrics import DB_CAPACITY

    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        running = DB_CAPACITY._value.get()
        added = 0 if app.state.read_engine is engine else 20
    stopped = DB_CAPACITY._value.get()
    assert running - stopped == added
