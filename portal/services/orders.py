"""Recording tracked orders (`recordOrder`, `recordOrders`): check, attribute (SPEC §5), rate
(SPEC §4) and store each order as a conversion — or answer why nobody earns it.

One batch is one transaction. Everything the batch is decided with is loaded once
(`order_batch.load_batch`); each order is then written inside its own savepoint, so a failing
order leaves nothing behind and never affects the others.

Re-sending an order (same program, order id, conversion target and tracking category) creates
nothing: the answer carries the existing conversion and the rule `ALREADY_RECORDED`, whose
partner is the existing conversion's. Without an explicit target, a re-send matches the stored
SALE_NEW_CUSTOMER or SALE_EXISTING_CUSTOMER conversion of the order, so a re-send never turns
into a "returning customer" order of itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import false, select, update
from sqlalchemy.exc import IntegrityError

from portal.adapters import rows
from portal.adapters.conversion_batch_store import insert_conversions
from portal.adapters.conversion_store import NewConversion, insert_conversion
from portal.adapters.tables import conversions, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.attribution import (
    CustomerKeys,
    OriginalReferral,
    attribute_order,
    customer_keys,
    resolve_follow_up,
)
from portal.domain.conversions import BasketPosition, Conversion, RevisionSource
from portal.domain.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.domain.money import round_half_up
from portal.domain.rating import Rating, RatingInput, rate_conversion
from portal.services.order_batch import Batch, KnownOrder, ProgramSetup, load_batch
from portal.services.order_checks import CheckedOrder, check_order, resolve_target
from portal.services.order_types import (
    ALREADY_RECORDED,
    MAX_BATCH,
    OrderAttribution,
    OrderInput,
    OrderResult,
)

NEW_CUSTOMER_TARGET = "SALE_NEW_CUSTOMER"
RETURNING_CUSTOMER_TARGET = "SALE_EXISTING_CUSTOMER"
_SALE_TARGETS = (NEW_CUSTOMER_TARGET, RETURNING_CUSTOMER_TARGET)


def check_batch(viewer: Viewer, count: int) -> None:
    """Whole-batch checks: who may record orders, and how many at once."""
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot record orders; raise a conversion request")
    if count < 1:
        raise DomainError("BATCH_EMPTY", "send at least one order", ("orders",))
    if count > MAX_BATCH:
        raise DomainError(
            "BATCH_TOO_LARGE",
            f"a batch has at most {MAX_BATCH} orders, not {count}",
            ("orders",),
        )


async def record_orders(
    uow: UnitOfWork, viewer: Viewer, orders: Sequence[OrderInput], secret: bytes
) -> list[OrderResult]:
    """Records a batch of 1–`MAX_BATCH` orders, one result per order, in input order.

    Whole-batch problems (a partner viewer, an empty or too large batch) raise and write
    nothing; an order's own problems are in its result. `secret` keys the customer hashes.
    Every order is first checked, attributed and rated in memory (an order counts as stored for
    the later orders of the batch: returning customers, duplicates); then the planned
    conversions are written (`_write`).
    """
    check_batch(viewer, len(orders))
    keys = [
        customer_keys(customer_id=o.customer_id, email=o.customer_email, secret=secret)
        for o in orders
    ]
    batch = await load_batch(uow, viewer, orders, keys)
    now = datetime.now(UTC)
    planned: dict[tuple[int, str, str, str], Planned] = {}
    results = []
    for index, order in enumerate(orders):
        result = OrderResult(index=index, order_id=order.order_id)
        try:
            _plan_one(batch, order, keys[index], now, result, planned)
        except ValidationFailed as failed:
            result.errors = list(failed.errors)
        except DomainError as error:
            result.errors = [error]
        if result.errors:
            result.conversion = None
            result.attribution = None
        results.append(result)
    await _write(uow, viewer, list(planned.values()))
    return results


@dataclass(slots=True)
class Planned:
    """A conversion to store, and the result that answers with it."""

    result: OrderResult
    new: NewConversion
    returning: bool


_PLANNED_ID = 10**18
"""Conversions planned in this batch sort after every stored one of the same tracking time."""


def _original_referral(
    setup: ProgramSetup, batch: Batch, keys: CustomerKeys, order_id: str
) -> OriginalReferral | None:
    known = batch.customers.first_order(setup.program.id, keys, order_id)
    if known is None:
        return None
    link = setup.relationships.get(known.partner_id)
    policy, window = resolve_follow_up(
        setup.settings,
        link.follow_up_policy if link else None,
        link.follow_up_window_days if link else None,
    )
    return OriginalReferral(known.partner_id, known.tracking_time, policy, window)


def _plan_one(
    batch: Batch,
    order: OrderInput,
    keys: CustomerKeys,
    now: datetime,
    result: OrderResult,
    planned: dict[tuple[int, str, str, str], Planned],
) -> None:
    setup = batch.programs.get(order.program_id)
    if setup is None:
        raise NotFound("program", ("programId",))
    checked = check_order(order, setup, batch.rates, now)
    original = _original_referral(setup, batch, keys, checked.order_id)
    returning = original is not None and original.order_time <= checked.tracking_time
    candidates: tuple[str, ...]
    if checked.explicit_target is not None:
        target, candidates = checked.explicit_target, (checked.explicit_target,)
    else:
        default = RETURNING_CUSTOMER_TARGET if returning else NEW_CUSTOMER_TARGET
        target = resolve_target(setup, default, ("conversionTarget",))
        candidates = (target, *(t for t in _SALE_TARGETS if t != target))
    program_id = setup.program.id

    keys_of_order = [(program_id, checked.order_id, t, checked.category) for t in candidates]
    if any(key in planned for key in keys_of_order):
        raise DomainError(
            "DUPLICATE_IN_BATCH",
            f"order {checked.order_id!r} ({target} × {checked.category}) is already an earlier "
            "order of this batch",
            ("orderId",),
        )
    existing = batch.existing.find(program_id, checked.order_id, candidates, checked.category)
    if existing is not None:
        _answer_existing(result, existing, returning)
        return

    decision = attribute_order(
        order_time=checked.tracking_time,
        touchpoints=checked.touchpoints,
        settings=setup.settings,
        original=original,
        eligible_partner_ids=setup.eligible_partner_ids,
    )
    result.attribution = OrderAttribution.of(decision)
    if decision.partner_id is None:
        return

    new = _new_conversion(setup, batch, checked, target, decision.partner_id, keys)
    planned[keys_of_order[0]] = Planned(result, new, returning)
    if not keys.is_empty:
        known = KnownOrder(
            _PLANNED_ID + len(planned), new.partner_id, new.order_id, new.tracking_time
        )
        batch.customers.add(program_id, keys, known)


async def _write(uow: UnitOfWork, viewer: Viewer, planned: list[Planned]) -> None:
    """All planned conversions in one savepoint and two statements. When that collides with a
    concurrent send of the same order (unique constraint), the savepoint is rolled back and the
    orders are written one by one, each in its own savepoint; a colliding one answers with the
    conversion the other send stored."""
    if not planned:
        return
    await _open_transaction(uow)
    actor = viewer.user_id or None
    try:
        async with uow.conn.begin_nested():
            ids = await insert_conversions(
                uow, [p.new for p in planned], RevisionSource.TRACKING, actor
            )
    except IntegrityError:
        for item in planned:
            await _write_one(uow, actor, item)
        return
    for item, conversion_id in zip(planned, ids, strict=True):
        item.result.conversion = _stored(item.new, conversion_id, uow.now)
        item.result.created = True


async def _write_one(uow: UnitOfWork, actor: int | None, item: Planned) -> None:
    new = item.new
    try:
        async with uow.conn.begin_nested():
            conversion_id = await insert_conversion(uow, new, RevisionSource.TRACKING, actor)
    except IntegrityError:
        row = await uow.first(
            select(conversions).where(
                conversions.c.program_id == new.program_id,
                conversions.c.order_id == new.order_id,
                conversions.c.target == new.target,
                conversions.c.category == new.category,
            )
        )
        if row is None:
            raise
        _answer_existing(item.result, rows.conversion(row), item.returning)
        return
    item.result.conversion = _stored(new, conversion_id, uow.now)
    item.result.created = True


async def _open_transaction(uow: UnitOfWork) -> None:
    """pysqlite opens its transaction only at the first INSERT/UPDATE/DELETE: a SAVEPOINT before
    that runs outside any transaction and its RELEASE commits. A no-op UPDATE opens it."""
    if uow.conn.dialect.name == "sqlite":
        await uow.conn.execute(update(programs).where(false()).values(name=programs.c.name))


def _answer_existing(result: OrderResult, existing: Conversion, returning: bool) -> None:
    result.conversion = existing
    result.attribution = OrderAttribution(
        partner_id=existing.partner_id,
        rule=ALREADY_RECORDED,
        reason=(
            f"order {existing.order_id!r} was already recorded at "
            f"{existing.created_at.astimezone(UTC).isoformat()} for partner "
            f"{existing.partner_id} ({existing.target} × {existing.category}); nothing changed"
        ),
        touchpoint=None,
        returning_customer=returning,
    )


def _rate(
    setup: ProgramSetup, batch: Batch, checked: CheckedOrder, target: str, partner: int
) -> Rating | None:
    link = setup.relationships.get(partner)
    model_id = link.commission_model_id if link else None
    model = batch.models.get(model_id) if model_id is not None else None
    try:
        if model is None:
            raise DomainError(
                "NO_COMMISSION_MODEL",
                f"partner {partner} has no commission model in this program",
                ("programId",),
            )
        return rate_conversion(
            model,
            RatingInput(
                target=target,
                category=checked.category,
                tracking_time=checked.tracking_time,
                currency=checked.currency,
                order_value=checked.order_value,
                discount=checked.discount,
                basket=checked.basket,
            ),
        )
    except DomainError:
        if checked.commission is None:
            raise
        return None  # an explicit commission needs no rate


def _new_conversion(
    setup: ProgramSetup,
    batch: Batch,
    checked: CheckedOrder,
    target: str,
    partner_id: int,
    keys: CustomerKeys,
) -> NewConversion:
    rating = _rate(setup, batch, checked, target, partner_id)
    currency = checked.currency
    breakdown: dict[str, object] = dict(rating.breakdown) if rating else {}
    if checked.original_currency is not None:
        breakdown["exchange"] = {
            "originalCurrency": checked.original_currency,
            "originalOrderValue": str(checked.original_order_value),
            "rate": str(checked.exchange_rate),
        }
    if checked.commission is not None:
        breakdown["overridden"] = True
        breakdown["computedCommission"] = str(rating.commission.amount) if rating else None
        breakdown["commission"] = str(checked.commission)
        commission = checked.commission
    else:
        assert rating is not None
        commission = rating.commission.amount
    shares = [line.commission for line in rating.lines] if rating else []
    basket = tuple(
        BasketPosition(
            position=index,
            category=line.category,
            order_value=round_half_up(line.order_value, currency),
            commission=shares[index - 1] if shares else round_half_up(Decimal(0), currency),
            status=checked.status,
            product_id=line.product_id,
            quantity=line.quantity,
        )
        for index, line in enumerate(checked.basket, start=1)
    )
    return NewConversion(
        program_id=setup.program.id,
        partner_id=partner_id,
        order_id=checked.order_id,
        target=target,
        category=checked.category,
        tracking_time=checked.tracking_time,
        currency=currency,
        order_value=round_half_up(checked.order_value, currency),
        commission=commission,
        status=checked.status,
        commission_model_name=rating.model_name if rating else None,
        commission_breakdown=breakdown,
        commission_overridden=checked.commission is not None,
        original_order_value=checked.original_order_value,
        original_currency=checked.original_currency,
        exchange_rate=checked.exchange_rate,
        conversion_note=checked.conversion_note,
        sub_ids=checked.sub_ids,
        device=checked.device,
        basket=basket,
        customer_id_hash=keys.customer_id_hash,
        email_hash=keys.email_hash,
    )


def _stored(new: NewConversion, conversion_id: int, now: datetime) -> Conversion:
    """The conversion as just inserted, without reading it back."""
    return Conversion(
        id=conversion_id,
        program_id=new.program_id,
        partner_id=new.partner_id,
        order_id=new.order_id,
        target=new.target,
        category=new.category,
        tracking_time=new.tracking_time.astimezone(UTC),
        currency=new.currency,
        order_value=new.order_value,
        commission=new.commission,
        status=new.status,
        commission_model_name=new.commission_model_name,
        commission_breakdown=new.commission_breakdown,
        commission_overridden=new.commission_overridden,
        original_order_value=new.original_order_value,
        original_currency=new.original_currency,
        exchange_rate=new.exchange_rate,
        conversion_note=new.conversion_note,
        sub_ids=tuple(new.sub_ids),
        device=new.device,
        basket=new.basket,
        payout_entry_id=None,
        created_at=now,
        updated_at=now,
    )
