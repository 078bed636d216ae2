"""Tracking mutations: `recordOrder` and `recordOrders` (a batch of up to 500, one result per
order). Both call `portal.services.orders.record_orders`; recordOrder is a batch of one."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.resolvers.support import MUTATION_INPUT, Info, run_in_uow, user_error_type
from portal.schema.ids import decode_typed
from portal.schema.scalars import CurrencyCode
from portal.schema.types.attribution import Attribution, TouchpointKindEnum
from portal.schema.types.conversions import Conversion
from portal.schema.types.enums import ConversionStatusEnum
from portal.services import orders
from portal.services.order_types import (
    MAX_BATCH,
    BasketLineInput,
    OrderInput,
    OrderResult,
    TouchpointInput,
)

ORDER_CODES = [
    "BLANK",
    "TOO_LONG",
    "REQUIRED",
    "INVALID_DATETIME",
    "FUTURE_TRACKING_TIME",
    "INVALID_AMOUNT",
    "NEGATIVE_VALUE",
    "DISCOUNT_EXCEEDS_VALUE",
    "BASKET_VALUE_MISMATCH",
    "ORDER_ALREADY_RECORDED",
    "UNKNOWN_CURRENCY",
    "UNKNOWN_CATEGORY",
    "INACTIVE_CATEGORY",
    "UNKNOWN_TARGET",
    "INACTIVE_TARGET",
    "INVALID_STATUS",
    "UNKNOWN_CONVERSION_NOTE",
    "TOO_MANY_SUB_IDS",
    "TOO_MANY_TOUCHPOINTS",
    "TOO_MANY_POSITIONS",
    "OUT_OF_RANGE",
    "MISSING_EXCHANGE_RATE",
    "INVALID_EXCHANGE_RATE",
    "CONFLICTING_EXCHANGE_RATE",
    "NO_COMMISSION_MODEL",
    "NO_COMMISSION_PERIOD",
    "NO_RATE",
]
RecordOrderErrorCode, RecordOrderUserError = user_error_type(
    "RecordOrder", [*ORDER_CODES, "BATCH_EMPTY", "BATCH_TOO_LARGE"]
)
RecordOrdersErrorCode, RecordOrdersUserError = user_error_type(
    "RecordOrders", [*ORDER_CODES, "DUPLICATE_IN_BATCH", "BATCH_TOO_LARGE", "BATCH_EMPTY"]
)


@strawberry.input(
    name="TouchpointInput",
    description="A touchpoint of the order: evidence that a partner referred it.",
)
class TouchpointInputType:
    kind: TouchpointKindEnum = strawberry.field(description="COOKIE, CLICK_ID or COUPON.")  # type: ignore[valid-type]
    partner_id: strawberry.ID = strawberry.field(description="Global id of the partner it names.")
    at: datetime = strawberry.field(
        description="When the cookie or click id was set, or the coupon redeemed."
    )
    consent: bool | None = strawberry.field(
        default=None,
        description="Whether the customer consented to tracking; null = unknown (does not count "
        "when the program's consent mode is RESTRICTIVE).",
    )
    reference: str | None = strawberry.field(
        default=None, description="Cookie id, click id or coupon code (quoted in the reason)."
    )


@strawberry.input(
    name="BasketPositionInput",
    description="One line of the order, rated with its own tracking category: the one given, "
    "else the one the program's cart mapping gives it (`setCartMapping`) by the shop's "
    "category, SKU, brand, sale flag and unit price.",
)
class BasketPositionInputType:
    order_value: Decimal = strawberry.field(
        description="Net value of the line (its total, not a unit price), in the order currency."
    )
    tracking_category: str | None = strawberry.field(
        default=None,
        description="Category key; it wins over the cart mapping. Null: the cart mapping's "
        "category (`default` when no rule matches or the program has no mapping). An unknown "
        "key is refused (UNKNOWN_CATEGORY) by a program with `strictTrackingCategories`, else "
        "booked as `default`; an inactive one is an error.",
    )
    discount: Decimal | None = strawberry.field(
        default=None, description="Discount on the line (default 0; at most the line value)."
    )
    product_id: str | None = strawberry.field(default=None, description="The shop's product id.")
    quantity: int | None = strawberry.field(default=None, description="Quantity (default 1).")
    shop_category: str | None = strawberry.field(
        default=None,
        description="The shop's own category path, segments separated by ` > ` (e.g. `Fashion > "
        "Shoes > Sneakers`); compared by the cart mapping, case-insensitively.",
    )
    sku: str | None = strawberry.field(
        default=None, description="The shop's SKU (default: productId); compared exactly."
    )
    brand: str | None = strawberry.field(
        default=None, description="The product's brand; compared case-insensitively."
    )
    on_sale: bool | None = strawberry.field(
        default=None, description="Whether the item was sold at a reduced price."
    )


@strawberry.input(description="A tracked order of a program, as the shop reports it.")
class RecordOrderInput:
    program_id: strawberry.ID = strawberry.field(description="Global id of the program.")
    order_id: str = strawberry.field(description="The shop's order id (1–200 characters).")
    tracking_time: datetime = strawberry.field(
        description="When the order was placed; at most a few minutes in the future."
    )
    order_value: Decimal | None = strawberry.field(
        default=None,
        description="Net order value (without shipping and VAT) in `currency`; not negative. "
        "With a basket it is the sum of the positions' values: left out, it is taken from "
        "them; given, it must equal it (else BASKET_VALUE_MISMATCH). Without a basket it is "
        "required (REQUIRED).",
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None,
        description="Currency of the amounts (default: the program currency). A foreign "
        "currency is converted with the reference rate of the tracking day (UTC).",
    )
    discount: Decimal | None = strawberry.field(
        default=None,
        description="Discount on the whole order (default 0; with the positions' own "
        "discounts at most the order value). Rated away when the commission model has "
        "discount rating (SPEC §4: the percentage applies to the net value after discount). "
        "With a basket it is shared out over the positions in proportion to their value after "
        "their own discount, in the currency's minor unit, the shares adding up to it exactly; "
        "each position is then rated after its share.",
    )
    conversion_target: str | None = strawberry.field(
        default=None,
        description="Target key; default SALE_EXISTING_CUSTOMER for a returning customer, "
        "else SALE_NEW_CUSTOMER. An order id has one conversion per target kind (a sale, a "
        "lead): the same order id again with another target of the kind, or another category, "
        "is ORDER_ALREADY_RECORDED; a lead of an order recorded as a sale (or the other way "
        "round) goes to the order's partner (rule SAME_ORDER). A lead never makes a customer "
        "returning, and its touchpoints alone decide it.",
    )
    tracking_category: str | None = strawberry.field(
        default=None,
        description="Category key; null or unknown = `default`; an inactive one is an error.",
    )
    status: ConversionStatusEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Initial status (default OPEN)."
    )
    conversion_note: str | None = strawberry.field(
        default=None, description="Code of a conversion note of the program (e.g. for REJECTED)."
    )
    commission: Decimal | None = strawberry.field(
        default=None,
        description="Explicit commission in the program currency; overrides the computed one "
        "and is marked as overridden.",
    )
    sub_ids: list[str | None] | None = strawberry.field(
        default=None, description="Sub IDs 1–6 (each at most 255 characters)."
    )
    device: str | None = strawberry.field(default=None, description="Device class, e.g. `mobile`.")
    customer_id: str | None = strawberry.field(
        default=None,
        description="The shop's customer id; only a keyed hash is stored (returning customers).",
    )
    customer_email: str | None = strawberry.field(
        default=None,
        description="The customer's e-mail, compared trimmed and case-folded; only a keyed hash "
        "is stored, never the address.",
    )
    touchpoints: list[TouchpointInputType] | None = strawberry.field(
        default=None, description="Cookies, click ids and coupons of the order (at most 50)."
    )
    basket: list[BasketPositionInputType] | None = strawberry.field(
        default=None, description="Basket positions, each rated with its own category."
    )


@strawberry.input(description=f"A batch of 1–{MAX_BATCH} orders.")
class RecordOrdersInput:
    orders: list[RecordOrderInput] = strawberry.field(
        description=f"The orders (1–{MAX_BATCH}); each is recorded or fails on its own."
    )


@strawberry.type(description="The outcome of `recordOrder`.")
class RecordOrderPayload:
    conversion: Conversion | None = strawberry.field(
        description="The conversion: the one created, or the existing one of a re-sent order; "
        "null when nobody earns the order or the order has errors."
    )
    attribution: Attribution | None = strawberry.field(
        description="Who earns the order and why (also when nobody does); null on errors."
    )
    created: bool = strawberry.field(description="Whether this call created the conversion.")
    user_errors: list[RecordOrderUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems; when there are any, nothing was written."
    )


@strawberry.type(description="The outcome of one order of a `recordOrders` batch.")
class RecordOrderResult:
    index: int = strawberry.field(description="0-based position of the order in the input.")
    order_id: str = strawberry.field(description="The order id as sent.")
    conversion: Conversion | None = strawberry.field(
        description="The created or existing conversion; null when nobody earns the order or "
        "it has errors."
    )
    attribution: Attribution | None = strawberry.field(
        description="Who earns the order and why; null on errors."
    )
    created: bool = strawberry.field(description="Whether this call created the conversion.")
    user_errors: list[RecordOrdersUserError] = strawberry.field(  # type: ignore[valid-type]
        description='This order\'s problems, with paths ["input", "orders", "<index>", …]; '
        "when there are any, nothing of this order was written."
    )


@strawberry.type(description="The outcome of `recordOrders`.")
class RecordOrdersPayload:
    results: list[RecordOrderResult] = strawberry.field(
        description="One result per order, in input order (empty on a whole-batch error)."
    )
    created_count: int = strawberry.field(description="How many conversions were created.")
    error_count: int = strawberry.field(description="How many orders had errors.")
    user_errors: list[RecordOrdersUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems of the whole batch (too large, not permitted); then nothing was "
        "written."
    )


def _order_input(raw: RecordOrderInput) -> OrderInput:
    """The service input; raises DomainError (paths relative to the order) for malformed ids."""
    program_id = decode_typed(raw.program_id, "Program", ("programId",))
    touchpoints = tuple(
        TouchpointInput(
            kind=t.kind,
            partner_id=decode_typed(t.partner_id, "Partner", ("touchpoints", str(i), "partnerId")),
            at=t.at,
            consent=t.consent,
            reference=t.reference,
        )
        for i, t in enumerate(raw.touchpoints or ())
    )
    basket = tuple(
        BasketLineInput(
            order_value=line.order_value,
            category=line.tracking_category,
            discount=line.discount if line.discount is not None else Decimal(0),
            product_id=line.product_id,
            quantity=line.quantity if line.quantity is not None else 1,
            shop_category=line.shop_category,
            sku=line.sku,
            brand=line.brand,
            on_sale=line.on_sale,
        )
        for line in raw.basket or ()
    )
    return OrderInput(
        program_id=program_id,
        order_id=raw.order_id,
        tracking_time=raw.tracking_time,
        order_value=raw.order_value,
        currency=raw.currency,
        discount=raw.discount if raw.discount is not None else Decimal(0),
        conversion_target=raw.conversion_target,
        tracking_category=raw.tracking_category,
        status=raw.status or ConversionStatus.OPEN,
        conversion_note=raw.conversion_note,
        commission=raw.commission,
        sub_ids=tuple(raw.sub_ids or ()),
        device=raw.device,
        customer_id=raw.customer_id,
        customer_email=raw.customer_email,
        touchpoints=touchpoints,
        basket=basket,
    )


async def _record(
    uow: UnitOfWork, viewer: Viewer, raw: Sequence[RecordOrderInput], secret: bytes
) -> list[OrderResult]:
    """Orders with malformed ids fail on their own; the others go to the service together."""
    orders.check_batch(viewer, len(raw))
    results: list[OrderResult | None] = []
    valid: list[tuple[int, OrderInput]] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, _order_input(item)))
            results.append(None)
        except DomainError as error:
            results.append(OrderResult(index=index, order_id=item.order_id, errors=[error]))
    if valid:
        recorded = await orders.record_orders(uow, viewer, [o for _, o in valid], secret)
        for (index, _), result in zip(valid, recorded, strict=True):
            result.index = index
            results[index] = result
    return [r for r in results if r is not None]


def _errors(
    errors: Sequence[DomainError], prefix: list[str], error_type: type[Any], codes: type[enum.Enum]
) -> list[Any]:
    return [
        error_type(
            field=[*prefix, *e.field] if e.field else prefix or None,
            message=e.message,
            code=codes[e.code],
        )
        for e in errors
    ]


@strawberry.type
class OrderMutations:
    @strawberry.mutation(
        description="Record one tracked order (advertisers for their programs, admins): check "
        "it, attribute it to at most one partner (SPEC §5), rate it and store it as a "
        "conversion. Answers with the attribution decision also when nobody earns the order. "
        "Re-sending an order creates nothing and answers with the existing conversion (rule "
        "ALREADY_RECORDED); the same order id with another target of its kind or another "
        "category is ORDER_ALREADY_RECORDED (an order is never paid twice)."
    )
    async def record_order(
        self, info: Info, input: Annotated[RecordOrderInput, MUTATION_INPUT]
    ) -> RecordOrderPayload:
        secret = info.context.settings.secret_key.encode()

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> list[OrderResult]:
            return await _record(uow, viewer, [input], secret)

        results, errors = await run_in_uow(
            info, RecordOrderUserError, RecordOrderErrorCode, use_case
        )
        if not results:
            return RecordOrderPayload(
                conversion=None, attribution=None, created=False, user_errors=errors
            )
        result = results[0]
        return RecordOrderPayload(
            conversion=Conversion.from_domain(result.conversion) if result.conversion else None,
            attribution=Attribution.from_service(result.attribution)
            if result.attribution
            else None,
            created=result.created,
            user_errors=_errors(
                result.errors, ["input"], RecordOrderUserError, RecordOrderErrorCode
            ),
        )

    @strawberry.mutation(
        description=f"Record a batch of 1–{MAX_BATCH} tracked orders, one result per order in "
        "input order. Each order is recorded or fails on its own (nothing of a failing order is "
        "written); the second occurrence of an order in one batch is DUPLICATE_IN_BATCH."
    )
    async def record_orders(
        self, info: Info, input: Annotated[RecordOrdersInput, MUTATION_INPUT]
    ) -> RecordOrdersPayload:
        secret = info.context.settings.secret_key.encode()

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> list[OrderResult]:
            return await _record(uow, viewer, input.orders, secret)

        results, errors = await run_in_uow(
            info, RecordOrdersUserError, RecordOrdersErrorCode, use_case
        )
        out = [
            RecordOrderResult(
                index=r.index,
                order_id=r.order_id,
                conversion=Conversion.from_domain(r.conversion) if r.conversion else None,
                attribution=Attribution.from_service(r.attribution) if r.attribution else None,
                created=r.created,
                user_errors=_errors(
                    r.errors,
                    ["input", "orders", str(r.index)],
                    RecordOrdersUserError,
                    RecordOrdersErrorCode,
                ),
            )
            for r in results or ()
        ]
        return RecordOrdersPayload(
            results=out,
            created_count=sum(1 for r in out if r.created),
            error_count=sum(1 for r in out if r.user_errors),
            user_errors=errors,
        )
