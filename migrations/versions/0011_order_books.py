"""Order books (issue 12): an advertiser's orders of a program and a period (whole UTC days,
first to last inclusive), for the tracking-difference report

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.adapters.types

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _decimal(precision: int = 21, scale: int = 6) -> portal.adapters.types.ExactDecimal:
    return portal.adapters.types.ExactDecimal(precision=precision, scale=scale)


def upgrade() -> None:
    op.create_table(
        "order_books",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_value", _decimal(), nullable=False),
        sa.Column("uploaded_by", Id, nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_order_books_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_order_books_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_books")),
        sa.UniqueConstraint(
            "program_id",
            "first_day",
            "last_day",
            name=op.f("uq_order_books_program_id_first_day_last_day"),
        ),
    )
    op.create_table(
        "order_book_lines",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("book_id", Id, nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("order_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_value", _decimal(), nullable=False),
        sa.Column("original_value", _decimal(), nullable=True),
        sa.Column("original_currency", sa.String(length=3), nullable=True),
        sa.Column("exchange_rate", _decimal(28, 12), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["book_id"],
            ["order_books.id"],
            name=op.f("fk_order_book_lines_book_id_order_books"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_book_lines")),
        sa.UniqueConstraint(
            "book_id", "order_id", name=op.f("uq_order_book_lines_book_id_order_id")
        ),
    )
    op.create_index(
        op.f("ix_order_book_lines_book_id_order_time_id"),
        "order_book_lines",
        ["book_id", "order_time", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_book_lines_book_id_order_time_id"), table_name="order_book_lines")
    op.drop_table("order_book_lines")
    op.drop_table("order_books")
