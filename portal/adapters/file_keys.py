"""The open keys of the rows an import pass has accepted so far, in a temporary table of the
connection that checks the file: a later row asking for the same order or conversion is a
duplicate in the file, in a dry run too, where no request is written. The table lives as long
as the pass (dropped at its end) and memory stays bounded by one batch, whatever the file."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

TABLE = "portal_import_file_keys"
_CHUNK = 400


async def create(conn: AsyncConnection) -> None:
    await drop(conn)
    collate = ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""  # as open_key
    await conn.execute(
        text(f"CREATE TEMPORARY TABLE {TABLE} (open_key VARCHAR(400){collate} PRIMARY KEY)")
    )


async def drop(conn: AsyncConnection) -> None:
    await conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))


async def seen(conn: AsyncConnection, keys: Sequence[str]) -> set[str]:
    """The keys among `keys` recorded earlier in this pass."""
    if not keys:
        return set()
    if conn.dialect.name == "postgresql":
        stmt = text(f"SELECT open_key FROM {TABLE} WHERE open_key = ANY(:keys)").bindparams(
            bindparam("keys", type_=ARRAY(String()))
        )
        return set((await conn.execute(stmt, {"keys": list(keys)})).scalars())
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        stmt = text(f"SELECT open_key FROM {TABLE} WHERE open_key IN :keys").bindparams(
            bindparam("keys", expanding=True)
        )
        found.update(
            (await conn.execute(stmt, {"keys": list(keys[start : start + _CHUNK])})).scalars()
        )
    return found


async def record(conn: AsyncConnection, keys: Sequence[str]) -> None:
    """Records `keys` (none of them recorded yet, no two alike)."""
    if not keys:
        return
    if conn.dialect.name == "postgresql":
        stmt = text(f"INSERT INTO {TABLE} (open_key) SELECT unnest(:keys)").bindparams(
            bindparam("keys", type_=ARRAY(String()))
        )
        await conn.execute(stmt, {"keys": list(keys)})
        return
    await conn.execute(
        text(f"INSERT INTO {TABLE} (open_key) VALUES (:key)"), [{"key": k} for k in keys]
    )
