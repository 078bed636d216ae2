"""Billing runs: `start_billing_run` checks the input and queues a job; `run_billing` (the job,
arq in production, in-process in embedded mode) bills in ONE transaction, set-based:

1. an invoice per program with unbilled CONFIRMED conversions tracked up to the end of the
   period, and an entry per partner with unpaid ones (INSERT … SELECT);
2. the item rows that claim the conversions (INSERT … SELECT … ON CONFLICT DO NOTHING): the
   primary key on the conversion id makes a conversion billable once, whatever other run
   inserts at the same time — the later one waits for the earlier's commit and skips it;
3. sums per invoice and fee period and per entry and program (GROUP BY), priced in Python
   (`domain.billing.run`: rows per partner × program, never per conversion);
4. the lines and totals; carried-over and failed partners' entries are deleted again (their
   conversions stay unpaid), as are empty documents.

The number of statements does not depend on the number of conversions. A dry run does all of
it and rolls back, keeping only its report. A run that dies is rolled back by the database;
the run that takes the job over starts again from nothing."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.billing_store import (
    advertiser_terms,
    billing_run_of,
    load_issuer,
    partner_terms,
    vat_rate_on,
)
from portal.adapters.exact_sum import decimal_of, exact_sum
from portal.adapters.job_store import Lease, finish_job, insert_job
from portal.adapters.rate_store import rate_table
from portal.adapters.tables import (
    advertiser_invoices,
    billing_runs,
    conversions,
    invoice_items,
    invoice_lines,
    network_fees,
    partners,
    payout_entries,
    payout_entry_lines,
    payout_items,
    programs,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.billing.amounts import FeeGroup
from portal.domain.billing.model import BillingRun, BillingStatus, InvoiceLineKind
from portal.domain.billing.run import (
    CarriedOver,
    IssuerTerms,
    PartnerFailure,
    PlannedEntry,
    ProgramSum,
    plan_invoice,
    plan_payout,
)
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, PermissionDenied, ValidationFailed
from portal.domain.jobs import JobKind, JobStatus
from portal.domain.money import is_currency
from portal.domain.partners import validate_country
from portal.services.job_runs import run_leased

log = logging.getLogger("portal.billing")
BILLING_JOB = "run_billing"
PREVIEW = BillingStatus.PREVIEW.value


def period_bound(period_end: date) -> datetime:
    """Conversions tracked before this instant belong to the period (the end of its last day)."""
    return datetime.combine(period_end + timedelta(days=1), time(0), UTC)


async def start_billing_run(
    uow: UnitOfWork,
    viewer: Viewer,
    period_end: date,
    program_ids: tuple[int, ...],
    dry_run: bool,
) -> int:
    """Checks the input and queues the run; returns the run's id. Admins bill any programs
    (none given: all), an advertiser its own; partners never."""
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot start billing runs")
    if period_end > uow.now.date():
        raise DomainError(
            "PERIOD_IN_FUTURE",
            f"the period cannot end in the future ({period_end.isoformat()})",
            ("periodEnd",),
        )
    scope = await _programs_in_scope(uow, viewer, program_ids)
    await _check_partners(uow, scope, period_end)
    parameters = {
        "periodEnd": period_end.isoformat(),
        "programIds": list(scope),
        "dryRun": dry_run,
    }
    job_id = await insert_job(uow, JobKind.BILLING_RUN, viewer.user_id, parameters, None)
    run_id = await uow.insert(
        insert(billing_runs).values(
            job_id=job_id,
            created_by=viewer.user_id,
            period_end=period_end,
            program_ids=list(scope),
            dry_run=dry_run,
            created_at=uow.now,
            report=None,
        )
    )
    queue = uow.queue
    if queue is not None:

        async def enqueue() -> None:
            await queue.enqueue(BILLING_JOB, job_id, job_id=f"billing:{job_id}")

        uow.after_commit(enqueue)
    return run_id


async def _programs_in_scope(
    uow: UnitOfWork, viewer: Viewer, program_ids: tuple[int, ...]
) -> tuple[int, ...]:
    own = programs.c.advertiser_id == viewer.advertiser_id
    mine = visible(programs, viewer) if viewer.is_admin else own
    if not program_ids:
        found = await uow.conn.scalars(select(programs.c.id).where(mine).order_by(programs.c.id))
        return tuple(found)
    found_ids = set(
        await uow.conn.scalars(select(programs.c.id).where(programs.c.id.in_(program_ids), mine))
    )
    missing = [
        DomainError(
            "PROGRAM_NOT_FOUND",
            "program not found (unknown, or not one you may bill)",
            ("programIds", str(i)),
        )
        for i, pk in enumerate(program_ids)
        if pk not in found_ids
    ]
    if missing:
        raise ValidationFailed(missing)
    return tuple(sorted(found_ids))


def _candidates(scope: tuple[int, ...], bound: datetime) -> list[ColumnElement[bool]]:
    c = conversions.c
    return [
        c.program_id.in_(scope),
        c.status == ConversionStatus.CONFIRMED.value,
        c.tracking_time < bound,
    ]


def _unpaid() -> ColumnElement[bool]:
    return ~exists().where(payout_items.c.conversion_id == conversions.c.id)


def _uninvoiced() -> ColumnElement[bool]:
    return ~exists().where(invoice_items.c.conversion_id == conversions.c.id)


async def _check_partners(uow: UnitOfWork, scope: tuple[int, ...], period_end: date) -> None:
    """Every partner the run would pay needs a payout currency and a valid country."""
    if not scope:
        return
    stmt = (
        select(partners.c.id, partners.c.name, partners.c.payout_currency, partners.c.country)
        .where(
            partners.c.id.in_(
                select(conversions.c.partner_id)
                .where(*_candidates(scope, period_bound(period_end)), _unpaid())
                .distinct()
            )
        )
        .order_by(partners.c.id)
    )
    errors = []
    for row in (await uow.conn.execute(stmt)).all():
        if not row.payout_currency or not is_currency(row.payout_currency):
            errors.append(
                DomainError(
                    "PARTNER_WITHOUT_PAYOUT_CURRENCY",
                    f"partner {row.name} has no valid payout currency",
                    ("programIds",),
                )
            )
        try:
            validate_country(row.country or "")
        except DomainError:
            errors.append(
                DomainError(
                    "PARTNER_WITHOUT_COUNTRY",
                    f"partner {row.name} has no valid country",
                    ("programIds",),
                )
            )
    if errors:
        raise ValidationFailed(errors)


# -- the job ------------------------------------------------------------------------------------


async def run_billing(engine: AsyncEngine, job_id: int) -> str:
    async def work(lease: Lease) -> None:
        await _bill_job(engine, lease)

    return await run_leased(engine, job_id, "billing run", work)


async def _bill_job(engine: AsyncEngine, lease: Lease) -> None:
    async with UnitOfWork(engine) as uow:
        row = await uow.first(select(billing_runs).where(billing_runs.c.job_id == lease.job_id))
        assert row is not None
        run = billing_run_of(row)
        report = await bill(uow, run)
        if not run.dry_run:
            await _finish(uow, run, report, lease)
            await uow.commit()
            return
        await uow.rollback()  # a dry run writes nothing but its report
    async with UnitOfWork(engine) as uow:
        await _finish(uow, run, report, lease)
        await uow.commit()


async def _finish(uow: UnitOfWork, run: BillingRun, report: dict[str, Any], lease: Lease) -> None:
    await uow.execute(update(billing_runs).where(billing_runs.c.id == run.id).values(report=report))
    billed = int(report["conversionCount"])
    await finish_job(
        uow,
        run.job_id,
        JobStatus.SUCCEEDED,
        lease=lease,
        processed=billed,
        total=billed,
        created_count=len(report["entries"]) + len(report["invoices"]),
        error_count=len(report["failures"]),
    )
    log.info(
        "billing run %s: %s conversions, %s entries, %s invoices, %s carried over, %s failed",
        run.id,
        billed,
        len(report["entries"]),
        len(report["invoices"]),
        len(report["carriedOver"]),
        len(report["failures"]),
    )


def _insert_ignoring_duplicates(table: Any, dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a conversion another run claimed first is skipped."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def _totals(pk: int, plan: Any) -> dict[str, Any]:
    """The totals of a planned invoice or payout entry as its row stores them: the net, the
    VAT (rate, amount, note) and the gross."""
    return {
        "b_id": pk,
        "net": plan.net,
        "vat_rate": plan.vat.rate,
        "vat_amount": plan.vat_amount,
        "vat_note": plan.vat.note,
        "gross": plan.gross,
    }


async def _write_totals(uow: UnitOfWork, table: Any, updates: list[dict[str, Any]]) -> None:
    """One executemany UPDATE of the documents' totals (`_totals`, plus any extra column)."""
    columns = {k: bindparam(k) for k in updates[0] if k != "b_id"}
    await uow.execute(update(table).where(table.c.id == bindparam("b_id")).values(columns), updates)


