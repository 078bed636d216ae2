"""Early authentication: credentials are checked before any GraphQL work is done.

- `Authorization: Bearer <token>` (scripts): an unknown, expired or revoked token is a 401. A
  token that authenticated is trusted for a few seconds without reading the database again
  (portal.adapters.token_cache; revocation drops it from every instance's cache).
- The `portal_session` cookie (SPAs, set by `login`): every request other than GET must carry
  the session's CSRF token in `X-CSRF-Token`, or it is a 403.
- Neither: anonymous; only `login` and introspection answer.

A WebSocket (subscriptions) authenticates in its `connection_init` payload instead
(`authenticate_socket`): `{"token": …}`, or the session cookie of the upgrade request with
`{"csrfToken": …}`, checked by the same rule as `X-CSRF-Token` (`csrf_matches`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from portal.adapters.credentials import (
    Authenticated,
    CredentialError,
    authenticate_session,
    authenticate_token,
    hash_secret,
    same_secret,
)
from portal.adapters.token_cache import TokenCache
from portal.web.error_bodies import error_body

SESSION_COOKIE = "portal_session"
# Set at sign-in: the browser signed in to that account before (portal.services.sign_in).
DEVICE_COOKIE = "portal_device"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class RequestAuth:
    authenticated: Authenticated | None
    by_cookie: bool = False


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        error_body(message, code),  # no `data`: execution never started
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


async def authenticate(
    request: Request, engine: AsyncEngine, tokens: TokenCache | None = None
) -> RequestAuth | JSONResponse:
    """`tokens`: the app's cache of authenticated API tokens (None: none)."""
    now = datetime.now(UTC)
    header = request.headers.get("authorization")
    if header:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            return _error(401, "UNAUTHENTICATED", "use 'Authorization: Bearer <token>'")
        try:
            return RequestAuth(await _token(secret, engine, tokens, now))
        except CredentialError as error:
            return _error(401, "UNAUTHENTICATED", str(error))
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            async with engine.connect() as conn:
                found = await authenticate_session(conn, cookie, now)
        except CredentialError as error:
            return _error(401, "UNAUTHENTICATED", str(error))
        if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_matches(
            request.headers.get(CSRF_HEADER), found
        ):
            return _error(403, "FORBIDDEN", f"missing or wrong {CSRF_HEADER} header")
        return RequestAuth(found, by_cookie=True)
    return RequestAuth(None)


async def _token(
    secret: str, engine: AsyncEngine, tokens: TokenCache | None, now: datetime
) -> Authenticated:
    """An API token's holder: from the app's cache when it is warm (no statement), else from
    the database (then cached). Raises CredentialError; failures are never cached."""
    cache = tokens if tokens is not None and tokens.enabled else None
    key = hash_secret(secret) if cache is not None else ""
    if cache is not None and (cached := cache.get(key, now)) is not None:
        return cached
    generation = cache.generation if cache is not None else 0
    async with engine.connect() as conn:
        found = await authenticate_token(conn, secret, now)
    if cache is not None:
        cache.put(key, found, now, generation)
    return found


def csrf_matches(given: Any, session: Authenticated) -> bool:
    """Whether `given` is the CSRF token of the cookie's session: what a request with the
    session cookie must prove (the cookie alone could come from another site's page)."""
    return (
        isinstance(given, str)
        and bool(given)
        and given.isascii()  # a secret we issued is; JSON can carry lone surrogates
        and session.csrf_hash is not None
        and same_secret(given, session.csrf_hash)
    )


async def authenticate_socket(
    cookies: Mapping[str, str], params: Any, engine: AsyncEngine, tokens: TokenCache | None = None
) -> RequestAuth | None:
    """A WebSocket's credentials, from its `connection_init` payload: `{"token": "<API
    token>"}`, or `{"csrfToken": …}` with the session cookie sent on the upgrade request (the
    HTTP rules: a token first; a cookie only with its session's CSRF token). None: refused."""
    params = params if isinstance(params, Mapping) else {}
    now = datetime.now(UTC)
    token = params.get("token")
    cookie = cookies.get(SESSION_COOKIE)
    try:
        if isinstance(token, str) and token.strip():
            if not token.isascii():  # a token we issued is; JSON can carry lone surrogates
                return None
            return RequestAuth(await _token(token.strip(), engine, tokens, now))
        if token is None and cookie:
            async with engine.connect() as conn:
                found = await authenticate_session(conn, cookie, now)
            if csrf_matches(params.get("csrfToken"), found):
                return RequestAuth(found, by_cookie=True)
    except CredentialError:
        pass
    return None


def is_json_request(request: Request) -> bool:
    """Whether the body is JSON by its Content-Type: a foreign page's form can send
    multipart/form-data, urlencoded or text/plain without a preflight, never JSON."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return request.method == "POST" and media_type == "application/json"
