"""Settings, read once from the environment (`PORTAL_*`)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    """Where the embedded mode keeps its database, secret key and files unless
    PORTAL_DATA_DIR says otherwise: `$XDG_DATA_HOME/portal`, i.e. `~/.local/share/portal`.
    It does not depend on the working directory, so `portal token` run anywhere finds the
    database `portal serve` made."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "portal"


def data_dir_from_env() -> Path:
    given = os.environ.get("PORTAL_DATA_DIR")
    return Path(given).expanduser().resolve() if given else default_data_dir()


def database_url_from_env(data_dir: Path | None = None) -> str:
    url = os.environ.get("PORTAL_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{(data_dir or data_dir_from_env()) / 'portal.db'}"


SOURCE_OPERATIONS_DIR = Path(__file__).resolve().parents[1] / "frontend_contract" / "operations"
"""The dashboards' operations, the default trusted documents when running from a checkout."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


class SettingError(ValueError):
    """A PORTAL_* variable with a value portal cannot use; the message names it and what it
    takes, and the command stops with that one line (portal.cli_errors)."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingError(f"{name} must be a whole number, not {raw!r}") from None


def _retention_days(name: str, default: int) -> int:
    from portal.domain.events import retention_problem

    value = _int(name, default)
    if (problem := retention_problem(value)) is not None:
        raise SettingError(f"{name} must be {problem}")
    return value


def _secret_key(data_dir: Path) -> str:
    """PORTAL_SECRET_KEY, else a key generated once and kept in the data directory (embedded
    mode only: a second instance would need the same key, so production sets the variable)."""
    if key := os.environ.get("PORTAL_SECRET_KEY"):
        return key
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _default_operations_dir() -> Path | None:
    return SOURCE_OPERATIONS_DIR if SOURCE_OPERATIONS_DIR.is_dir() else None


def _trusted_documents_dir() -> Path | None:
    raw = os.environ.get("PORTAL_TRUSTED_DOCUMENTS_DIR")
    return Path(raw) if raw else _default_operations_dir()


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_dir: Path
    cors_origins: tuple[str, ...] = ()
    cookie_secure: bool = False
    graphiql: bool = True
    introspection: bool = True
    session_hours: int = 12
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_query_cost: int = 50_000
    rate_limit_capacity: int = 200_000
    rate_limit_restore_rate: int = 10_000
    trusted_documents_dir: Path | None = field(default_factory=_default_operations_dir)
    trusted_documents_only: bool = False
    # Anonymous requests (login, introspection) are charged per client address.
    anonymous_rate_limit_capacity: int = 2_000
    anonymous_rate_limit_restore_rate: int = 100
    # The compiled read path for dashboard connections (portal.schema.compiled).
    compiled_reads: bool = True
    # How long an authenticated API token is trusted without reading the database again
    # (portal.adapters.token_cache); 0: read it on every request.
    token_cache_seconds: int = 30
    # How long the events outbox keeps an event whose webhook deliveries are all final
    # (portal.services.webhooks.prune_events).
    event_retention_days: int = 90
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = data_dir_from_env()
        origins = os.environ.get("PORTAL_CORS_ORIGINS", "")
        return cls(
            database_url=database_url_from_env(data_dir),
            redis_url=os.environ.get("PORTAL_REDIS_URL") or None,
            secret_key=_secret_key(data_dir),
            data_dir=data_dir,
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            cookie_secure=_bool("PORTAL_COOKIE_SECURE", False),
            graphiql=_bool("PORTAL_GRAPHIQL", True),
            introspection=_bool("PORTAL_INTROSPECTION", True),
            session_hours=_int("PORTAL_SESSION_HOURS", 12),
            max_query_cost=_int("PORTAL_MAX_QUERY_COST", 50_000),
            max_depth=_int("PORTAL_MAX_DEPTH", 12),
            max_aliases=_int("PORTAL_MAX_ALIASES", 30),
            max_tokens=_int("PORTAL_MAX_TOKENS", 5000),
            rate_limit_capacity=_int("PORTAL_RATE_LIMIT_CAPACITY", 200_000),
            rate_limit_restore_rate=_int("PORTAL_RATE_LIMIT_RESTORE_RATE", 10_000),
            trusted_documents_dir=_trusted_documents_dir(),
            trusted_documents_only=_bool("PORTAL_TRUSTED_DOCUMENTS_ONLY", False),
            anonymous_rate_limit_capacity=_int("PORTAL_ANONYMOUS_RATE_LIMIT_CAPACITY", 2_000),
            anonymous_rate_limit_restore_rate=_int("PORTAL_ANONYMOUS_RATE_LIMIT_RESTORE_RATE", 100),
            compiled_reads=_bool("PORTAL_COMPILED_READS", True),
            token_cache_seconds=max(0, _int("PORTAL_TOKEN_CACHE_SECONDS", 30)),
            event_retention_days=_retention_days("PORTAL_EVENT_RETENTION_DAYS", 90),
        )