async def bill(uow: UnitOfWork, run: BillingRun) -> dict[str, Any]:
    """Bills the run in the caller's transaction and returns its report."""
    dialect = uow.conn.dialect.name
    day = uow.now.date()
    scope = run.program_ids
    bound = period_bound(run.period_end)
    issuer = await load_issuer(uow)
    issuer_terms = IssuerTerms(issuer.country, await vat_rate_on(uow, issuer.country, day))
    report: dict[str, Any] = {
        "runDate": day.isoformat(),
        "conversionCount": 0,
        "invoicedCount": 0,
        "entries": [],
        "invoices": [],
        "carriedOver": [],
        "failures": [],
    }
    if scope:
        await _bill_advertisers(uow, run, dialect, bound, issuer_terms, report)
        await _bill_partners(uow, run, dialect, bound, day, issuer_terms, issuer, report)
    report["nothingToBill"] = not report["entries"] and not report["invoices"]
    return report


async def _bill_advertisers(
    uow: UnitOfWork,
    run: BillingRun,
    dialect: str,
    bound: datetime,
    issuer: IssuerTerms,
    report: dict[str, Any],
) -> None:
    c, inv = conversions.c, advertiser_invoices.c
    candidates = _candidates(run.program_ids, bound)
    zero = literal(Decimal(0), advertiser_invoices.c.net.type)
    await uow.execute(
        insert(advertiser_invoices).from_select(
            ["run_id", "program_id", "advertiser_id", "currency", "status", "period_end",
             "conversion_count", "net", "vat_rate", "vat_amount", "gross", "created_at"],
            select(
                literal(run.id), programs.c.id, programs.c.advertiser_id, programs.c.currency,
                literal(PREVIEW), literal(run.period_end, advertiser_invoices.c.period_end.type),
                literal(0), zero, literal(Decimal(0), inv.vat_rate.type), zero, zero,
                literal(uow.now, inv.created_at.type),
            ).where(
                programs.c.id.in_(run.program_ids),
                exists().where(c.program_id == programs.c.id, *candidates, _uninvoiced()),
            ),
        )
    )  # fmt: skip
    await uow.execute(
        _insert_ignoring_duplicates(invoice_items, dialect).from_select(
            ["conversion_id", "invoice_id"],
            select(c.id, inv.id)
            .join(advertiser_invoices, and_(inv.program_id == c.program_id, inv.run_id == run.id))
            .where(*candidates, _uninvoiced())
            .order_by(c.id),  # concurrent runs lock conversions in one order: no deadlock
        )
    )
    f = network_fees.c
    fee_id = (
        select(f.id)
        .where(f.program_id == c.program_id, f.valid_from <= c.tracking_time)
        .order_by(f.valid_from.desc())
        .limit(1)
        .scalar_subquery()
        .label("fee_id")
    )
    grouped = (
        select(invoice_items.c.invoice_id, fee_id, c.commission)
        .join(conversions, c.id == invoice_items.c.conversion_id)
        .join(advertiser_invoices, inv.id == invoice_items.c.invoice_id)
        .where(inv.run_id == run.id)
        .subquery()
    )
    sums = (
        await uow.conn.execute(
            select(
                grouped.c.invoice_id,
                grouped.c.fee_id,
                func.count(),
                exact_sum(grouped.c.commission, dialect),
            ).group_by(grouped.c.invoice_id, grouped.c.fee_id)
        )
    ).all()
    invoices = (
        await uow.conn.execute(
            select(inv.id, inv.program_id, inv.advertiser_id, inv.currency).where(
                inv.run_id == run.id
            )
        )
    ).all()
    fees = {
        r.id: r
        for r in await uow.conn.execute(
            select(network_fees).where(f.program_id.in_(run.program_ids))
        )
    }
    groups: dict[int, list[FeeGroup]] = defaultdict(list)
    for invoice_id, fee, count, total in sums:
        rule = fees.get(fee)
        groups[invoice_id].append(
            FeeGroup(
                int(count),
                decimal_of(total, dialect),
                rule.percentage if rule is not None else None,
                rule.fixed_amount if rule is not None else None,
            )
        )
    billing = await advertiser_terms(uow, [i.advertiser_id for i in invoices])
    updates, lines, empty = [], [], []
    for invoice in invoices:
        if not groups.get(invoice.id):
            empty.append(invoice.id)  # another run took all its conversions
            continue
        terms = billing.get(invoice.advertiser_id)
        plan = plan_invoice(
            invoice.program_id,
            invoice.currency,
            groups[invoice.id],
            terms.country if terms else None,
            terms.vat_id if terms else None,
            issuer,
        )
        updates.append({**_totals(invoice.id, plan), "conversion_count": plan.count})
        lines.append(
            {
                "invoice_id": invoice.id,
                "kind": InvoiceLineKind.COMMISSIONS.value,
                "quantity": plan.count,
                "amount": plan.commissions,
            }
        )
        lines.append(
            {
                "invoice_id": invoice.id,
                "kind": InvoiceLineKind.NETWORK_FEE.value,
                "quantity": plan.count,
                "amount": plan.fee,
            }
        )
        report["invoicedCount"] += plan.count
        report["invoices"].append(
            {
                "programId": invoice.program_id,
                "currency": plan.currency,
                "count": plan.count,
                "commissions": str(plan.commissions),
                "fee": str(plan.fee),
                "net": str(plan.net),
                "vat": str(plan.vat_amount),
                "gross": str(plan.gross),
            }
        )
    if updates:
        await _write_totals(uow, advertiser_invoices, updates)
        await uow.execute(insert(invoice_lines), lines)
    if empty:
        await uow.execute(delete(advertiser_invoices).where(inv.id.in_(empty)))


