"""Signing in with e-mail and password, throttled (`portal.domain.login_backoff`).

Each attempt is counted against the account — or, from a browser that signed in to that
account before (it shows a device token), against that device — and against the client
address. While a counter makes the attempt wait, the password is not even checked: a refused
attempt tells nothing about it. The counters are keyed by a digest of the address typed, so
an unknown address is throttled exactly like a known one."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from portal.adapters.login_attempts import Counter, LoginAttempts
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain import login_backoff
from portal.domain.access import normalize_email
from portal.domain.errors import DomainError
from portal.services.access import NewSession, login


class TooManyAttempts(DomainError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "TOO_MANY_ATTEMPTS",
            f"too many failed sign-ins; retry in {retry_after_seconds} s",
        )
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class SignedIn:
    session: NewSession
    device_token: str  # for the browser to show at its next sign-in to this account


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _signature(account: str, nonce: str, secret_key: str) -> str:
    message = f"device\n{account}\n{nonce}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def new_device_token(account: str, secret_key: str) -> str:
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_signature(account, nonce, secret_key)}"


def known_device(token: str | None, account: str, secret_key: str) -> str | None:
    """The device's nonce when `token` was issued to a browser that signed in to `account`."""
    if not token or token.count(".") != 1:
        return None
    nonce, signature = token.split(".")
    if not nonce or not hmac.compare_digest(signature, _signature(account, nonce, secret_key)):
        return None
    return nonce


def counters(account: str, device: str | None, address: str) -> list[Counter]:
    first = (
        Counter(f"device:{_digest(device)}", login_backoff.ACCOUNT, forget_on_success=True)
        if device
        else Counter(f"account:{_digest(account)}", login_backoff.ACCOUNT, forget_on_success=True)
    )
    return [first, Counter(f"address:{address}", login_backoff.ADDRESS, forget_on_success=False)]


async def sign_in(
    uow: UnitOfWork,
    attempts: LoginAttempts,
    secret_key: str,
    *,
    email: str,
    password: str,
    address: str,
    device_token: str | None,
    session_hours: int,
) -> SignedIn:
    """A session, or TooManyAttempts (nothing checked), or INVALID_CREDENTIALS (counted)."""
    account = normalize_email(email)
    device = known_device(device_token, account, secret_key)
    counted = counters(account, device, address)
    wait = await attempts.begin(counted)
    if wait:
        raise TooManyAttempts(wait)
    try:
        session = await login(uow, email=email, password=password, session_hours=session_hours)
    except DomainError:
        await attempts.failed(counted)
        raise
    await attempts.succeeded(counted)
    token = device_token if device and device_token else new_device_token(account, secret_key)
    return SignedIn(session, token)
