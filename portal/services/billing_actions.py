"""Confirming, marking paid and cancelling payout entries and advertiser invoices (admins).

Confirming assigns the next number of the issuer's counter for the document kind and year:
the counter row is incremented with UPDATE … RETURNING, which locks it until the commit, so
two confirmations at once never share or skip a number (a rolled-back one gives its number
back). The document row itself is locked (FOR UPDATE) so two actions on it run one after the
other and the second sees the first's status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.adapters.billing_store import invoice_of, load_issuer, payout_entry_of
from portal.adapters.tables import (
    advertiser_invoices,
    conversions,
    document_counters,
    invoice_items,
    payout_entries,
    payout_items,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.billing.model import (
    BillingAction,
    BillingStatus,
    DocumentKind,
    document_number,
    transition,
)
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.services.scope import require_admin

MAX_BULK = 100
MAX_REFERENCE = 140


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    id: int | None
    document: Any
    errors: list[DomainError]


async def next_number(uow: UnitOfWork, kind: DocumentKind, year: int, prefix: str) -> str:
    """The next gap-free number of `kind` in `year` (the counter row stays locked until the
    transaction ends)."""
    module = postgresql if uow.conn.dialect.name == "postgresql" else sqlite
    await uow.execute(
        module.insert(document_counters)
        .values(issuer_id=1, kind=kind.value, year=year, last=0)
        .on_conflict_do_nothing()
    )
    t = document_counters.c
    last = (
        await uow.execute(
            update(document_counters)
            .where(t.issuer_id == 1, t.kind == kind.value, t.year == year)
            .values(last=t.last + 1)
            .returning(t.last)
        )
    ).scalar_one()
    return document_number(prefix, year, int(last))


_KINDS = {
    "payout_entries": (payout_entries, payout_items, "entry_id", payout_entry_of),
    "advertiser_invoices": (advertiser_invoices, invoice_items, "invoice_id", invoice_of),
}


async def _locked(uow: UnitOfWork, table: Table, pk: int, field: tuple[str, ...]) -> Any:
    row = await uow.first(select(table).where(table.c.id == pk).with_for_update())
    if row is None:
        raise NotFound("payout entry" if table is payout_entries else "invoice", field)
    return row


async def act(
    uow: UnitOfWork,
    viewer: Viewer,
    table: Table,
    pk: int,
    action: BillingAction,
    *,
    payment_reference: str | None = None,
    payment_date: date | None = None,
    field: tuple[str, ...] = ("id",),
) -> Any:
    """One action on one payout entry or invoice; returns the document after it."""
    require_admin(viewer, field)
    _, items, item_key, build = _KINDS[table.name]
    row = await _locked(uow, table, pk, field)
    status = transition(BillingStatus(row.status), action, field)
    values: dict[str, Any] = {"status": status.value}
    if action is BillingAction.CONFIRM:
        issuer = await load_issuer(uow)
        if table is payout_entries:
            kind, prefix = DocumentKind.CREDIT_NOTE, issuer.credit_note_prefix
        else:
            kind, prefix = DocumentKind.INVOICE, issuer.invoice_prefix
        values.update(
            number=await next_number(uow, kind, uow.now.year, prefix),
            confirmed_at=uow.now,
            confirmed_by=viewer.user_id,
        )
    elif action is BillingAction.MARK_PAID:
        reference = (payment_reference or "").strip()
        if not reference:
            raise DomainError("REQUIRED", "a payment reference is required", ("paymentReference",))
        if len(reference) > MAX_REFERENCE:
            raise DomainError(
                "TOO_LONG", f"at most {MAX_REFERENCE} characters", ("paymentReference",)
            )
        values.update(
            paid_at=uow.now,
            paid_by=viewer.user_id,
            payment_reference=reference,
            payment_date=payment_date or uow.now.date(),
        )
    else:
        values.update(cancelled_at=uow.now, cancelled_by=viewer.user_id)
    await uow.execute(update(table).where(table.c.id == pk).values(**values))
    billed = select(items.c.conversion_id).where(items.c[item_key] == pk)
    if table is payout_entries and action is BillingAction.CONFIRM:
        # Reserved → paid: no longer changeable, not even by cancelling.
        await uow.execute(
            update(conversions).where(conversions.c.id.in_(billed)).values(payout_reserved=False)
        )
    if action is BillingAction.CANCEL:
        if table is payout_entries:
            await uow.execute(
                update(conversions)
                .where(conversions.c.id.in_(billed))
                .values(payout_entry_id=None, payout_reserved=False)
            )
        # The conversions are released: the next run takes them again.
        await uow.execute(delete(items).where(items.c[item_key] == pk))
    from portal.adapters.event_payloads import record_billing_event

    await record_billing_event(uow, table.name, pk, action.name)
    found = await uow.first(select(table).where(table.c.id == pk))
    return build(found)


async def act_on_many(
    uow: UnitOfWork,
    viewer: Viewer,
    table: Table,
    ids: Sequence[tuple[int | None, DomainError | None]],
    action: BillingAction,
    **options: Any,
) -> list[ActionOutcome]:
    """Bulk: each document in its own savepoint, one outcome per id, in order; a bad one never
    stops the others."""
    require_admin(viewer)
    if len(ids) > MAX_BULK:
        raise DomainError("TOO_MANY", f"at most {MAX_BULK} ids per call", ("ids",))
    outcomes = []
    for index, (pk, decode_error) in enumerate(ids):
        field = ("ids", str(index))
        if pk is None:
            outcomes.append(ActionOutcome(None, None, [decode_error or NotFound("document")]))
            continue
        try:
            async with uow.conn.begin_nested():
                document = await act(uow, viewer, table, pk, action, field=field, **options)
            outcomes.append(ActionOutcome(pk, document, []))
        except ValidationFailed as failed:
            outcomes.append(ActionOutcome(pk, None, failed.errors))
        except DomainError as error:
            outcomes.append(ActionOutcome(pk, None, [error]))
    return outcomes
