"""target kinds, one conversion per order id and kind, request events, reassignments

- conversion_targets.kind (SALE or LEAD) and conversions.target_kind; an order id of a program
  has at most one conversion of each kind (it replaces the uniqueness of (order id, target,
  category), under which a re-send with another target or category was paid twice);
- conversion_request_events: every status move of a request, filled for existing requests from
  what their rows still tell;
- conversion_reassignments: conversions an accepted attribution claim moved to another partner;
- the open key of a CREATE_NEW request is the partner's own (several partners' claims of one
  order coexist), and requests of one order are found by (program, order id);
- import_errors.request_id: the request a re-uploaded row raised before (ALREADY_IMPORTED).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.adapters.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_KIND_OF_TARGET = (
    "(SELECT t.kind FROM conversion_targets t "
    "WHERE t.program_id = {table}.program_id AND t.key = {table}.target)"
)


def upgrade() -> None:
    with op.batch_alter_table("conversion_targets") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE conversion_targets SET kind = CASE WHEN key = 'LEAD' THEN 'LEAD' ELSE 'SALE' END"
    )
    with op.batch_alter_table("conversion_targets") as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=8), nullable=False)

    with op.batch_alter_table("conversions") as batch_op:
        batch_op.add_column(sa.Column("target_kind", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE conversions SET target_kind = COALESCE("
        + _KIND_OF_TARGET.format(table="conversions")
        + ", 'SALE')"
    )
    _refuse_orders_paid_twice()
    with op.batch_alter_table("conversions") as batch_op:
        batch_op.alter_column("target_kind", existing_type=sa.String(length=8), nullable=False)
        batch_op.drop_constraint(
            "uq_conversions_program_id_order_id_target_category", type_="unique"
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_conversions_program_id_order_id_target_kind"),
            ["program_id", "order_id", "target_kind"],
        )

    with op.batch_alter_table("conversion_requests") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversion_requests_program_id_order_id"), ["program_id", "order_id"]
        )
    # The open key of a CREATE_NEW request: the partner's own, per order and target kind.
    op.execute(
        "UPDATE conversion_requests SET open_key = 'order:' || program_id || ':' || COALESCE("
        + _KIND_OF_TARGET.format(table="conversion_requests")
        + ", 'SALE') || ':' || partner_id || ':' || order_id "
        "WHERE kind = 'CREATE_NEW' AND open_key IS NOT NULL"
    )

    op.create_table(
        "conversion_request_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("request_id", Id, nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", Id, nullable=True),
        sa.Column("note", sa.String(length=4000), nullable=True),
        sa.Column("created_at", portal.adapters.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_conversion_request_events_actor_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["conversion_requests.id"],
            name=op.f("fk_conversion_request_events_request_id_conversion_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_request_events")),
    )
    with op.batch_alter_table("conversion_request_events") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversion_request_events_request_id_id"), ["request_id", "id"]
        )
    _record_past_moves()

    op.create_table(
        "conversion_reassignments",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("conversion_id", Id, nullable=False),
        sa.Column("program_id", Id, nullable=False),
        sa.Column("from_partner_id", Id, nullable=False),
        sa.Column("to_partner_id", Id, nullable=False),
        sa.Column("request_id", Id, nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("tracking_time", portal.adapters.types.UtcDateTime(), nullable=False),
        sa.Column(
            "previous_commission",
            portal.adapters.types.ExactDecimal(precision=21, scale=6),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reassigned_at", portal.adapters.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["conversions.id"],
            name=op.f("fk_conversion_reassignments_conversion_id_conversions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_partner_id"],
            ["partners.id"],
            name=op.f("fk_conversion_reassignments_from_partner_id_partners"),
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_conversion_reassignments_program_id_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["conversion_requests.id"],
            name=op.f("fk_conversion_reassignments_request_id_conversion_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["to_partner_id"],
            ["partners.id"],
            name=op.f("fk_conversion_reassignments_to_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_reassignments")),
    )
    with op.batch_alter_table("conversion_reassignments") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversion_reassignments_conversion_id_revision"),
            ["conversion_id", "revision"],
        )
        batch_op.create_index(
            batch_op.f("ix_conversion_reassignments_from_partner_id_reassigned_at_id"),
            ["from_partner_id", "reassigned_at", "id"],
        )
        batch_op.create_index(
            batch_op.f("ix_conversion_reassignments_program_id_reassigned_at_id"),
            ["program_id", "reassigned_at", "id"],
        )

    with op.batch_alter_table("import_errors") as batch_op:
        batch_op.add_column(sa.Column("request_id", Id, nullable=True))


def _refuse_orders_paid_twice() -> None:
    """Orders that already have two conversions of one kind cannot get the new uniqueness:
    name them, so someone decides which conversion stays, rather than dropping one here."""
    twice = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT program_id, order_id, target_kind, COUNT(*) AS n FROM conversions "
                "GROUP BY program_id, order_id, target_kind HAVING COUNT(*) > 1 "
                "ORDER BY program_id, order_id LIMIT 20"
            )
        )
        .all()
    )
    if twice:
        listed = ", ".join(f"program {r[0]} order {r[1]!r} ({r[2]}: {r[3]})" for r in twice)
        raise RuntimeError(
            "these orders have more than one conversion of one kind (a sale or a lead); "
            f"reject or delete the extra ones before upgrading: {listed}"
        )


def _record_past_moves() -> None:
    """What the rows of existing requests still tell about their moves, as events."""
    moves = (
        # decided: INQUIRED → ACCEPTED or REJECTED, by the decider
        "SELECT id, 'INQUIRED', CASE WHEN status = 'REJECTED' THEN 'REJECTED' ELSE 'ACCEPTED' "
        "END, decided_by, decision_reason, decided_at FROM conversion_requests "
        "WHERE decided_at IS NOT NULL",
        "SELECT id, 'INQUIRED', 'WITHDRAWN', created_by, NULL, updated_at "
        "FROM conversion_requests WHERE status = 'WITHDRAWN'",
        "SELECT id, 'ACCEPTED', 'FAILED', NULL, failure, updated_at "
        "FROM conversion_requests WHERE status = 'FAILED'",
        "SELECT id, 'ACCEPTED', 'PROCESSED', NULL, NULL, processed_at "
        "FROM conversion_requests WHERE processed_at IS NOT NULL",
    )
    for select in moves:
        op.execute(
            "INSERT INTO conversion_request_events "
            "(request_id, from_status, to_status, actor_user_id, note, created_at) " + select
        )


def downgrade() -> None:
    with op.batch_alter_table("import_errors") as batch_op:
        batch_op.drop_column("request_id")

    with op.batch_alter_table("conversion_reassignments") as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_reassignments_program_id_reassigned_at_id"))
        batch_op.drop_index(
            batch_op.f("ix_conversion_reassignments_from_partner_id_reassigned_at_id")
        )
        batch_op.drop_index(batch_op.f("ix_conversion_reassignments_conversion_id_revision"))
    op.drop_table("conversion_reassignments")

    with op.batch_alter_table("conversion_request_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_request_events_request_id_id"))
    op.drop_table("conversion_request_events")

    op.execute(
        "UPDATE conversion_requests SET open_key = 'order:' || program_id || ':' || target || "
        "':' || category || ':' || order_id WHERE kind = 'CREATE_NEW' AND open_key IS NOT NULL"
    )
    with op.batch_alter_table("conversion_requests") as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversion_requests_program_id_order_id"))

    with op.batch_alter_table("conversions") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_conversions_program_id_order_id_target_kind"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_conversions_program_id_order_id_target_category",
            ["program_id", "order_id", "target", "category"],
        )
        batch_op.drop_column("target_kind")

    with op.batch_alter_table("conversion_targets") as batch_op:
        batch_op.drop_column("kind")