async def _bill_partners(
    uow: UnitOfWork,
    run: BillingRun,
    dialect: str,
    bound: datetime,
    day: date,
    issuer: IssuerTerms,
    issuer_record: Any,
    report: dict[str, Any],
) -> None:
    c, e = conversions.c, payout_entries.c
    candidates = _candidates(run.program_ids, bound)
    zero = literal(Decimal(0), e.net.type)
    await uow.execute(
        insert(payout_entries).from_select(
            ["run_id", "partner_id", "currency", "status", "period_end", "net", "vat_rate",
             "vat_amount", "gross", "created_at"],
            select(
                literal(run.id), partners.c.id, partners.c.payout_currency, literal(PREVIEW),
                literal(run.period_end, e.period_end.type), zero,
                literal(Decimal(0), e.vat_rate.type), zero, zero,
                literal(uow.now, e.created_at.type),
            ).where(
                exists().where(c.partner_id == partners.c.id, *candidates, _unpaid()),
            ),
        )
    )  # fmt: skip
    await uow.execute(
        _insert_ignoring_duplicates(payout_items, dialect).from_select(
            ["conversion_id", "entry_id"],
            select(c.id, e.id)
            .join(payout_entries, and_(e.partner_id == c.partner_id, e.run_id == run.id))
            .where(*candidates, _unpaid())
            .order_by(c.id),
        )
    )
    sums = (
        await uow.conn.execute(
            select(
                payout_items.c.entry_id,
                c.partner_id,
                c.program_id,
                c.currency,
                func.count(),
                exact_sum(c.commission, dialect),
            )
            .join(conversions, c.id == payout_items.c.conversion_id)
            .join(payout_entries, e.id == payout_items.c.entry_id)
            .where(e.run_id == run.id)
            .group_by(payout_items.c.entry_id, c.partner_id, c.program_id, c.currency)
        )
    ).all()
    entries = (await uow.conn.execute(select(e.id, e.partner_id).where(e.run_id == run.id))).all()
    by_entry: dict[int, list[ProgramSum]] = defaultdict(list)
    for entry_id, _partner, program_id, currency, count, total in sums:
        by_entry[entry_id].append(
            ProgramSum(program_id, currency, int(count), decimal_of(total, dialect))
        )
    terms = await partner_terms(
        uow, [x.partner_id for x in entries], issuer_record.default_payout_minimum
    )
    rates = await rate_table(uow.conn, day)
    updates, lines, dropped = [], [], []
    for entry in entries:
        program_sums = by_entry.get(entry.id)
        if not program_sums:
            dropped.append(entry.id)  # another run took all its conversions
            continue
        plan = plan_payout(terms[entry.partner_id], program_sums, rates, day, issuer)
        if isinstance(plan, CarriedOver):
            dropped.append(entry.id)
            report["carriedOver"].append(
                {
                    "partnerId": plan.partner_id,
                    "currency": plan.currency,
                    "amount": str(plan.net),
                    "minimum": str(plan.minimum),
                }
            )
            continue
        if isinstance(plan, PartnerFailure):
            dropped.append(entry.id)
            report["failures"].append(
                {"partnerId": plan.partner_id, "code": plan.code, "message": plan.message}
            )
            continue
        assert isinstance(plan, PlannedEntry)
        updates.append(_totals(entry.id, plan))
        count = 0
        for line in plan.lines:
            count += line.count
            lines.append(
                {
                    "entry_id": entry.id,
                    "program_id": line.program_id,
                    "count": line.count,
                    "program_currency": line.program_currency,
                    "program_amount": line.program_amount,
                    "exchange_rate": line.rate.rate,
                    "rate_date": line.rate.day,
                    "amount": line.amount,
                }
            )
        report["conversionCount"] += count
        report["entries"].append(
            {
                "partnerId": plan.partner_id,
                "currency": plan.currency,
                "count": count,
                "net": str(plan.net),
                "vat": str(plan.vat_amount),
                "gross": str(plan.gross),
            }
        )
    if dropped:
        # Carried over, failed or empty: the conversions stay unpaid for the next run.
        await uow.execute(delete(payout_items).where(payout_items.c.entry_id.in_(dropped)))
        await uow.execute(delete(payout_entries).where(e.id.in_(dropped)))
    if updates:
        await _write_totals(uow, payout_entries, updates)
        await uow.execute(insert(payout_entry_lines), lines)
        # The conversions of the run's entries are reserved (PREVIEW) from now on.
        await uow.execute(
            update(conversions)
            .where(
                c.id == payout_items.c.conversion_id,
                payout_items.c.entry_id == e.id,
                e.run_id == run.id,
            )
            .values(payout_entry_id=payout_items.c.entry_id, payout_reserved=True)
        )
