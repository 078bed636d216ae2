"""Users, API tokens and sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from portal.adapters import rows
from portal.adapters.credentials import (
    SESSION_PREFIX,
    TOKEN_PREFIX,
    csrf_token_for,
    hash_secret,
    new_secret,
)
from portal.adapters.passwords import hash_password, verify_password
from portal.adapters.tables import advertisers, api_tokens, partners, sessions, users
from portal.adapters.token_cache import forget_after_commit
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import ApiToken, Role, User, Viewer, normalize_email
from portal.domain.errors import DomainError, NotFound, PermissionDenied

MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True)
class NewSession:
    user: User
    secret: str
    csrf_token: str
    expires_at: datetime


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise PermissionDenied("only admins may do this")


def _validate_email(email: str) -> str:
    cleaned = normalize_email(email)
    local, _, domain = cleaned.partition("@")
    if not local or "." not in domain or len(cleaned) > 320 or " " in cleaned:
        raise DomainError("INVALID_EMAIL", f"{email!r} is not an e-mail address", ("email",))
    return cleaned


async def create_user(
    uow: UnitOfWork,
    viewer: Viewer | None,
    *,
    email: str,
    name: str,
    role: Role,
    advertiser_id: int | None = None,
    partner_id: int | None = None,
    password: str | None = None,
) -> User:
    """Admins create users (`viewer=None` is the command line, trusted). E-mail addresses are
    the sign-in names of the whole network, unique across it, so whoever may create a user
    learns whether an address is in use anywhere: only the operator may (SPEC §2 gives
    advertisers and partners no user management), and the answer to anyone else is the same
    refusal whatever the address."""
    if viewer is not None:
        _require_admin(viewer)
    cleaned = _validate_email(email)
    if role is Role.ADVERTISER and advertiser_id is None:
        raise DomainError(
            "ORGANISATION_REQUIRED", "an ADVERTISER user needs an advertier", ("advertiserId",)
        )
    if role is Role.PARTNER and partner_id is None:
        raise DomainError("ORGANISATION_REQUIRED", "a PARTNER user needs a partner", ("partnerId",))
    if (
        role is Role.ADVERTISER
        and await uow.first(select(advertisers.c.id).where(advertisers.c.id == advertiser_id))
        is None
    ):
        raise NotFound("advertiser", ("advertiserId",))
    if (
        role is Role.PARTNER
        and await uow.first(select(partners.c.id).where(partners.c.id == partner_id)) is None
    ):
        raise NotFound("partner", ("partnerId",))
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(
            "PASSWORD_TOO_SHORT",
            f"a password has at least {MIN_PASSWORD_LENGTH} characters",
            ("password",),
        )
    if await uow.first(select(users.c.id).where(users.c.email == cleaned)) is not None:
        raise DomainError("EMAIL_TAKEN", f"a user with e-mail {cleaned} exists", ("email",))
    user_id = await uow.insert(
        insert(users).values(
            email=cleaned,
            name=name.strip() or cleaned,
            role=role.value,
            advertiser_id=advertiser_id if role is Role.ADVERTISER else None,
            partner_id=partner_id if role is Role.PARTNER else None,
            password_hash=hash_password(password) if password else None,
            created_at=uow.now,
        )
    )
    row = await uow.first(select(users).where(users.c.id == user_id))
    assert row is not None
    return rows.user(row)


async def find_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    row = await uow.first(select(users).where(users.c.email == normalize_email(email)))
    return rows.user(row) if row else None


async def create_api_token(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    name: str,
    expires_at: datetime | None,
    user_id: int | None = None,
) -> NewToken:
    """A token for the viewer itself, or (admins) for another user."""
    owner = user_id if user_id is not None else viewer.user_id
    if owner != viewer.user_id:
        _require_admin(viewer)
        if await uow.first(select(users.c.id).where(users.c.id == owner)) is None:
            raise NotFound("user", ("userId",))
    if not name.strip():
        raise DomainError("BLANK", "give the token a name", ("name",))
    if expires_at is not None and expires_at <= uow.now:
        raise DomainError("EXPIRY_IN_PAST", "expiresAt must be in the future", ("expiresAt",))
    secret = new_secret(TOKEN_PREFIX)
    token_id = await uow.insert(
        insert(api_tokens).values(
            user_id=owner,
            name=name.strip()[:200],
            prefix=secret[:10],
            token_hash=hash_secret(secret),
            created_at=uow.now,
            expires_at=expires_at,
        )
    )
    row = await uow.first(select(api_tokens).where(api_tokens.c.id == token_id))
    assert row is not None
    return NewToken(rows.api_token(row), secret)


async def revoke_api_token(uow: UnitOfWork, viewer: Viewer, token_id: int) -> ApiToken:
    """Revokes a token of the viewer (admins: any token). Revoking twice is harmless. Once
    committed, the caches of authenticated tokens drop it (portal.adapters.token_cache)."""
    stmt = select(api_tokens).where(api_tokens.c.id == token_id)
    if not viewer.is_admin:
        stmt = stmt.where(api_tokens.c.user_id == viewer.user_id)
    row = await uow.first(stmt)
    if row is None:
        raise NotFound("API token", ("tokenId",))
    if row.revoked_at is None:
        await uow.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=uow.now)
        )
        row = await uow.first(select(api_tokens).where(api_tokens.c.id == token_id))
        assert row is not None
    # Also when it was revoked already: revoking again repeats a notice that may have been lost.
    forget_after_commit(uow, token_id)
    return rows.api_token(row)


async def login(uow: UnitOfWork, *, email: str, password: str, session_hours: int) -> NewSession:
    row = await uow.first(select(users).where(users.c.email == normalize_email(email)))
    if not verify_password(password, row.password_hash if row else None) or row is None:
        raise DomainError("INVALID_CREDENTIALS", "e-mail or password is wrong", ("password",))
    secret = new_secret(SESSION_PREFIX)
    csrf = csrf_token_for(secret)
    expires_at = uow.now + timedelta(hours=session_hours)
    await uow.insert(
        insert(sessions).values(
            user_id=row.id,
            token_hash=hash_secret(secret),
            csrf_hash=hash_secret(csrf),
            created_at=uow.now,
            expires_at=expires_at,
        )
    )
    return NewSession(rows.user(row), secret, csrf, expires_at)


async def logout(uow: UnitOfWork, session_secret: str) -> None:
    await uow.execute(
        update(sessions)
        .where(
            sessions.c.token_hash == hash_secret(session_secret), sessions.c.revoked_at.is_(None)
        )
        .values(revoked_at=uow.now)
    )
