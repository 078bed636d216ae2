"""A real HTTP receiver of webhooks for tests: uvicorn serving a small Starlette app on a free
port of 127.0.0.1 in the test's event loop. It records every request and answers as the test
tells it (a status, a redirect, a hang), per path."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # path -> status to answer (default 204); "hang" sleeps; 302 redirects to /redirected.
    answers: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def verified(self, path: str, secret: str) -> list[dict[str, Any]]:
        """The events received at `path`, each checked with the standardwebhooks package (an
        implementation of the scheme independent of the portal's): a bad signature raises."""
        webhook = Webhook(secret)
        out = []
        for r in self.at(path):
            payload: dict[str, Any] = webhook.verify(r.body, r.headers)
            assert payload["id"] == r.headers["webhook-id"]
            out.append(payload)
        return out

    async def _handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        path = request.url.path
        self.received.append(Received(path, dict(request.headers), body))
        answer = self.answers.get(path, 204)
        if answer == "hang":
            await asyncio.sleep(30)
            return PlainTextResponse("too late")
        if answer in (301, 302, 307, 308):
            return Response(status_code=answer, headers={"location": self.url("/redirected")})
        if answer == 204:
            return Response(status_code=204)
        return PlainTextResponse(f"answer {answer}", status_code=answer)


@contextlib.asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver._handle, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    receiver.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        sock.close()
