"""The relational schema, as SQLAlchemy Core tables. Migrations are generated against this."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    false,
)

from portal.adapters.types import ExactDecimal, UtcDateTime

# Named constraints keep SQLite batch migrations and PostgreSQL migrations identical.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


def machine_key(length: int) -> String:
    """Text that only machines compare (idempotency and open keys): byte order on PostgreSQL
    (`COLLATE "C"`), where the database's linguistic collation makes every comparison of a
    unique-index insert or lookup several times slower. SQLite compares bytes anyway."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _fk(
    name: str, target: str, *, nullable: bool = False, ondelete: str | None = None
) -> Column[int]:
    return Column(name, Id, ForeignKey(target, ondelete=ondelete), nullable=nullable)


advertisers = Table(
    "advertisers",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

partners = Table(
    "partners",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("payout_currency", String(3), nullable=False),
    Column("country", String(2), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    _fk("advertiser_id", "advertisers.id", nullable=True),
    _fk("partner_id", "partners.id", nullable=True),
    Column("password_hash", String(200), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("csrf_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

programs = Table(
    "programs",
    metadata,
    _id(),
    _fk("advertiser_id", "advertisers.id"),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cookie_lifetime_days", Integer(), nullable=False),
    Column("consent_mode", String(16), nullable=False),
    Column("follow_up_policy", String(32), nullable=False),
    Column("follow_up_window_days", Integer(), nullable=False),
    Column("allow_self_acceptance", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("publicly_listed", Boolean(), nullable=False, server_default=false()),
    # Issue 16 (cart mapping): existing programs keep accepting unknown keys as `default`.
    Column("strict_tracking_categories", Boolean(), nullable=False, server_default=false()),
    Index(None, "advertiser_id"),
)

tracking_categories = Table(
    "tracking_categories",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("active", Boolean(), nullable=False),
    UniqueConstraint("program_id", "key"),
)

conversion_targets = Table(
    "conversion_targets",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("active", Boolean(), nullable=False),
    Column("kind", String(8), nullable=False),  # TargetKind: SALE or LEAD
    UniqueConstraint("program_id", "key"),
)

conversion_notes = Table(
    "conversion_notes",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("code", String(64), nullable=False),
    Column("text", String(500), nullable=False),
    UniqueConstraint("program_id", "code"),
)

commission_models = Table(
    "commission_models",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("name", String(200), nullable=False),
    Column("discount_rating", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("program_id", "name"),
)

commission_periods = Table(
    "commission_periods",
    metadata,
    _id(),
    _fk("model_id", "commission_models.id", ondelete="CASCADE"),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_to", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "model_id", "valid_from"),
)

commission_rates = Table(
    "commission_rates",
    metadata,
    _id(),
    _fk("period_id", "commission_periods.id", ondelete="CASCADE"),
    Column("target", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("percentage", ExactDecimal(9, 4), nullable=True),
    Column("fixed_amount", ExactDecimal(), nullable=True),
    UniqueConstraint("period_id", "target", "category"),
)

relationships = Table(
    "relationships",
    metadata,
    _id(),
    _fk("partner_id", "partners.id"),
    _fk("program_id", "programs.id"),
    Column("status", String(16), nullable=False),
    _fk("commission_model_id", "commission_models.id", nullable=True),
    Column("follow_up_policy", String(32), nullable=True),
    Column("follow_up_window_days", Integer(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("partner_id", "program_id"),
    Index(None, "program_id"),
)

conversions = Table(
    "conversions",
    metadata,
    _id(),
    _fk("program_id", "programs.id"),
    _fk("partner_id", "partners.id"),
    Column("order_id", String(200), nullable=False),
    Column("target", String(64), nullable=False),
    # The kind of the target (TargetKind): an order id has at most one conversion of each kind,
    # so an order is never paid twice, whatever target or category a re-send names.
    Column("target_kind", String(8), nullable=False),
    Column("category", String(64), nullable=False),
    Column("tracking_time", UtcDateTime(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("order_value", ExactDecimal(), nullable=False),
    Column("commission", ExactDecimal(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("commission_model_name", String(200), nullable=True),
    Column("commission_breakdown", JSON(), nullable=False),
    Column("commission_overridden", Boolean(), nullable=False),
    Column("original_order_value", ExactDecimal(), nullable=True),
    Column("original_currency", String(3), nullable=True),
    Column("exchange_rate", ExactDecimal(28, 12), nullable=True),
    Column("conversion_note", String(64), nullable=True),
    Column("sub_id_1", String(255), nullable=True),
    Column("sub_id_2", String(255), nullable=True),
    Column("sub_id_3", String(255), nullable=True),
    Column("sub_id_4", String(255), nullable=True),
    Column("sub_id_5", String(255), nullable=True),
    Column("sub_id_6", String(255), nullable=True),
    Column("device", String(32), nullable=True),
    Column("basket", JSON(), nullable=False),
    Column("customer_id_hash", String(64), nullable=True),
    Column("email_hash", String(64), nullable=True),
    Column("payout_entry_id", Id, nullable=True),
    # Billing (migration 0009): true while the payout entry is a PREVIEW (reserved), false once
    # it is CONFIRMED or PAID (paid); see domain.conversions.check_conversion_may_change.
    Column("payout_reserved", Boolean(), nullable=False, server_default=false()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("program_id", "order_id", "target_kind"),
    Index(None, "partner_id", "tracking_time", "id"),
    Index(None, "program_id", "tracking_time", "id"),
    Index(None, "tracking_time", "id"),
    Index(None, "program_id", "customer_id_hash"),
    Index(None, "program_id", "email_hash"),
)

# Sums of `conversions` per program, partner, UTC day, currency and status, kept in the same
# transaction as every write of a conversion (adapters/statistics_rollup.py): dashboards read
# these instead of a million conversions. Amounts in integer micro-units (exact on SQLite too).
statistics_daily = Table(
    "statistics_daily",
    metadata,
    _fk("program_id", "programs.id"),
    _fk("partner_id", "partners.id"),
    Column("day", Date(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("conversion_count", BigInteger(), nullable=False),
    Column("order_value_micros", BigInteger(), nullable=False),
    Column("commission_micros", BigInteger(), nullable=False),
    PrimaryKeyConstraint("program_id", "day", "partner_id", "currency", "status"),
    Index(None, "partner_id", "day"),
)
# The same sums without the partner: what a program's or an advertiser's dashboard reads
# (a twentieth of the rows of `statistics_daily`).
statistics_daily_programs = Table(
    "statistics_daily_programs",
    metadata,
    _fk("program_id", "programs.id"),
    Column("day", Date(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("conversion_count", BigInteger(), nullable=False),
    Column("order_value_micros", BigInteger(), nullable=False),
    Column("commission_micros", BigInteger(), nullable=False),
    PrimaryKeyConstraint("program_id", "day", "currency", "status"),
)

conversion_revisions = Table(
    "conversion_revisions",
    metadata,
    _id(),
    _fk("conversion_id", "conversions.id", ondelete="CASCADE"),
    Column("number", Integer(), nullable=False),
    Column("source", String(16), nullable=False),
    _fk("actor_user_id", "users.id", nullable=True),
    Column("request_id", Id, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("changes", JSON(), nullable=False),
    UniqueConstraint("conversion_id", "number"),
)

exchange_rates = Table(
    "exchange_rates",
    metadata,
    _id(),
    Column("base", String(3), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("day", Date(), nullable=False),
    Column("rate", ExactDecimal(28, 12), nullable=False),
    UniqueConstraint("base", "currency", "day"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _id(),
    _fk("user_id", "users.id", ondelete="CASCADE"),
    Column("mutation", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("result_id", Id, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("user_id", "mutation", "key"),
)

conversion_requests = Table(
    "conversion_requests",
    metadata,
    _id(),
    _fk("program_id", "programs.id"),
    _fk("partner_id", "partners.id"),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _fk("conversion_id", "conversions.id", nullable=True),
    # What the request asks for (CHANGE_EXISTING: null = unchanged).
    Column("order_id", String(200), nullable=True),
    Column("target", String(64), nullable=True),
    Column("category", String(64), nullable=True),
    Column("tracking_time", UtcDateTime(), nullable=True),
    Column("order_value", ExactDecimal(), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("requested_status", String(16), nullable=True),
    Column("requested_commission", ExactDecimal(), nullable=True),
    Column("sub_ids", JSON(), nullable=True),
    Column("device", String(32), nullable=True),
    Column("conversion_note", String(64), nullable=True),
    Column("comment", String(2000), nullable=True),
    # The rating assigned at creation (the rate in effect at the tracking time).
    Column("commission", ExactDecimal(), nullable=True),
    Column("commission_currency", String(3), nullable=True),
    Column("commission_model_name", String(200), nullable=True),
    Column("commission_breakdown", JSON(), nullable=True),
    _fk("created_by", "users.id"),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    _fk("decided_by", "users.id", nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decision_note", String(64), nullable=True),
    Column("decision_reason", String(2000), nullable=True),
    Column("failure", String(4000), nullable=True),
    Column("processed_at", UtcDateTime(), nullable=True),
    Column("attempts", Integer(), nullable=False),
    Column("idempotency_key", machine_key(200), nullable=True),
    # The order key of an open request, so two open requests for one order cannot coexist
    # (set while INQUIRED/ACCEPTED/FAILED, cleared when final).
    Column("open_key", machine_key(400), nullable=True),
    UniqueConstraint("open_key"),
    UniqueConstraint("created_by", "idempotency_key"),
    Index(None, "program_id", "created_at", "id"),
    Index(None, "partner_id", "created_at", "id"),
    Index(None, "status", "created_at", "id"),
    Index(None, "conversion_id"),
    Index(None, "program_id", "order_id"),  # the requests for one order (competing claims)
)

# Every move of a request's status (SPEC §6), appended by the one transition function and never
# changed: who (null: the system), when, from, to, and a note (the reason, the failure).
conversion_request_events = Table(
    "conversion_request_events",
    metadata,
    _id(),
    _fk("request_id", "conversion_requests.id", ondelete="CASCADE"),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    _fk("actor_user_id", "users.id", nullable=True),
    Column("note", String(4000), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "request_id", "id"),
)

# A conversion that an accepted attribution claim moved from one partner to another: what the
# former partner may still see of it (its own former commission), and for the advertiser who
# claimed it through which request. `revision` is the conversion revision the move wrote.
conversion_reassignments = Table(
    "conversion_reassignments",
    metadata,
    _id(),
    _fk("conversion_id", "conversions.id", ondelete="CASCADE"),
    _fk("program_id", "programs.id"),
    _fk("from_partner_id", "partners.id"),
    _fk("to_partner_id", "partners.id"),
    _fk("request_id", "conversion_requests.id", nullable=True),
    Column("revision", Integer(), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("target", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("tracking_time", UtcDateTime(), nullable=False),
    Column("previous_commission", ExactDecimal(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reassigned_at", UtcDateTime(), nullable=False),
    Index(None, "from_partner_id", "reassigned_at", "id"),
    Index(None, "program_id", "reassigned_at", "id"),
    Index(None, "conversion_id", "revision"),
)

conversion_request_comments = Table(
    "conversion_request_comments",
    metadata,
    _id(),
    _fk("request_id", "conversion_requests.id", ondelete="CASCADE"),
    _fk("author_id", "users.id"),
    Column("visibility", String(16), nullable=False),
    Column("body", String(2000), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "request_id", "created_at", "id"),
)

jobs = Table(
    "jobs",
    metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    _fk("created_by", "users.id"),
    Column("parameters", JSON(), nullable=False),
    Column("format", String(8), nullable=True),
    Column("processed", Integer(), nullable=False),
    Column("total", Integer(), nullable=True),
    Column("created_count", Integer(), nullable=False),
    Column("error_count", Integer(), nullable=False),
    Column("file_path", String(500), nullable=True),
    Column("file_sha256", String(64), nullable=True),
    Column("error", String(4000), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    # Set while RUNNING, with every step of progress: a job whose worker died stops beating.
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("attempts", Integer(), nullable=False, server_default="0"),  # runs started
    Column("finished_at", UtcDateTime(), nullable=True),
    Index(None, "created_by", "created_at", "id"),
)

import_errors = Table(
    "import_errors",
    metadata,
    _id(),
    _fk("job_id", "jobs.id", ondelete="CASCADE"),
    Column("row", Integer(), nullable=False),
    Column("column", String(64), nullable=True),
    Column("value", String(500), nullable=True),
    Column("code", String(64), nullable=False),
    Column("message", String(1000), nullable=False),
    # ALREADY_IMPORTED rows: the request an earlier upload of the file raised.
    Column("request_id", Id, nullable=True),
    Index(None, "job_id", "row", "id"),
)


# --- Issue 16: shopping-cart mapping ------------------------------------------------------------

cart_mapping_versions = Table(
    "cart_mapping_versions",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("rule_count", Integer(), nullable=False),
    # The ordered rules as JSON (`cart_mapping_store.rules_to_json`), and their SHA-256: a
    # version never changes, its compiled matcher is cached per process under (id, digest).
    Column("rules", JSON(), nullable=False),
    Column("digest", String(64), nullable=False),
    _fk("created_by", "users.id", nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("program_id", "valid_from"),
)


# ---------------------------------------------------------------------------------------------
# Order books (issue 12, migration 0011): an advertiser's orders of one program and period (whole
# UTC days, first to last inclusive), compared with the tracked conversions by order id.
# Uploading the same program and period again replaces the lines.

order_books = Table(
    "order_books",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("first_day", Date(), nullable=False),
    Column("last_day", Date(), nullable=False),
    Column("currency", String(3), nullable=False),  # the program currency of the values
    Column("line_count", Integer(), nullable=False),
    Column("total_value", ExactDecimal(), nullable=False),
    _fk("uploaded_by", "users.id", nullable=True),
    Column("uploaded_at", UtcDateTime(), nullable=False),
    UniqueConstraint("program_id", "first_day", "last_day"),
)

order_book_lines = Table(
    "order_book_lines",
    metadata,
    _id(),
    _fk("book_id", "order_books.id", ondelete="CASCADE"),
    # The same type as conversions.order_id: matched by equality against its index.
    Column("order_id", String(200), nullable=False),
    Column("order_time", UtcDateTime(), nullable=False),
    Column("order_value", ExactDecimal(), nullable=False),  # in the book's currency
    Column("original_value", ExactDecimal(), nullable=True),
    Column("original_currency", String(3), nullable=True),
    Column("exchange_rate", ExactDecimal(28, 12), nullable=True),
    Column("status", String(32), nullable=True),
    UniqueConstraint("book_id", "order_id"),
    Index(None, "book_id", "order_time", "id"),
)


# ---------------------------------------------------------------------------------------------
# Billing (issue 11, migration 0009): billing data, runs, payout entries, advertiser invoices.
# The item tables hold one row per billed conversion; their primary key on the conversion id
# is what makes billing a conversion twice impossible, whatever runs at the same time.

billing_issuer = Table(
    "billing_issuer",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=False),
    Column("legal_name", String(200), nullable=False),
    Column("address", String(1000), nullable=False),
    Column("vat_id", String(32), nullable=True),
    Column("country", String(2), nullable=False),
    Column("credit_note_prefix", String(8), nullable=False),
    Column("invoice_prefix", String(8), nullable=False),
    Column("default_payout_minimum", ExactDecimal(), nullable=False),
    Column("iban", String(34), nullable=True),  # the account SEPA payouts are made from
    Column("bic", String(11), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

vat_rates = Table(
    "vat_rates",
    metadata,
    _id(),
    Column("country", String(2), nullable=False),
    Column("valid_from", Date(), nullable=False),
    Column("rate", ExactDecimal(7, 4), nullable=False),
    UniqueConstraint("country", "valid_from"),
)

partner_billing = Table(
    "partner_billing",
    metadata,
    Column("partner_id", Id, ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True),
    Column("vat_id", String(32), nullable=True),
    Column("tax_status", String(16), nullable=False),
    Column("payout_minimum", ExactDecimal(), nullable=True),
    Column("iban", String(34), nullable=True),
    Column("bic", String(11), nullable=True),
    Column("billing_address", String(1000), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

advertiser_billing = Table(
    "advertiser_billing",
    metadata,
    Column("advertiser_id", Id, ForeignKey("advertisers.id", ondelete="CASCADE"), primary_key=True),
    Column("country", String(2), nullable=True),
    Column("vat_id", String(32), nullable=True),
    Column("billing_address", String(1000), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

network_fees = Table(
    "network_fees",
    metadata,
    _id(),
    _fk("program_id", "programs.id", ondelete="CASCADE"),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("percentage", ExactDecimal(9, 4), nullable=True),
    Column("fixed_amount", ExactDecimal(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("program_id", "valid_from"),
)

document_counters = Table(
    "document_counters",
    metadata,
    Column("issuer_id", Integer(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("year", Integer(), nullable=False),
    Column("last", Integer(), nullable=False),
    PrimaryKeyConstraint("issuer_id", "kind", "year"),
)

billing_runs = Table(
    "billing_runs",
    metadata,
    _id(),
    _fk("job_id", "jobs.id"),
    _fk("created_by", "users.id"),
    Column("period_end", Date(), nullable=False),
    Column("program_ids", JSON(), nullable=False),
    Column("dry_run", Boolean(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("report", JSON(), nullable=True),
    UniqueConstraint("job_id"),
    Index(None, "created_at", "id"),
)


def _history() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime(), nullable=False),
        Column("confirmed_at", UtcDateTime(), nullable=True),
        _fk("confirmed_by", "users.id", nullable=True),
        Column("paid_at", UtcDateTime(), nullable=True),
        _fk("paid_by", "users.id", nullable=True),
        Column("payment_reference", String(140), nullable=True),
        Column("payment_date", Date(), nullable=True),
        Column("cancelled_at", UtcDateTime(), nullable=True),
        _fk("cancelled_by", "users.id", nullable=True),
    ]  # type: ignore[return-value]


def _document_head() -> list[Column[object]]:
    """What a billing document (payout entry, advertiser invoice) says first."""
    return [
        Column("currency", String(3), nullable=False),
        Column("status", String(16), nullable=False),
        Column("number", String(32), nullable=True),
        Column("period_end", Date(), nullable=False),
    ]


def _document_totals() -> list[object]:
    """A billing document's net, VAT and gross, its status history and its unique number."""
    return [
        Column("net", ExactDecimal(), nullable=False),
        Column("vat_rate", ExactDecimal(7, 4), nullable=False),
        Column("vat_amount", ExactDecimal(), nullable=False),
        Column("vat_note", String(500), nullable=True),
        Column("gross", ExactDecimal(), nullable=False),
        *_history(),
        UniqueConstraint("number"),
    ]


payout_entries = Table(
    "payout_entries",
    metadata,
    _id(),
    _fk("run_id", "billing_runs.id"),
    _fk("partner_id", "partners.id"),
    *_document_head(),
    *_document_totals(),
    Index(None, "partner_id", "id"),
    Index(None, "run_id", "id"),
)

payout_entry_lines = Table(
    "payout_entry_lines",
    metadata,
    _id(),
    _fk("entry_id", "payout_entries.id", ondelete="CASCADE"),
    _fk("program_id", "programs.id"),
    Column("count", Integer(), nullable=False),
    Column("program_currency", String(3), nullable=False),
    Column("program_amount", ExactDecimal(), nullable=False),
    Column("exchange_rate", ExactDecimal(28, 12), nullable=False),
    Column("rate_date", Date(), nullable=False),
    Column("amount", ExactDecimal(), nullable=False),
    Index(None, "entry_id", "program_id"),
    Index(None, "program_id"),
)

payout_items = Table(
    "payout_items",
    metadata,
    Column("conversion_id", Id, ForeignKey("conversions.id"), primary_key=True),
    _fk("entry_id", "payout_entries.id", ondelete="CASCADE"),
    Index(None, "entry_id"),
)

advertiser_invoices = Table(
    "advertiser_invoices",
    metadata,
    _id(),
    _fk("run_id", "billing_runs.id"),
    _fk("program_id", "programs.id"),
    _fk("advertiser_id", "advertisers.id"),
    *_document_head(),
    Column("conversion_count", Integer(), nullable=False),
    *_document_totals(),
    Index(None, "program_id", "id"),
    Index(None, "run_id", "id"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    _id(),
    _fk("invoice_id", "advertiser_invoices.id", ondelete="CASCADE"),
    Column("kind", String(16), nullable=False),
    Column("quantity", Integer(), nullable=False),
    Column("amount", ExactDecimal(), nullable=False),
    Index(None, "invoice_id"),
)

invoice_items = Table(
    "invoice_items",
    metadata,
    Column("conversion_id", Id, ForeignKey("conversions.id"), primary_key=True),
    _fk("invoice_id", "advertiser_invoices.id", ondelete="CASCADE"),
    Index(None, "invoice_id"),
)

# -- events and webhooks (issue 15) ------------------------------------------------------------

# The outbox: one row per domain event, written in the transaction of the change that causes
# it. `event_key` is the stable id receivers deduplicate on; program/partner/advertiser name
# the object's owners so the dispatcher only checks the endpoints that may care.
events = Table(
    "events",
    metadata,
    _id(),
    Column("event_key", String(40), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("object_kind", String(32), nullable=False),
    Column("object_id", Id, nullable=False),
    Column("program_id", Id, nullable=True),
    Column("partner_id", Id, nullable=True),
    Column("advertiser_id", Id, nullable=True),
    Column("payload", JSON(), nullable=False),
    Column("dispatched_at", UtcDateTime(), nullable=True),
    Index(None, "dispatched_at", "id"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    Column("owner_role", String(16), nullable=False),
    _fk("partner_id", "partners.id", nullable=True),
    _fk("advertiser_id", "advertisers.id", nullable=True),
    _fk("created_by", "users.id"),
    Column("url", String(2000), nullable=False),
    Column("event_types", JSON(), nullable=False),
    Column("description", String(500), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("enabled", Boolean(), nullable=False),
    Column("disabled_reason", String(500), nullable=True),
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index(None, "partner_id"),
    Index(None, "advertiser_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    _id(),
    _fk("endpoint_id", "webhook_endpoints.id", ondelete="CASCADE"),
    _fk("event_id", "events.id", ondelete="CASCADE"),
    # The body as this endpoint's owner may see it, fixed at dispatch: every attempt sends
    # the same bytes (a new timestamp and signature each time).
    Column("body", String(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("first_attempt_at", UtcDateTime(), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index(None, "status", "next_attempt_at"),
    Index(None, "endpoint_id", "id"),
    # The deliveries of an event: pruning asks whether all are final, and its delete cascades.
    Index(None, "event_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    _id(),
    _fk("delivery_id", "webhook_deliveries.id", ondelete="CASCADE"),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("duration_ms", Integer(), nullable=False),
    Column("error", String(500), nullable=True),
    Column("response", String(1000), nullable=True),
    Index(None, "delivery_id", "id"),
)
