"""Sending one webhook: the URL's addresses checked (SSRF) and a short, signed POST that never
follows redirects. PORTAL_WEBHOOKS_ALLOW_PRIVATE=true admits private addresses and http (tests,
a closed network)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass

import httpx

from portal.domain.errors import DomainError
from portal.domain.events import RESPONSE_KEPT_CHARS, check_url_form, refused_address, sign


def allow_private() -> bool:
    return os.environ.get("PORTAL_WEBHOOKS_ALLOW_PRIVATE", "").strip().lower() in {
        "1",
        "true",
        "yes",
        "on",
    }


def timeout_seconds() -> float:
    return float(os.environ.get("PORTAL_WEBHOOKS_TIMEOUT_SECONDS") or 5)


async def check_url(url: str) -> None:
    """Refuses a malformed URL, and one whose host resolves to a refused address. Checked at
    creation and again before every attempt (DNS can change)."""
    private = allow_private()
    host, port = check_url_form(url, allow_private=private)
    if private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DomainError("UNRESOLVABLE_URL", f"{host} does not resolve", ("url",)) from None
    for info in infos:
        if refused_address(str(info[4][0])):
            raise DomainError(
                "REFUSED_URL",
                f"{host} resolves to a private, loopback or link-local address",
                ("url",),
            )


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None
    duration_ms: int
    error: str | None
    response: str | None


CONNECTIONS = 20
"""Requests in flight per process: httpcore's pool slows down sharply with many more."""
_clients: dict[int, httpx.AsyncClient] = {}
_slots: dict[int, asyncio.Semaphore] = {}


def _client() -> httpx.AsyncClient:
    """One pooled client per event loop (connections to a receiver are reused)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_seconds(), pool=None),
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
            trust_env=False,
        )
        _clients[id(loop)] = client
    return client


async def post_webhook(url: str, secret: str, message_id: str, body: str, now: float) -> Sent:
    """POSTs `body` with the Standard Webhooks headers. A whole attempt is bounded by the
    timeout (a receiver that drips its answer is cut off)."""
    timestamp = int(now)
    headers = {
        "content-type": "application/json",
        "user-agent": "portal-webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    slots = _slots.setdefault(id(asyncio.get_running_loop()), asyncio.Semaphore(CONNECTIONS))
    async with slots:  # waiting for a slot is not the receiver's time
        return await _post(url, body, headers)


async def _post(url: str, body: str, headers: dict[str, str]) -> Sent:
    started = time.perf_counter()
    try:
        await check_url(url)
        response = await asyncio.wait_for(
            _client().post(url, content=body.encode(), headers=headers),
            timeout=timeout_seconds() * 2,
        )
    except DomainError as refused:
        return Sent(None, _ms(started), refused.message[:500], None)
    except (TimeoutError, httpx.TimeoutException):
        return Sent(None, _ms(started), "timed out", None)
    except httpx.HTTPError as error:
        return Sent(None, _ms(started), f"{type(error).__name__}: {error}"[:500], None)
    return Sent(
        response.status_code, _ms(started), None, response.text[:RESPONSE_KEPT_CHARS] or None
    )


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
