"""The payloads of the domain events (version 1), built where the change is stored. Ids are
the API's global ids, so a receiver can read the object with `node(id:)`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from portal.adapters.event_store import NewEvent, record_event, record_events
from portal.adapters.tables import conversion_requests, jobs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.jobs import EXPORT_KINDS
from portal.global_ids import encode_id

# A request's status after a move, as the event it makes.
_MOVE_EVENTS = {
    "ACCEPTED": "conversion_request.decided",
    "REJECTED": "conversion_request.decided",
    "PROCESSED": "conversion_request.processed",
    "FAILED": "conversion_request.failed",
}


def _gid(kind: str, pk: int | None) -> str | None:
    return None if pk is None else encode_id(kind, pk)


def request_data(m: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": _gid("ConversionRequest", m["id"]),
        "status": m["status"],
        "kind": m["kind"],
        "programId": _gid("Program", m["program_id"]),
        "partnerId": _gid("Partner", m["partner_id"]),
        "conversionId": _gid("Conversion", m["conversion_id"]),
        "orderId": m["order_id"],
        "commission": m["commission"],
        "currency": m["commission_currency"],
        "decisionNote": m["decision_note"],
        "failure": m["failure"],
        "updatedAt": m["updated_at"],
    }


async def record_request_events(
    uow: UnitOfWork, request_ids: Sequence[int], event_type: str | None = None
) -> None:
    """One event per request, as the request now is; without `event_type`, the event its
    status makes (a decision, processing, a failure; any other move is an update)."""
    if not request_ids:
        return
    found = await uow.execute(
        select(conversion_requests).where(conversion_requests.c.id.in_(list(request_ids)))
    )
    new = []
    for row in found:
        m = row._mapping
        kind = event_type or _MOVE_EVENTS.get(m["status"], "conversion_request.updated")
        new.append(NewEvent(kind, m["id"], request_data(m), m["program_id"], m["partner_id"]))
    await record_events(uow, new)


async def record_comment_event(
    uow: UnitOfWork, request_id: int, comment_id: int, visibility: str, body: str
) -> None:
    row = await uow.first(
        select(conversion_requests.c.program_id, conversion_requests.c.partner_id).where(
            conversion_requests.c.id == request_id
        )
    )
    assert row is not None
    data = {
        "id": _gid("RequestComment", comment_id),
        "requestId": _gid("ConversionRequest", request_id),
        "visibility": visibility,
        "body": body,
    }
    await record_event(
        uow,
        NewEvent("conversion_request.commented", comment_id, data, row.program_id, row.partner_id),
    )


def conversion_event(
    event_type: str,
    conversion_id: int,
    values: Mapping[str, Any],
    changed_fields: Sequence[str] | None = None,
) -> NewEvent:
    """From the stored column values of the conversion (portal.adapters.conversion_store)."""
    data: dict[str, Any] = {
        "id": _gid("Conversion", conversion_id),
        "programId": _gid("Program", values["program_id"]),
        "partnerId": _gid("Partner", values["partner_id"]),
        "orderId": values["order_id"],
        "target": values["target"],
        "status": values["status"],
        "orderValue": values["order_value"],
        "currency": values["currency"],
        "commission": values["commission"],
        "commissionModelName": values["commission_model_name"],
        "commissionBreakdown": values["commission_breakdown"],
        "trackingTime": values["tracking_time"],
    }
    if changed_fields is not None:
        data["changedFields"] = list(changed_fields)
    return NewEvent(event_type, conversion_id, data, values["program_id"], values["partner_id"])


_BILLING_EVENTS = {
    ("payout_entries", "CONFIRM"): ("payout_entry.confirmed", "PayoutEntry"),
    ("payout_entries", "MARK_PAID"): ("payout_entry.paid", "PayoutEntry"),
    ("advertiser_invoices", "CONFIRM"): ("advertiser_invoice.confirmed", "AdvertiserInvoice"),
}


async def record_billing_event(uow: UnitOfWork, table_name: str, pk: int, action: str) -> None:
    """A payout entry confirmed or paid, an advertiser invoice confirmed (cancellations and
    invoices paid have no event)."""
    if (table_name, action) not in _BILLING_EVENTS:
        return
    event_type, kind = _BILLING_EVENTS[(table_name, action)]
    from portal.adapters.tables import advertiser_invoices, payout_entries

    table = payout_entries if table_name == "payout_entries" else advertiser_invoices
    row = await uow.first(select(table).where(table.c.id == pk))
    assert row is not None
    m = row._mapping
    data: dict[str, Any] = {
        "id": _gid(kind, pk),
        "number": m["number"],
        "status": m["status"],
        "currency": m["currency"],
        "periodEnd": m["period_end"],
        "net": m["net"],
        "vat": m["vat_amount"],
        "gross": m["gross"],
    }
    partner_id = m.get("partner_id")
    if partner_id is not None:
        data["partnerId"] = _gid("Partner", partner_id)
    if m.get("paid_at") is not None:
        data["paidAt"] = m["paid_at"]
        data["paymentReference"] = m.get("payment_reference")
    await record_event(
        uow, NewEvent(event_type, pk, data, None, partner_id, m.get("advertiser_id"))
    )


_JOB_EVENTS = {
    "IMPORT_CONVERSION_REQUESTS": ("import.finished", "ImportJob"),
    **{kind.value: ("export.ready", "ExportJob") for kind in EXPORT_KINDS},
    "BILLING_RUN": ("billing_run.finished", "ImportJob"),
}


async def record_job_event(uow: UnitOfWork, job_id: int) -> None:
    """A job that ended: an import finished (either way), an export ready (only when it
    succeeded: a failed export has no file), a billing run finished."""
    row = await uow.first(select(jobs).where(jobs.c.id == job_id))
    if row is None or row.kind not in _JOB_EVENTS:
        return
    event_type, kind = _JOB_EVENTS[row.kind]
    if event_type == "export.ready" and row.status != "SUCCEEDED":
        return
    data: dict[str, Any] = {
        "id": _gid(kind, job_id),
        "kind": row.kind,
        "status": row.status,
        "processed": row.processed,
        "created": row.created_count,
        "errors": row.error_count,
        "error": row.error,
        "finishedAt": row.finished_at,
    }
    if event_type == "billing_run.finished":
        from portal.adapters.tables import billing_runs

        run_id = await uow.conn.scalar(
            select(billing_runs.c.id).where(billing_runs.c.job_id == job_id)
        )
        data["id"] = _gid("BillingRun", run_id)
    await record_event(uow, NewEvent(event_type, job_id, data))
