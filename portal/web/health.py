"""`/health` (liveness: the process answers) and `/ready` (readiness: 503 naming what fails)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.config import Settings
from portal.observability.readiness import check_readiness

Endpoint = Callable[[Request], Awaitable[Response]]


async def health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def ready(engine: AsyncEngine, settings: Settings) -> Endpoint:
    async def endpoint(_: Request) -> Response:
        checks = await check_readiness(engine, settings.redis_url)
        failing = [c.name for c in checks if not c.ok]
        body = {
            "status": "unavailable" if failing else "ready",
            "failing": failing,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        }
        return JSONResponse(body, status_code=503 if failing else 200)

    return endpoint
