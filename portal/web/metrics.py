"""`/metrics` (Prometheus text format) for admins: `Authorization: Bearer <admin token>`.

Prometheus scrapes it with `authorization: {type: Bearer, credentials_file: …}`. Anyone else
gets 401 (no or bad credentials) or 403 (not an admin): the metrics name operations and
volumes that are nobody else's business."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.adapters.queue_depth import unfinished_work
from portal.adapters.token_cache import TokenCache
from portal.domain.access import Role
from portal.observability.metrics import CONTENT_TYPE, exposition, live_gauges
from portal.web.auth import authenticate
from portal.web.health import Endpoint


def _refused(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def metrics(engine: AsyncEngine, queue_of: Any, tokens: TokenCache | None = None) -> Endpoint:
    """`queue_of(request)`: the app's job queue (known once the app has started); `tokens`:
    the app's cache of authenticated API tokens."""

    async def endpoint(request: Request) -> Response:
        auth = await authenticate(request, engine, tokens)
        if isinstance(auth, Response):
            return auth
        request.scope["portal.auth"] = auth
        if auth.authenticated is None:
            return _refused(401, "UNAUTHENTICATED", "send an admin's API token")
        if auth.authenticated.user.role is not Role.ADMIN:
            return _refused(403, "FORBIDDEN", "only admins may read the metrics")
        queue = queue_of(request)
        depth = await queue.depth() if queue is not None else None
        live = live_gauges(await unfinished_work(engine), depth)
        return Response(exposition(live), media_type=CONTENT_TYPE)

    return endpoint
