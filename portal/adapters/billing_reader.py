"""Reads of billing objects for one viewer, scoped by `visibility` like every read: runs,
payout entries (with their visible lines), advertiser invoices, and billing data by owner."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.billing_store import (
    advertiser_billing_of,
    billing_run_of,
    invoice_line_of,
    invoice_of,
    network_fee_of,
    partner_billing_of,
    payout_entry_of,
    payout_line_of,
)
from portal.adapters.pagination import PageRequest, SortKey, fetch_page
from portal.adapters.tables import (
    advertiser_billing,
    advertiser_invoices,
    billing_runs,
    invoice_lines,
    jobs,
    network_fees,
    partner_billing,
    payout_entries,
    payout_entry_lines,
    programs,
)
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.billing.model import BillingRun, BillingStatus
from portal.domain.jobs import JobStatus

BILLING_KINDS = frozenset({"BillingRun", "PayoutEntry", "AdvertiserInvoice"})


@dataclass(frozen=True, slots=True)
class RunView:
    run: BillingRun
    status: JobStatus
    processed: int
    finished_at: datetime | None
    error: str | None

    @property
    def id(self) -> int:
        return self.run.id


@dataclass(frozen=True, slots=True)
class BillingFilter:
    statuses: tuple[BillingStatus, ...] = ()
    currencies: tuple[str, ...] = ()
    partner_ids: tuple[int, ...] = ()
    program_ids: tuple[int, ...] = ()
    run_ids: tuple[int, ...] = ()
    period_from: date | None = None  # period end on or after
    period_to: date | None = None  # period end on or before


def _run_view(row: Any) -> RunView:
    m = row._mapping
    return RunView(
        billing_run_of(row),
        JobStatus(m["job_status"]),
        m["job_processed"],
        m["job_finished_at"],
        m["job_error"],
    )


def _runs() -> Select[Any]:
    return select(
        billing_runs,
        jobs.c.status.label("job_status"),
        jobs.c.processed.label("job_processed"),
        jobs.c.finished_at.label("job_finished_at"),
        jobs.c.error.label("job_error"),
    ).join(jobs, jobs.c.id == billing_runs.c.job_id)


class BillingReader:
    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self.engine = engine
        self.viewer = viewer

    async def by_id(self, kind: str, ids: Sequence[int]) -> dict[int, Any]:
        if kind == "BillingRun":
            stmt = _runs().where(
                billing_runs.c.id.in_(set(ids)), visible(billing_runs, self.viewer)
            )
            build: Any = _run_view
        else:
            table, build = {
                "PayoutEntry": (payout_entries, payout_entry_of),
                "AdvertiserInvoice": (advertiser_invoices, invoice_of),
            }[kind]
            stmt = select(table).where(table.c.id.in_(set(ids)), visible(table, self.viewer))
        async with self.engine.connect() as conn:
            return {r.id: build(r) for r in await conn.execute(stmt)}

    async def entry_lines(self, entry_ids: Sequence[int]) -> list[list[Any]]:
        t = payout_entry_lines
        stmt = (
            select(t)
            .where(t.c.entry_id.in_(set(entry_ids)), visible(t, self.viewer))
            .order_by(t.c.entry_id, t.c.program_id, t.c.id)
        )
        grouped: dict[int, list[Any]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.entry_id].append(payout_line_of(r))
        return [grouped[i] for i in entry_ids]

    async def invoice_lines(self, invoice_ids: Sequence[int]) -> list[list[Any]]:
        t = invoice_lines
        stmt = (
            select(t)
            .where(t.c.invoice_id.in_(set(invoice_ids)), visible(t, self.viewer))
            .order_by(t.c.invoice_id, t.c.id)
        )
        grouped: dict[int, list[Any]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.invoice_id].append(invoice_line_of(r))
        return [grouped[i] for i in invoice_ids]

    async def partner_billing(self, partner_ids: Sequence[int]) -> list[Any]:
        """Only the partner itself and admins see a partner's billing data (None otherwise)."""
        allowed = [i for i in partner_ids if self.viewer.is_admin or self.viewer.partner_id == i]
        found: dict[int, Any] = {}
        if allowed:
            async with self.engine.connect() as conn:
                stmt = select(partner_billing).where(partner_billing.c.partner_id.in_(allowed))
                found = {r.partner_id: partner_billing_of(r) for r in await conn.execute(stmt)}
        return [found.get(i, "DEFAULT" if i in allowed else None) for i in partner_ids]

    async def advertiser_billing(self, advertiser_ids: Sequence[int]) -> list[Any]:
        allowed = [
            i for i in advertiser_ids if self.viewer.is_admin or self.viewer.advertiser_id == i
        ]
        found: dict[int, Any] = {}
        if allowed:
            async with self.engine.connect() as conn:
                stmt = select(advertiser_billing).where(
                    advertiser_billing.c.advertiser_id.in_(allowed)
                )
                found = {
                    r.advertiser_id: advertiser_billing_of(r) for r in await conn.execute(stmt)
                }
        return [found.get(i, "DEFAULT" if i in allowed else None) for i in advertiser_ids]

    async def network_fees(self, program_ids: Sequence[int]) -> list[list[Any]]:
        """The fee history of programs: admins, and the advertiser of the program."""
        if self.viewer.role is Role.PARTNER:
            return [[] for _ in program_ids]
        stmt = (
            select(network_fees)
            .join(programs, programs.c.id == network_fees.c.program_id)
            .where(network_fees.c.program_id.in_(set(program_ids)), visible(programs, self.viewer))
            .order_by(network_fees.c.valid_from)
        )
        grouped: dict[int, list[Any]] = defaultdict(list)
        async with self.engine.connect() as conn:
            for r in await conn.execute(stmt):
                grouped[r.program_id].append(network_fee_of(r))
        return [grouped[i] for i in program_ids]

    # -- lists ------------------------------------------------------------------------------

    async def _listing(
        self, table: Table, stmt: Select[Any], conditions: list[ColumnElement[bool]],
        page: PageRequest, build: Any,
    ) -> Any:  # fmt: skip
        from portal.adapters.reader import Listing

        where = and_(visible(table, self.viewer), *conditions)
        key = SortKey("ID", table.c.id, table.c.id, True, "int")
        async with self.engine.connect() as conn:
            result = await fetch_page(conn, stmt.where(where), key, page, build)

        async def count() -> int:
            async with self.engine.connect() as conn:
                total = await conn.scalar(select(func.count()).select_from(table).where(where))
            return int(total or 0)

        return Listing(result, count)

    def _conditions(self, table: Table, f: BillingFilter) -> list[ColumnElement[bool]]:
        c = table.c
        out: list[ColumnElement[bool]] = []
        if f.statuses:
            out.append(c.status.in_([s.value for s in f.statuses]))
        if f.currencies:
            out.append(c.currency.in_(f.currencies))
        if f.run_ids:
            out.append(c.run_id.in_(f.run_ids))
        if f.period_from is not None:
            out.append(c.period_end >= f.period_from)
        if f.period_to is not None:
            out.append(c.period_end <= f.period_to)
        return out

    async def list_entries(self, f: BillingFilter, page: PageRequest) -> Any:
        conditions = self._conditions(payout_entries, f)
        if f.partner_ids:
            conditions.append(payout_entries.c.partner_id.in_(f.partner_ids))
        if f.program_ids:
            conditions.append(
                payout_entries.c.id.in_(
                    select(payout_entry_lines.c.entry_id).where(
                        payout_entry_lines.c.program_id.in_(f.program_ids)
                    )
                )
            )
        return await self._listing(
            payout_entries, select(payout_entries), conditions, page, payout_entry_of
        )

    async def list_invoices(self, f: BillingFilter, page: PageRequest) -> Any:
        conditions = self._conditions(advertiser_invoices, f)
        if f.program_ids:
            conditions.append(advertiser_invoices.c.program_id.in_(f.program_ids))
        if f.partner_ids:
            from portal.adapters.tables import conversions, invoice_items

            conditions.append(
                advertiser_invoices.c.id.in_(
                    select(invoice_items.c.invoice_id)
                    .join(conversions, conversions.c.id == invoice_items.c.conversion_id)
                    .where(conversions.c.partner_id.in_(f.partner_ids))
                )
            )
        return await self._listing(
            advertiser_invoices, select(advertiser_invoices), conditions, page, invoice_of
        )

    async def list_runs(self, page: PageRequest) -> Any:
        return await self._listing(billing_runs, _runs(), [], page, _run_view)
