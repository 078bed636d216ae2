"""Shopping-cart mapping (issue 16): effective-dated mapping versions per program, and the
program setting `strict_tracking_categories` (existing programs keep accepting unknown keys as
`default`; new programs are created strict)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "strict_tracking_categories",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.create_table(
        "cart_mapping_versions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule_count", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_cart_mapping_versions_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_cart_mapping_versions_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_mapping_versions")),
        sa.UniqueConstraint(
            "program_id", "valid_from", name=op.f("uq_cart_mapping_versions_program_id_valid_from")
        ),
    )


def downgrade() -> None:
    op.drop_table("cart_mapping_versions")
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_column("strict_tracking_categories")
