"""The daily statistics rollups (issue 12): count and sums of conversions per program, UTC day,
partner, currency and status, and the same per program, filled from the conversions there are

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-03 08:10:00
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MICROS = Decimal(1_000_000)


def upgrade() -> None:
    op.create_table(
        "statistics_daily",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("partner_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conversion_count", sa.BigInteger(), nullable=False),
        sa.Column("order_value_micros", sa.BigInteger(), nullable=False),
        sa.Column("commission_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_statistics_daily_program_id_programs"
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name="fk_statistics_daily_partner_id_partners"
        ),
        sa.PrimaryKeyConstraint(
            "program_id", "day", "partner_id", "currency", "status", name="pk_statistics_daily"
        ),
    )
    op.create_index(
        "ix_statistics_daily_partner_id_day", "statistics_daily", ["partner_id", "day"]
    )
    op.create_table(
        "statistics_daily_programs",
        sa.Column("program_id", Id, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conversion_count", sa.BigInteger(), nullable=False),
        sa.Column("order_value_micros", sa.BigInteger(), nullable=False),
        sa.Column("commission_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_statistics_daily_programs_program_id_programs"
        ),
        sa.PrimaryKeyConstraint(
            "program_id", "day", "currency", "status", name="pk_statistics_daily_programs"
        ),
    )
    _fill()
    op.execute(
        "INSERT INTO statistics_daily_programs (program_id, day, currency, status,"
        " conversion_count, order_value_micros, commission_micros)"
        " SELECT program_id, day, currency, status, sum(conversion_count),"
        " sum(order_value_micros), sum(commission_micros)"
        " FROM statistics_daily GROUP BY program_id, day, currency, status"
    )


def _fill() -> None:
    """The rollup of the conversions already stored (the same sums the stores keep from now on)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "INSERT INTO statistics_daily (program_id, day, partner_id, currency, status,"
            " conversion_count, order_value_micros, commission_micros)"
            " SELECT program_id, (tracking_time AT TIME ZONE 'UTC')::date, partner_id, currency,"
            " status, count(*), sum(order_value * 1000000)::bigint,"
            " sum(commission * 1000000)::bigint FROM conversions GROUP BY 1, 2, 3, 4, 5"
        )
        return
    # SQLite keeps amounts as text: sum them exactly here.
    sums: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = bind.execute(
        sa.text(
            "SELECT program_id, tracking_time, partner_id, currency, status, order_value,"
            " commission FROM conversions"
        )
    )
    for program_id, tracking_time, partner_id, currency, status, value, commission in rows:
        moment = datetime.fromisoformat(str(tracking_time))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        key = (program_id, moment.date(), partner_id, currency, status)
        entry = sums[key]
        entry[0] += 1
        entry[1] += int(Decimal(str(value)) * MICROS)
        entry[2] += int(Decimal(str(commission)) * MICROS)
    if sums:
        table = sa.table(
            "statistics_daily",
            sa.column("program_id", Id),
            sa.column("day", sa.Date()),
            sa.column("partner_id", Id),
            sa.column("currency", sa.String()),
            sa.column("status", sa.String()),
            sa.column("conversion_count", sa.BigInteger()),
            sa.column("order_value_micros", sa.BigInteger()),
            sa.column("commission_micros", sa.BigInteger()),
        )
        op.bulk_insert(
            table,
            [
                {
                    "program_id": k[0],
                    "day": k[1],
                    "partner_id": k[2],
                    "currency": k[3],
                    "status": k[4],
                    "conversion_count": v[0],
                    "order_value_micros": v[1],
                    "commission_micros": v[2],
                }
                for k, v in sums.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("statistics_daily_programs")
    op.drop_index("ix_statistics_daily_partner_id_day", table_name="statistics_daily")
    op.drop_table("statistics_daily")
