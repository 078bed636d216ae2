"""What a conversion would look like if a request were applied: the one computation behind
creating, updating and previewing a request and behind processing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from portal.adapters.commission_store import load_models
from portal.adapters.conversion_store import NewConversion
from portal.adapters.rate_store import rate_table
from portal.adapters.tables import conversion_notes, conversion_targets, relationships, tracking_categories
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import Conversion, ConversionStatus, FieldChange, diff_fields
from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.money import round_half_up
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import DEFAULT_CATEGORY, Program
from portal.domain.rating import RatingInput, rate_conversion
from portal.domain.requests import RequestedValues, RequestKind

RATING_FIELDS = ("target", "category", "tracking_time", "order_value", "currency")
F = "requested"


@dataclass(frozen=True, slots=True)
class Revised:
    conversion: NewConversion
    changes: tuple[FieldChange, ...]
    rerated: bool


async def _vocabulary(uow: UnitOfWork, program_id: int) -> tuple[dict[str, bool], dict[str, bool], set[str]]:
    categories = {
        r.key: r.active
        for r in await uow.conn.execute(
            select(tracking_categories.c.key, tracking_categories.c.active).where(
                tracking_categories.c.program_id == program_id
            )
        )
    }
    targets = {
        r.key: r.active
        for r in await uow.conn.execute(
            select(conversion_targets.c.key, conversion_targets.c.active).where(
                conversion_targets.c.program_id == program_id
            )
        )
    }
    notes = {
        r.code
        for r in await uow.conn.execute(
            select(conversion_notes.c.code).where(conversion_notes.c.program_id == program_id)
        )
    }
    return categories, targets, notes


def _check_key(errors: ErrorCollector, known: dict[str, bool], key: str, what: str, field: str) -> None:
    if key not in known:
        errors.add(f"UNKNOWN_{what.upper()}", f"{key!r} is not a {what} of the program", (F, field))
    elif not known[key]:
        errors.add(f"INACTIVE_{what.upper()}", f"the {what} {key!r} is inactive", (F, field))


def from_conversion(c: Conversion) -> NewConversion:
    return NewConversion(
        program_id=c.program_id,
        partner_id=c.partner_id,
        order_id=c.order_id,
        target=c.target,
        category=c.category,
        tracking_time=c.tracking_time,
        currency=c.currency,
        order_value=c.order_value,
        commission=c.commission,
        status=c.status,
        commission_model_name=c.commission_model_name,
        commission_breakdown=c.commission_breakdown,
        commission_overridden=c.commission_overridden,
        original_order_value=c.original_order_value,
        original_currency=c.original_currency,
        exchange_rate=c.exchange_rate,
        conversion_note=c.conversion_note,
        sub_ids=c.sub_ids,
        device=c.device,
        basket=c.basket,
    )


async def revise(
    uow: UnitOfWork,
    program: Program,
    partner_id: int,
    kind: RequestKind,
    requested: RequestedValues,
    conversion: Conversion | None,
) -> Revised:
    """The conversion as it would be after the request. Raises ValidationFailed naming every
    offending field under `requested`."""
    categories, targets, notes = await _vocabulary(uow, program.id)
    errors = ErrorCollector()
    base = from_conversion(conversion) if conversion is not None else None
    target = requested.target or (base.target if base else None)
    category = requested.category or (base.category if base else DEFAULT_CATEGORY)
    if target is None:
        errors.add("REQUIRED", "conversionTarget is required to create a conversion", (F, "conversionTarget"))
    elif requested.target is not None or base is None:
        _check_key(errors, targets, target, "target", "conversionTarget")
    if requested.category is not None or base is None:
        _check_key(errors, categories, category, "category", "trackingCategory")
    note = requested.conversion_note or (base.conversion_note if base else None)
    if requested.conversion_note is not None and requested.conversion_note not in notes:
        errors.add(
            "UNKNOWN_CONVERSION_NOTE",
            f"{requested.conversion_note!r} is not a conversion note of the program",
            (F, "conversionNote"),
        )
    status = requested.status or (base.status if base else ConversionStatus.OPEN)
    if status is ConversionStatus.REJECTED and not note:
        errors.add("NOTE_REQUIRED", "a rejection needs a conversion note", (F, "conversionNote"))
    errors.raise_if_any()
    assert target is not None

    tracking_time = requested.tracking_time or (base.tracking_time if base else None)
    assert tracking_time is not None
    changes_rating = base is None or any(getattr(requested, f) is not None for f in RATING_FIELDS)

    order_value = base.order_value if base else Decimal(0)
    original_value, original_currency, rate = (
        (base.original_order_value, base.original_currency, base.exchange_rate) if base else (None, None, None)
    )
    exact_value = order_value
    if requested.order_value is not None:
        currency = requested.currency or program.currency
        exact_value = requested.order_value
        original_value, original_currency, rate = None, None, None
        if currency != program.currency:
            table = await rate_table(uow.conn, tracking_time.astimezone(UTC).date())
            try:
                converted = table.convert(requested.order_value, currency, program.currency,
                                          tracking_time.astimezone(UTC).date())
            except DomainError as error:
                raise DomainError(error.code, error.message, (F, "currency")) from None
            exact_value = converted.amount
            original_value, original_currency, rate = requested.order_value, currency, converted.rate
        order_value = round_half_up(exact_value, program.currency)

    commission = base.commission if base else Decimal(0)
    model_name = base.commission_model_name if base else None
    breakdown: dict[str, Any] = base.commission_breakdown if base else {}
    overridden = base.commission_overridden if base else False
    if changes_rating:
        model_id = await uow.conn.scalar(
            select(relationships.c.commission_model_id).where(
                relationships.c.program_id == program.id,
                relationships.c.partner_id == partner_id,
                relationships.c.status.in_([RelationshipStatus.ACTIVE.value, RelationshipStatus.PAUSED.value]),
            )
        )
        if model_id is None:
            raise DomainError(
                "NO_ACTIVE_RELATIONSHIP", "the partner has no active relationship with the program", ("programId",)
            )
        model = (await load_models(uow, [model_id]))[model_id]
        try:
            rating = rate_conversion(
                model, RatingInput(target, category, tracking_time, program.currency, exact_value)
            )
        except DomainError as error:
            if requested.commission is None:
                raise DomainError(error.code, error.message, (F, *error.field)) from None
        else:
            commission, model_name, breakdown, overridden = (
                rating.commission.amount, rating.model_name, rating.breakdown, False
            )
    if requested.commission is not None:
        commission, overridden = round_half_up(requested.commission, program.currency), True
        breakdown = {**breakdown, "overriddenBy": "request", "requestedCommission": str(requested.commission)}

    new = NewConversion(
        program_id=program.id,
        partner_id=partner_id,
        order_id=base.order_id if base else (requested.order_id or "").strip(),
        target=target,
        category=category,
        tracking_time=tracking_time,
        currency=program.currency,
        order_value=order_value,
        commission=commission,
        status=status,
        commission_model_name=model_name,
        commission_breakdown=breakdown,
        commission_overridden=overridden,
        original_order_value=original_value,
        original_currency=original_currency,
        exchange_rate=rate,
        conversion_note=note,
        sub_ids=_merge_sub_ids(base.sub_ids if base else (None,) * 6, requested.sub_ids),
        device=requested.device or (base.device if base else None),
        basket=base.basket if base else (),
    )
    before = base.rendered() if base else {}
    changes = tuple(diff_fields(before, new.rendered()))
    return Revised(conversion=new, changes=changes, rerated=changes_rating)


def _merge_sub_ids(current: tuple[str | None, ...], requested: tuple[str | None, ...] | None) -> tuple[str | None, ...]:
    if requested is None:
        return current
    padded = list(current) + [None] * (6 - len(current))
    for i, value in enumerate(requested[:6]):
        if value is not None:
            padded[i] = value
    return tuple(padded[:6])
