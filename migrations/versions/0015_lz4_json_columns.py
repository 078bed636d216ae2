"""LZ4 instead of pglz for the JSON columns written in bulk (PostgreSQL ≥ 14 built with lz4;
elsewhere nothing changes).

A conversion with a basket of 10 positions carries about 5 KB of JSON (its basket and its
commission breakdown), its revision and event another 1.8 KB: PostgreSQL compresses every
such value over 2 KB when it stores it. With lz4 instead of pglz, recording an order costs
PostgreSQL about a quarter less CPU (bench/cart_mapping.py --served: 0.20–0.22 → 0.14–0.17 ms
per order). Requests' breakdowns and mapping versions' rules (large, written less often) take
lz4 too. Values already stored stay as they are (PostgreSQL reads either).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("conversions", "basket"),
    ("conversions", "commission_breakdown"),
    ("conversion_revisions", "changes"),
    ("conversion_requests", "commission_breakdown"),
    ("events", "payload"),
    ("cart_mapping_versions", "rules"),
)


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
            "WHERE name = 'default_toast_compression'"
        )
    ).scalar()
    return bool(found)


def upgrade() -> None:
    if _lz4_available():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
