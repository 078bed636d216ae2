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


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """A multipart/form-data body (httpx sends no multipart body without files)."""
    boundary = "portal-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts += [
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {media_type}\r\n\r\n'
        ).encode()
        + content
        + b"\r\n"
        for name, (filename, content, media_type) in files.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )
