"""The database a command works on: the server's (PORTAL_DATABASE_URL, or the SQLite file in
the data directory), refused with one clear line when it is missing or not migrated — a
command never creates an empty database of its own."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.database import create_engine, database_revisions, head_revisions
from portal.cli_errors import CliError
from portal.config import data_dir_from_env, database_url_from_env


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


async def existing_database() -> AsyncEngine:
    """An engine on the configured database, which exists and is at the latest migration."""
    url = database_url_from_env()
    file = sqlite_file(url)
    if file is not None and not file.exists():
        raise CliError(
            f"no database at {file}: start `portal serve` once (or run `portal migrate`), or "
            f"set PORTAL_DATA_DIR to the server's data directory (now {data_dir_from_env()})"
        )
    engine = create_engine(url)
    try:
        current = await database_revisions(engine)
        if not current:
            raise CliError("the database has no portal tables yet: run `portal migrate` first")
        if current != head_revisions():
            raise CliError(
                f"the database is at migration {', '.join(sorted(current))}, this portal needs "
                f"{', '.join(sorted(head_revisions()))}: run `portal migrate`"
            )
    except BaseException:
        await engine.dispose()
        raise
    return engine
