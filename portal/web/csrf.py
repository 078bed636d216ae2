"""GET /csrf-token: the CSRF token of the session cookie, for a page that lost it (a reload).

`{"csrfToken": "csrf_…", "user": {"email", "role"}}`, or `{"csrfToken": null, "user": null}`
without a session cookie; 401 UNAUTHENTICATED when the cookie's session has ended (the answer
also deletes the cookie, which would otherwise make every later request a 401).

Safe to answer: the session cookie is HttpOnly and SameSite, so only pages of this site send it
with a request, and CORS lets only this origin and the configured SPA origins read the answer;
the answer is never cached. A page of another site can neither send the cookie nor read the
token, which is what the X-CSRF-Token check relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from portal.adapters.credentials import (
    CredentialError,
    authenticate_session,
    csrf_token_for,
    same_secret,
)
from portal.web.auth import SESSION_COOKIE
from portal.web.downloads import Endpoint
from portal.web.error_bodies import error_body, json_response

CSRF_TOKEN_PATH = "/csrf-token"
NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie"}


def _unauthenticated(message: str, *, forget_cookie: bool) -> Response:
    response = json_response(error_body(message, "UNAUTHENTICATED"), 401, headers=NO_STORE)
    if forget_cookie:  # an ended session's cookie would make every later login a 401
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def csrf_token_endpoint(engine: AsyncEngine) -> Endpoint:
    async def csrf_token(request: Request) -> Response:
        secret = request.cookies.get(SESSION_COOKIE)
        if not secret:  # no session is an answer, not an error
            return json_response({"csrfToken": None, "user": None}, 200, headers=NO_STORE)
        try:
            async with engine.connect() as conn:
                found = await authenticate_session(conn, secret, datetime.now(UTC))
        except CredentialError as error:
            return _unauthenticated(str(error), forget_cookie=True)
        token = csrf_token_for(secret)
        if found.csrf_hash is None or not same_secret(token, found.csrf_hash):
            # A session opened before tokens were derived from the cookie: only a new login helps.
            return _unauthenticated(
                "this session's CSRF token cannot be given again; log in again",
                forget_cookie=True,
            )
        user = found.user
        return json_response(
            {"csrfToken": token, "user": {"email": user.email, "role": user.role.value}},
            200,
            headers=NO_STORE,
        )

    return csrf_token
