"""Logging for every portal process: `portal serve` (each uvicorn worker), `portal worker`
and the command line.

- `PORTAL_LOG_FORMAT=json`: one JSON object per line (production, log shippers);
  `text` (the default): readable lines for a terminal.
- `PORTAL_LOG_LEVEL`: `INFO` by default.

Every line carries the id of the request or job it belongs to (portal.observability.scope).
Every line is redacted as a whole, the traceback included: API tokens, session and CSRF
secrets, bearer credentials, passwords, the secret key, URL passwords and e-mail addresses
never reach a log line. Redaction is the last line of defence, not the first: no code logs
such values on purpose (the tests search every record of a run for them)."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from portal.observability.scope import current_scope

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A password in a URL (postgresql://user:secret@host) before the e-mail rule sees user@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1[redacted]@"),
    (re.compile(r"\b(ptk|pts|csrf)_[A-Za-z0-9_-]{6,}"), r"\1_[redacted]"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(password|secret)(\s*[:=]\s*)[^\s,;&]+"), r"\1\2[redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[e-mail]"),
)
# Fields whose value is a secret whatever it looks like.
_SECRET_KEYS = re.compile(r"(?i)password|secret|token$|authorization|cookie|csrf")
_HANDLER_MARK = "_portal_handler"
_literal_secrets: tuple[str, ...] = ()


def redact(text: str) -> str:
    for secret in _literal_secrets:
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _logger_name(record: logging.LogRecord) -> str:
    # uvicorn logs its start-up and errors alike as "uvicorn.error".
    return "uvicorn" if record.name == "uvicorn.error" else record.name


def _context() -> dict[str, Any]:
    scope = current_scope.get()
    if scope is None:
        return {}
    return {f"{scope.kind}_id": scope.id}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


def _redacted(key: str, value: Any) -> Any:
    """A field's value as it may be logged (JSON lines are redacted value by value, so they
    stay valid JSON)."""
    if _SECRET_KEYS.search(key) and value is not None:
        return "[redacted]"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redacted("", v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": _logger_name(record),
            "msg": redact(record.getMessage()),
            **_context(),
        }
        for key, value in _fields(record).items():
            line[key] = _redacted(key, value)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        extra = {**_context(), **_fields(record)}
        pairs = " ".join(
            f"{key}={_text_value(_redacted(key, value))}" for key, value in extra.items()
        )
        line = f"{stamp} {record.levelname:<7} {_logger_name(record)}: {record.getMessage()}"
        if pairs:
            line += "  " + pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def configure_logging(
    *,
    format: str | None = None,
    level: str | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Installs portal's handler on the root logger (replacing one installed before), so the
    records of every library (uvicorn, arq, SQLAlchemy warnings) share format and redaction."""
    global _literal_secrets
    _literal_secrets = tuple(s for s in secrets if len(s) >= 8)
    chosen = (format or os.environ.get("PORTAL_LOG_FORMAT") or "text").lower()
    if chosen not in ("json", "text"):
        raise ValueError(f"PORTAL_LOG_FORMAT must be json or text, not {chosen!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("PORTAL_LOG_LEVEL") or "INFO").upper())
    # Our request line replaces uvicorn's access line (which would print query strings).
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "aiosqlite", "asyncio", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
