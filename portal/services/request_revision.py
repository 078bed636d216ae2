"""What a conversion would look like if a request were applied: the one computation behind
creating, updating and previewing a request and behind processing it — and, for an attribution
claim, what the claimed conversion becomes under the claiming partner (`reassigned`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from portal.adapters.conversion_store import NewConversion
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.conversions import (
    SUB_ID_COUNT,
    Conversion,
    ConversionStatus,
    FieldChange,
    diff_fields,
)
from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.exchange_rates import ExchangeRate
from portal.domain.money import canonical, minor_unit, spread
from portal.domain.order_values import check_commission
from portal.domain.programs import DEFAULT_CATEGORY, Program
from portal.domain.rating import OrderLine, Rating
from portal.domain.requests import RequestedValues, RequestKind
from portal.services.conversion_rating import (
    RatedValues,
    explicit_commission,
    lines_of,
    program_amount,
    rate,
    rated_basket,
    with_status,
)
from portal.services.revision_cache import RevisionCache, Vocabulary, cache_of

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
        target_kind=c.target_kind,
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
    return _vocabulary_errors(await cache_of(uow).vocabulary(program.id), requested, conversion)


def _vocabulary_errors(
    vocabulary: Vocabulary, requested: RequestedValues, base: Conversion | None
) -> list[DomainError]:
    errors = ErrorCollector()
    target = requested.target or (base.target if base else None)
    category = requested.category or (base.category if base else DEFAULT_CATEGORY)
    if target is None:
        errors.add(
            "REQUIRED",
            "conversionTarget is required to create a conversion",
            (F, "conversionTarget"),
        )
    elif requested.target is not None or base is None:
        _check_key(errors, vocabulary.targets, target, "target", "conversionTarget")
    if requested.category is not None or base is None:
        _check_key(errors, vocabulary.categories, category, "category", "trackingCategory")
    note = requested.conversion_note or (base.conversion_note if base else None)
    if requested.conversion_note is not None and requested.conversion_note not in vocabulary.notes:
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


async def _exchange(
    cache: RevisionCache, source: str, program: Program, tracking_time: datetime
) -> ExchangeRate | None:
    """How `source` converts into the program currency on the tracking day (UTC)."""
    if source == program.currency:
        return None
    day = tracking_time.astimezone(UTC).date()
    try:
        return (await cache.rates(day)).exchange_rate(source, program.currency, day)
    except DomainError as error:
        raise DomainError(error.code, error.message, (F, "currency")) from None


@dataclass(slots=True)  # not frozen: one per row of an import
class _Amounts:
    """What a (re)rating takes, and what the conversion keeps of an original currency."""

    values: RatedValues
    original_value: Decimal | None
    original_currency: str | None
    rate: Decimal | None


async def _amounts(
    cache: RevisionCache,
    program: Program,
    requested: RequestedValues,
    base: NewConversion | None,
    target: str,
    category: str,
    tracking_time: datetime,
) -> _Amounts:
    """The values to rate: the requested order value (converted exactly inside the rating when
    it is in another currency), else the conversion's own — its original amount again at the
    rates of the (new) tracking day when it was reported in another currency. A basket keeps
    its positions; a new order value is shared out over them in proportion."""

    mappings = await cache.mappings(program.id)

    def values(
        order_value: Decimal,
        positions: tuple[OrderLine, ...] = (),
        exchange: ExchangeRate | None = None,
    ) -> RatedValues:
        return RatedValues(
            target, category, tracking_time, program.currency, order_value, _ZERO, positions,
            exchange, mappings,
        )  # fmt: skip

    positions = lines_of(base.basket) if base is not None else ()
    if requested.order_value is not None:
        currency = requested.currency or program.currency
        exchange = await _exchange(cache, currency, program, tracking_time)
        original = (
            (requested.order_value, currency, exchange.rate) if exchange else (None, None, None)
        )
        if not positions:
            return _Amounts(values(requested.order_value, (), exchange), *original)
        new_value = program_amount(
            requested.order_value, values(requested.order_value, (), exchange)
        )
        shares = spread(new_value, [p.order_value for p in positions], minor_unit(program.currency))
        resized = tuple(
            replace(p, order_value=share) for p, share in zip(positions, shares, strict=True)
        )
        return _Amounts(values(new_value, resized), *original)
    assert base is not None
    if base.original_currency and base.original_order_value is not None and not positions:
        exchange = await _exchange(cache, base.original_currency, program, tracking_time)
        return _Amounts(
            values(base.original_order_value, (), exchange),
            base.original_order_value,
            base.original_currency,
            exchange.rate if exchange else None,
        )
    return _Amounts(
        values(base.order_value, positions),
        base.original_order_value,
        base.original_currency,
        base.exchange_rate,
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
    cache = cache_of(uow)
    if conversion is not None:
        requested = without_current_values(requested, conversion, program.currency)
    vocabulary = await cache.vocabulary(program.id)
    errors = ErrorCollector()
    errors.errors.extend(_vocabulary_errors(vocabulary, requested, conversion))
    explicit = None
    if requested.commission is not None:
        explicit = check_commission(
            errors, requested.commission, program.currency, (F, "commission")
        )
    errors.raise_if_any()
    base = from_conversion(conversion) if conversion is not None else None
    target = requested.target or (base.target if base else None)
    category = requested.category or (base.category if base else DEFAULT_CATEGORY)
    note = requested.conversion_note or (base.conversion_note if base else None)
    status = requested.status or (base.status if base else ConversionStatus.OPEN)
    assert target is not None
    tracking_time = requested.tracking_time or (base.tracking_time if base else None)
    assert tracking_time is not None
    changes_rating = base is None or any(getattr(requested, f) is not None for f in RATING_FIELDS)

    new = NewConversion(
        program_id=program.id,
        partner_id=partner_id,
        order_id=base.order_id if base else (requested.order_id or "").strip(),
        target=target,
        target_kind=vocabulary.kind_of(target),
        category=category,
        tracking_time=tracking_time,
        currency=program.currency,
        order_value=base.order_value if base else _ZERO,
        commission=base.commission if base else _ZERO,
        status=status,
        commission_model_name=base.commission_model_name if base else None,
        commission_breakdown=base.commission_breakdown if base else {},
        commission_overridden=base.commission_overridden if base else False,
        original_order_value=base.original_order_value if base else None,
        original_currency=base.original_currency if base else None,
        exchange_rate=base.exchange_rate if base else None,
        conversion_note=note,
        sub_ids=_merge_sub_ids(base.sub_ids if base else _NO_SUB_IDS, requested.sub_ids),
        device=requested.device or (base.device if base else None),
        basket=with_status(base.basket, status) if base else (),
    )
    rating: Rating | None = None
    values: RatedValues | None = None
    if changes_rating:
        amounts = await _amounts(cache, program, requested, base, target, category, tracking_time)
        values = amounts.values
        rating = await _rating(cache, program, partner_id, values, explicit is not None)
        new.order_value = program_amount(values.order_value, values)
        new.original_order_value = amounts.original_value
        new.original_currency = amounts.original_currency
        new.exchange_rate = amounts.rate
        if rating is not None:
            new.commission = rating.commission.amount
            new.commission_model_name = rating.model_name
            new.commission_breakdown = rating.breakdown
            new.commission_overridden = False
    if explicit is not None:
        computed = (
            rating.commission.amount
            if rating
            else base.commission
            if base and not changes_rating and not base.commission_overridden
            else None
        )
        new.commission_breakdown = explicit_commission(
            new.commission_breakdown, computed, explicit, "request"
        )
        new.commission, new.commission_overridden = explicit, True
    if new.basket and (changes_rating or explicit is not None):
        if values is None:  # an explicit commission on the basket as it is
            values = RatedValues(
                target, category, tracking_time, program.currency, new.order_value, _ZERO,
                lines_of(new.basket),
            )  # fmt: skip
        new.basket = rated_basket(values, rating, new.commission, status)
    return Revised(conversion=new, before=base, rerated=changes_rating)


async def _rating(
    cache: RevisionCache,
    program: Program,
    partner_id: int,
    values: RatedValues,
    explicit: bool,
) -> Rating | None:
    """The rating under the partner's model; None when an explicit commission is given and
    there is no rating (no earning relationship, no period or rate)."""
    model = await cache.rating_model(program.id, partner_id)
    if model is None:
        if explicit:
            return None
        raise DomainError(
            "NO_ACTIVE_RELATIONSHIP",
            "the partner has no active relationship with the program",
            ("programId",),
        )
    try:
        return rate(model, values)
    except DomainError as error:
        if explicit:
            return None
        raise DomainError(error.code, error.message, (F, *error.field)) from None


async def reassigned(
    uow: UnitOfWork,
    program: Program,
    conversion: Conversion,
    partner_id: int,
    requested: RequestedValues,
) -> Revised:
    """An attribution claim accepted: the tracked conversion as it would be under the claiming
    partner — the order's tracked values (order value, basket, time, target, category, status)
    stay; it is rated again under that partner's relationship, and carries the claiming
    partner's sub IDs and device (the former partner's are its own tracking data)."""
    cache = cache_of(uow)
    base = from_conversion(conversion)
    amounts = await _amounts(
        cache,
        program,
        RequestedValues(),
        base,
        base.target,
        base.category,
        base.tracking_time,
    )
    rating = await _rating(cache, program, partner_id, amounts.values, False)
    assert rating is not None
    sub_ids = tuple(requested.sub_ids or ())
    new = replace(
        base,
        partner_id=partner_id,
        order_value=program_amount(amounts.values.order_value, amounts.values),
        original_order_value=amounts.original_value,
        original_currency=amounts.original_currency,
        exchange_rate=amounts.rate,
        commission=rating.commission.amount,
        commission_model_name=rating.model_name,
        commission_breakdown=rating.breakdown,
        commission_overridden=False,
        sub_ids=(*sub_ids, *(None,) * (SUB_ID_COUNT - len(sub_ids)))[:SUB_ID_COUNT],
        device=requested.device,
        basket=rated_basket(amounts.values, rating, rating.commission.amount, base.status)
        if base.basket
        else (),
    )
    return Revised(conversion=new, before=base, rerated=True)


def _merge_sub_ids(
    current: tuple[str | None, ...], requested: tuple[str | None, ...] | None
) -> tuple[str | None, ...]:
    if requested is None:
        return current
    if current is _NO_SUB_IDS and len(requested) == SUB_ID_COUNT:
        return requested
    padded = list(current) + [None] * (SUB_ID_COUNT - len(current))
    for i, value in enumerate(requested[:SUB_ID_COUNT]):
        if value is not None:
            padded[i] = value
    return tuple(padded[:SUB_ID_COUNT])
