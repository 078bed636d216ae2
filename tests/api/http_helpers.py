"""Helpers of the HTTP-layer tests: an app with changed settings behind an ASGI client, and
the one shape every refusal must have (a GraphQL error body with a code, no `data`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.web.app import create_app

GRAPHQL_RESPONSE = "application/graphql-response+json"
ACCEPT_GRAPHQL = {"Accept": GRAPHQL_RESPONSE}


@contextlib.asynccontextmanager
async def serve(
    settings: Settings, engine: AsyncEngine, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, **changes), engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://portal.test"
        ) as client,
    ):
        yield client


def coded_error(
    response: httpx.Response, status: int, code: str, reason: str | None = None
) -> dict[str, Any]:
    """Asserts a request error: the status, a JSON GraphQL body without `data`, the code."""
    assert response.status_code == status, response.text
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in ("application/json", GRAPHQL_RESPONSE), response.headers
    body = response.json()
    assert "data" not in body, body
    error: dict[str, Any] = body["errors"][0]
    assert error["message"], body
    assert error["extensions"]["code"] == code, body
    if reason is not None:
        assert error["extensions"]["reason"] == reason, body
    return error
