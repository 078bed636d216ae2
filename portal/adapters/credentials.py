"""API tokens and session secrets: generated with `secrets`, stored only as SHA-256 hashes.

Tokens carry 256 bits of entropy, so a fast hash is safe for them (unlike passwords, which
use argon2 in `portal.adapters.passwords`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from portal.adapters import rows
from portal.adapters.tables import api_tokens, sessions, users
from portal.domain.access import ApiToken, User

TOKEN_PREFIX = "ptk_"
SESSION_PREFIX = "pts_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def same_secret(given: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(given), expected_hash)


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    token: ApiToken | None = None
    session_id: int | None = None
    csrf_hash: str | None = None


class CredentialError(Exception):
    """Credentials were presented but do not authenticate; the message says why."""


async def find_token(conn: AsyncConnection, secret: str) -> ApiToken | None:
    """The token with this secret, usable or not (no use is recorded)."""
    row = (
        await conn.execute(select(api_tokens).where(api_tokens.c.token_hash == hash_secret(secret)))
    ).first()
    return rows.api_token(row) if row is not None else None


async def authenticate_token(conn: AsyncConnection, secret: str, now: datetime) -> Authenticated:
    row = (
        await conn.execute(
            select(
                api_tokens,
                users.c.email,
                users.c.name.label("user_name"),
                users.c.role,
                users.c.advertiser_id,
                users.c.partner_id,
                users.c.created_at.label("user_created_at"),
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.token_hash == hash_secret(secret))
        )
    ).first()
    if row is None:
        raise CredentialError("the token is unknown")
    token = rows.api_token(row)
    if token.revoked_at is not None:
        raise CredentialError("the token was revoked")
    if token.expires_at is not None and now >= token.expires_at:
        raise CredentialError("the token has expired")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # End the read first: the update then runs in a transaction of its own that starts
        # with the write (SQLite waits for the lock then, instead of failing an upgrade).
        await conn.rollback()
        await conn.execute(
            update(api_tokens).where(api_tokens.c.id == token.id).values(last_used_at=now)
        )
        await conn.commit()
    m = row._mapping
    user = User(
        m["user_id"],
        m["email"],
        m["user_name"],
        rows.Role(m["role"]),
        m["advertiser_id"],
        m["partner_id"],
        m["user_created_at"],
    )
    return Authenticated(user=user, token=token)


async def authenticate_session(conn: AsyncConnection, secret: str, now: datetime) -> Authenticated:
    row = (
        await conn.execute(
            select(
                sessions.c.id.label("session_id"),
                sessions.c.csrf_hash,
                sessions.c.expires_at,
                sessions.c.revoked_at,
                users,
            )
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == hash_secret(secret))
        )
    ).first()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        raise CredentialError("the session has ended; log in again")
    return Authenticated(user=rows.user(row), session_id=row.session_id, csrf_hash=row.csrf_hash)
