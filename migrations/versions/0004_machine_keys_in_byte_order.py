"""idempotency and open keys of conversion requests compared in byte order (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("idempotency_key", 200), ("open_key", 400))


def upgrade() -> None:
    # Rebuilds the two unique indexes; SQLite compares bytes already.
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in _COLUMNS:
        op.execute(
            f'ALTER TABLE conversion_requests ALTER COLUMN {name} TYPE VARCHAR({length}) COLLATE "C"'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, length in _COLUMNS:
        op.execute(
            f"ALTER TABLE conversion_requests ALTER COLUMN {name} TYPE VARCHAR({length}) "
            "COLLATE pg_catalog.\"default\""
        )
