"""How the command line fails: one line on stderr naming what went wrong, a non-zero exit
status, no traceback (`PORTAL_DEBUG=1` shows it)."""

from __future__ import annotations

import os
import sys

from portal.observability.logs import redact


class CliError(Exception):
    """A failure the user can act on; the message is the whole line."""


def describe(error: BaseException) -> str:
    """One line for an exception that reached the top of a command."""
    import httpx
    from sqlalchemy.exc import DBAPIError

    from portal.config import SettingError
    from portal.domain.errors import DomainError

    if isinstance(error, CliError | SettingError):
        return str(error)
    if isinstance(error, DomainError):
        return f"{error.code}: {error.message}"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        url = error.request.url if _has_request(error) else "the server"
        return f"cannot reach {url}: {_first_line(error)}; is `portal serve` running there?"
    if isinstance(error, httpx.HTTPError):
        return f"HTTP request failed: {_first_line(error)}"
    if isinstance(error, DBAPIError):
        original = error.orig if error.orig is not None else error
        return f"the database refused or did not answer: {_first_line(original)}"
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"cannot open {error.filename}: {error.strerror}"
    if isinstance(error, OSError):
        return f"{error.strerror or _first_line(error)}"
    return f"{type(error).__name__}: {_first_line(error)} (PORTAL_DEBUG=1 shows the traceback)"


def _has_request(error: BaseException) -> bool:
    try:
        error.request  # type: ignore[attr-defined]  # noqa: B018
    except RuntimeError:
        return False
    return True


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return redact(text[0] if text else type(error).__name__)[:300]


def report(command: str, error: BaseException) -> int:
    if os.environ.get("PORTAL_DEBUG"):
        raise error
    print(f"portal {command}: error: {describe(error)}", file=sys.stderr)
    return 1
