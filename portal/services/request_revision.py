"""What a conversion would look like if a request were applied: the one computation behind
creating, updating and previewing a request and behind processing it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC
from decimal import Decimal
from typing import Any

from portal.adapters.conversion_store import NewConversion
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import (
    SUB_ID_COUNT,
    Conversion,
    ConversionStatus,
    FieldChange,
    diff_fields,
)
from portal.domain.errors import DomainError, ErrorCollector, ValidationFailed
from portal.domain.money import canonical, round_half_up
from portal.domain.programs import DEFAULT_CATEGORY, Program
from portal.domain.rating import RatingInput, rate_conversion
from portal.domain.requests import RequestedValues, RequestKind
from portal.services.revision_cache import cache_of

RATING_FIELDS = ("target", "category", "tracking_time", "order_value", "currency")
F = "requested"
_ZERO = Decimal(0)
_NO_SUB_IDS: tuple[str | None, ...] = (None,) * SUB_ID_COUNT


@dataclass(slots=True)  # not frozen: one per row of an import (see NewConversion)
class Revised:
    conversion: NewConversion  # as it would be
    before: NewConversion | None  # as it is (None: it would be created)
    rerated: bool

    @property
    def changes(self) -> tuple[FieldChange, ...]:
        """Field by field, old → new (computed when asked: a file import never asks)."""
        after = self.conversion.rendered()
        if self.before is None:
            return tuple(FieldChange(k, None, v) for k, v in after.items())
        return tuple(diff_fields(self.before.rendered(), after))


def _check_key(
    errors: ErrorCollector, known: dict[str, bool], key: str, what: str, field: str
) -> None:
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
        # As read back, amounts may carry the column's scale ("5.000000" on PostgreSQL); the
        # diff compares them as text with freshly rated ones ("5.00").
        order_value=canonical(c.order_value, c.currency),
        commission=canonical(c.commission, c.currency),
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


async def vocabulary_errors(
    uow: UnitOfWork, program: Program, requested: RequestedValues, conversion: Conversion | None
) -> list[DomainError]:
    """The checks of the program's keys a request names (target, category, conversion note),
    each naming its field under `requested`. Also used to report them together with the
    value errors of an input, so every problem is reported at once."""
    categories, targets, notes = await cache_of(uow).vocabulary(program.id)
    errors = ErrorCollector()
    base = conversion
    target = requested.target or (base.target if base else None)
    category = requested.category or (base.category if base else DEFAULT_CATEGORY)
    if target is None:
        errors.add(
            "REQUIRED",
            "conversionTarget is required to create a conversion",
            (F, "conversionTarget"),
        )
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
    return errors.errors


def without_current_values(
    requested: RequestedValues, c: Conversion, program_currency: str
) -> RequestedValues:
    """Asking for a field's current value is no change: an exported conversion file re-uploaded
    with one edited cell changes that cell only — its unchanged commission must not become an
    explicit override, its unchanged value must not re-rate."""
    same_currency = requested.currency in (None, program_currency)
    current = {
        "target": c.target,
        "category": c.category,
        "tracking_time": c.tracking_time,
        "order_value": c.order_value if same_currency else None,
        "currency": program_currency,
        "status": c.status,
        "commission": c.commission,
        "device": c.device,
        "conversion_note": c.conversion_note,
    }
    changes = {
        name: None
        for name, value in current.items()
        if value is not None
        and getattr(requested, name) is not None
        and getattr(requested, name) == value
    }
    if requested.sub_ids is not None and tuple(requested.sub_ids) == tuple(
        c.sub_ids[: len(requested.sub_ids)]
    ):
        changes["sub_ids"] = None
    if "order_value" not in changes and requested.order_value is not None:
        changes.pop("currency", None)  # the currency qualifies a changed value
    return replace(requested, **changes) if changes else requested


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
    cache = cache_of(uow)
    if conversion is not None:
        requested = without_current_values(requested, conversion, program.currency)
    key_errors = await vocabulary_errors(uow, program, requested, conversion)
    if key_errors:
        raise ValidationFailed(key_errors)
    base = from_conversion(conversion) if conversion is not None else None
    target = requested.target or (base.target if base else None)
    category = requested.category or (base.category if base else DEFAULT_CATEGORY)
    note = requested.conversion_note or (base.conversion_note if base else None)
    status = requested.status or (base.status if base else ConversionStatus.OPEN)
    assert target is not None

    tracking_time = requested.tracking_time or (base.tracking_time if base else None)
    assert tracking_time is not None
    changes_rating = base is None or any(getattr(requested, f) is not None for f in RATING_FIELDS)

    order_value = base.order_value if base else _ZERO
    original_value, original_currency, rate = (
        (base.original_order_value, base.original_currency, base.exchange_rate)
        if base
        else (None, None, None)
    )
    exact_value = order_value
    if requested.order_value is not None:
        currency = requested.currency or program.currency
        exact_value = requested.order_value
        original_value, original_currency, rate = None, None, None
        if currency != program.currency:
            table = await cache.rates(tracking_time.astimezone(UTC).date())
            try:
                converted = table.convert(
                    requested.order_value,
                    currency,
                    program.currency,
                    tracking_time.astimezone(UTC).date(),
                )
            except DomainError as error:
                raise DomainError(error.code, error.message, (F, "currency")) from None
            exact_value = converted.amount
            original_value, original_currency, rate = (
                requested.order_value,
                currency,
                converted.rate,
            )
        order_value = round_half_up(exact_value, program.currency)

    commission = base.commission if base else _ZERO
    model_name = base.commission_model_name if base else None
    breakdown: dict[str, Any] = base.commission_breakdown if base else {}
    overridden = base.commission_overridden if base else False
    if changes_rating:
        model = await cache.rating_model(program.id, partner_id)
        if model is None:
            raise DomainError(
                "NO_ACTIVE_RELATIONSHIP",
                "the partner has no active relationship with the program",
                ("programId",),
            )
        try:
            rating = rate_conversion(
                model, RatingInput(target, category, tracking_time, program.currency, exact_value)
            )
        except DomainError as error:
            if requested.commission is None:
                raise DomainError(error.code, error.message, (F, *error.field)) from None
        else:
            commission, model_name, breakdown, overridden = (
                rating.commission.amount,
                rating.model_name,
                rating.breakdown,
                False,
            )
    if requested.commission is not None:
        commission, overridden = round_half_up(requested.commission, program.currency), True
        breakdown = {
            **breakdown,
            "overriddenBy": "request",
            "requestedCommission": str(requested.commission),
        }

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
        sub_ids=_merge_sub_ids(base.sub_ids if base else _NO_SUB_IDS, requested.sub_ids),
        device=requested.device or (base.device if base else None),
        basket=base.basket if base else (),
    )
    return Revised(conversion=new, before=base, rerated=changes_rating)


def _merge_sub_ids(
    current: tuple[str | None, ...], requested: tuple[str | None, ...] | None
) -> tuple[str | None, ...]:
    if requested is None:
        return current
    if current is _NO_SUB_IDS and len(requested) == SUB_ID_COUNT:
        return requested
    padded = list(current) + [None] * (6 - len(current))
    for i, value in enumerate(requested[:6]):
        if value is not None:
            padded[i] = value
    return tuple(padded[:6])
