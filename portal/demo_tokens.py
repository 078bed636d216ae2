"""The demo tokens `make run` prints: minted once, kept in the data directory
(`demo-tokens.json`, readable by its owner only) and printed again on every start while
they work. One that was revoked, has expired or expires within a day is replaced."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.credentials import find_token
from portal.adapters.unit_of_work import UnitOfWork
from portal.demo_data import DEMO_USERS
from portal.services import access

TOKEN_NAME = "make run (demo)"
LIFETIME = timedelta(days=30)
RENEW_BEFORE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DemoToken:
    role: str
    secret: str
    expires_at: datetime
    reused: bool


def tokens_file(data_dir: Path) -> Path:
    return data_dir / "demo-tokens.json"


def _saved(path: Path) -> dict[str, str]:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in saved.items() if isinstance(k, str) and isinstance(v, str)}


async def demo_tokens(engine: AsyncEngine, data_dir: Path) -> list[DemoToken]:
    """A working token per demo user: the saved one, or a new one (then saved)."""
    path = tokens_file(data_dir)
    saved = _saved(path)
    tokens: list[DemoToken] = []
    async with UnitOfWork(engine) as uow:
        for role, email in DEMO_USERS.items():
            user = await access.find_user_by_email(uow, email)
            if user is None:
                raise LookupError(f"demo user {email} is missing")
            known = await find_token(uow.conn, saved[role]) if role in saved else None
            if (
                known is not None
                and known.user_id == user.id
                and known.revoked_at is None
                and known.expires_at is not None
                and known.expires_at - uow.now > RENEW_BEFORE
            ):
                tokens.append(DemoToken(role, saved[role], known.expires_at, reused=True))
                continue
            created = await access.create_api_token(
                uow, user.as_viewer(), name=TOKEN_NAME, expires_at=uow.now + LIFETIME
            )
            assert created.token.expires_at is not None
            tokens.append(DemoToken(role, created.secret, created.token.expires_at, False))
        await uow.commit()
    if any(not t.reused for t in tokens):
        _write_private(path, json.dumps({t.role: t.secret for t in tokens}, indent=2))
    return tokens


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    path.chmod(0o600)
