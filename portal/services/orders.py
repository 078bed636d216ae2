"""Recording tracked orders (`recordOrder`, `recordOrders`): check, attribute (SPEC §5), rate
(SPEC §4) and store each order as a conversion — or answer why nobody earns it.

One batch is one transaction. Everything the batch is decided with is loaded once
(`order_batch.load_batch`); each order is then written inside its own savepoint, so a failing
order leaves nothing behind and never affects the others.

An order id of a program has at most one conversion of each target kind (a sale, a lead), and
all of them are one partner's (the database enforces the first, `attribute_order` the second):

- Re-sending an order (same order id, target and category) creates nothing: the answer carries
  the existing conversion and the rule `ALREADY_RECORDED`, whose partner is the existing
  conversion's. Without an explicit target, a re-send matches the stored SALE_NEW_CUSTOMER or
  SALE_EXISTING_CUSTOMER conversion of the order, so a re-send never turns into a "returning
  customer" order of itself.
- The same order id with another target of the same kind, or another category, is refused
  (ORDER_ALREADY_RECORDED): the categories of one order are positions of its basket, and a
  change of a recorded conversion is a CHANGE_EXISTING request. It is never paid twice.
- The lead of an order recorded as a sale (or the other way round) is a conversion of its own,
  and goes to the partner of the order (rule SAME_ORDER).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

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
    OrderOwner,
    OriginalReferral,
    attribute_order,
    customer_keys,
    resolve_follow_up,
)
from portal.domain.conversions import Conversion, RevisionSource
from portal.domain.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from portal.domain.programs import TargetKind
from portal.domain.rating import Rating
from portal.global_ids import encode_id
from portal.services.claims import link_tracked_orders
from portal.services.conversion_rating import (
    RatedValues,
    explicit_commission,
    program_amount,
    rate,
    rated_basket,
)
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
OrderKey = tuple[int, str, TargetKind]  # program, order id, target kind


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
    planned: dict[OrderKey, Planned] = {}
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
    explicit_target: str | None


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
    planned: dict[OrderKey, Planned],
) -> None:
    setup = batch.programs.get(order.program_id)
    if setup is None:
        raise NotFound("program", ("programId",))
    checked = check_order(order, setup, batch.rates, now)
    program_id = setup.program.id
    explicit = checked.explicit_target
    kind = setup.target_kind(explicit) if explicit is not None else TargetKind.SALE
    lead = kind is TargetKind.LEAD
    original = None if lead else _original_referral(setup, batch, keys, checked.order_id)
    returning = original is not None and original.order_time <= checked.tracking_time
    if explicit is not None:
        target = explicit
    else:
        default = RETURNING_CUSTOMER_TARGET if returning else NEW_CUSTOMER_TARGET
        target = resolve_target(setup, default, ("conversionTarget",))

    key = (program_id, checked.order_id, kind)
    if key in planned:
        raise DomainError(
            "DUPLICATE_IN_BATCH",
            f"order {checked.order_id!r} ({kind.value}) is already an earlier order of this batch",
            ("orderId",),
        )
    of_order = batch.existing.of_order(program_id, checked.order_id)
    same_kind = next((c for c in of_order if c.target_kind is kind), None)
    if same_kind is not None:
        _answer_existing(result, same_kind, checked, setup, returning)
        return
    owner = _owner(of_order, planned, program_id, checked.order_id)

    decision = attribute_order(
        order_time=checked.tracking_time,
        touchpoints=checked.touchpoints,
        settings=setup.settings,
        original=original,
        eligible_partner_ids=setup.eligible_partner_ids,
        lead=lead,
        owner=owner,
        labels=setup.labels(_named_partners(checked, original, owner)),
    )
    result.attribution = OrderAttribution.of(decision)
    if decision.partner_id is None:
        return

    new = _new_conversion(setup, batch, checked, target, kind, decision.partner_id, keys)
    planned[key] = Planned(result, new, returning, explicit)
    if not keys.is_empty and not lead:
        known = KnownOrder(
            _PLANNED_ID + len(planned), new.partner_id, new.order_id, new.tracking_time
        )
        batch.customers.add(program_id, keys, known)


def _owner(
    of_order: Sequence[Conversion],
    planned: dict[OrderKey, Planned],
    program_id: int,
    order_id: str,
) -> OrderOwner | None:
    """The partner a stored (or planned) conversion of the order id gives the order to."""
    for conversion in of_order:
        return OrderOwner(conversion.partner_id, conversion.target)
    for kind in TargetKind:
        other = planned.get((program_id, order_id, kind))
        if other is not None:
            return OrderOwner(other.new.partner_id, other.new.target)
    return None


def _named_partners(
    checked: CheckedOrder, original: OriginalReferral | None, owner: OrderOwner | None
) -> set[int]:
    named = {t.partner_id for t in checked.touchpoints}
    if original is not None:
        named.add(original.partner_id)
    if owner is not None:
        named.add(owner.partner_id)
    return named


def _is_resend(existing: Conversion, target: str | None, category: str) -> bool:
    """Whether an order naming `target` (None: the default sale targets) and `category` is
    the stored conversion sent again."""
    if existing.category != category:
        return False
    return existing.target == target if target is not None else existing.target in _SALE_TARGETS


async def _write(uow: UnitOfWork, viewer: Viewer, planned: list[Planned]) -> None:
    """All planned conversions in one savepoint and two statements. When that collides with a
    concurrent send of the same order (unique constraint), the savepoint is rolled back and the
    orders are written one by one, each in its own savepoint; a colliding one answers with the
    conversion the other send stored. Requests raised for these orders before are then linked
    to them (`link_tracked_orders`)."""
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
    else:
        for item, conversion_id in zip(planned, ids, strict=True):
            item.result.conversion = _stored(item.new, conversion_id, uow.now)
            item.result.created = True
    await link_tracked_orders(
        uow, [(p.new.program_id, p.new.order_id) for p in planned if p.result.created]
    )


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
                conversions.c.target_kind == new.target_kind.value,
            )
        )
        if row is None:
            raise
        existing = rows.conversion(row)
        item.result.attribution = None
        try:
            _answer_existing_as(item.result, existing, item, new.category)
        except DomainError as error:
            item.result.conversion = None
            item.result.errors = [error]
        return
    item.result.conversion = _stored(new, conversion_id, uow.now)
    item.result.created = True


async def _open_transaction(uow: UnitOfWork) -> None:
    """pysqlite opens its transaction only at the first INSERT/UPDATE/DELETE: a SAVEPOINT before
    that runs outside any transaction and its RELEASE commits. A no-op UPDATE opens it."""
    if uow.conn.dialect.name == "sqlite":
        await uow.conn.execute(update(programs).where(false()).values(name=programs.c.name))


def _answer_existing(
    result: OrderResult,
    existing: Conversion,
    checked: CheckedOrder,
    setup: ProgramSetup,
    returning: bool,
) -> None:
    """A re-send answers with the stored conversion; another target of the same kind, or
    another category, is refused (it would pay the order twice)."""
    if not _is_resend(existing, checked.explicit_target, checked.category):
        raise _already_recorded(existing)
    label = setup.labels([existing.partner_id])[existing.partner_id]
    result.conversion = existing
    result.attribution = OrderAttribution(
        partner_id=existing.partner_id,
        rule=ALREADY_RECORDED,
        reason=(
            f"order {existing.order_id!r} was already recorded at "
            f"{existing.created_at.astimezone(UTC).isoformat()} for {label} "
            f"({existing.target} × {existing.category}); nothing changed"
        ),
        touchpoint=None,
        returning_customer=returning,
    )


def _answer_existing_as(
    result: OrderResult, existing: Conversion, item: Planned, category: str
) -> None:
    """`_answer_existing` for a conversion a concurrent send stored meanwhile."""
    if not _is_resend(existing, item.explicit_target, category):
        raise _already_recorded(existing)
    result.conversion = existing
    result.attribution = OrderAttribution(
        partner_id=existing.partner_id,
        rule=ALREADY_RECORDED,
        reason=f"order {existing.order_id!r} was recorded meanwhile by another call; nothing "
        "changed",
        touchpoint=None,
        returning_customer=item.returning,
    )


def _already_recorded(existing: Conversion) -> DomainError:
    return DomainError(
        "ORDER_ALREADY_RECORDED",
        f"order {existing.order_id!r} is recorded already, as {existing.target} × "
        f"{existing.category} (conversion {encode_id('Conversion', existing.id)}): an order is "
        f"one {existing.target_kind.value.lower()} conversion; send the categories of an order "
        "as positions of its basket, and change a recorded conversion with a CHANGE_EXISTING "
        "request",
        ("orderId",),
    )


def _values(setup: ProgramSetup, checked: CheckedOrder, target: str) -> RatedValues:
    return RatedValues(
        target=target,
        category=checked.category,
        tracking_time=checked.tracking_time,
        currency=checked.currency,
        order_value=checked.order_value,
        discount=checked.discount,
        positions=checked.basket,
        exchange=checked.exchange,
        mappings=setup.mappings,
    )


def _rate(
    setup: ProgramSetup, batch: Batch, checked: CheckedOrder, values: RatedValues, partner: int
) -> Rating | None:
    link = setup.relationships.get(partner)
    model_id = link.commission_model_id if link else None
    model = batch.models.get(model_id) if model_id is not None else None
    try:
        if model is None:
            raise DomainError(
                "NO_COMMISSION_MODEL",
                f"partner {encode_id('Partner', partner)} has no commission model in this program",
                ("programId",),
            )
        return rate(model, values)
    except DomainError:
        if checked.commission is None:
            raise
        return None  # an explicit commission needs no rate


def _new_conversion(
    setup: ProgramSetup,
    batch: Batch,
    checked: CheckedOrder,
    target: str,
    kind: TargetKind,
    partner_id: int,
    keys: CustomerKeys,
) -> NewConversion:
    values = _values(setup, checked, target)
    rating = _rate(setup, batch, checked, values, partner_id)
    if checked.commission is not None:
        breakdown = explicit_commission(
            dict(rating.breakdown) if rating else {},
            rating.commission.amount if rating else None,
            checked.commission,
            "order",
        )
        commission = checked.commission
    else:
        assert rating is not None
        breakdown, commission = dict(rating.breakdown), rating.commission.amount
    exchange = checked.exchange
    return NewConversion(
        program_id=setup.program.id,
        partner_id=partner_id,
        order_id=checked.order_id,
        target=target,
        target_kind=kind,
        category=checked.category,
        tracking_time=checked.tracking_time,
        currency=checked.currency,
        order_value=program_amount(checked.order_value, values),
        commission=commission,
        status=checked.status,
        commission_model_name=rating.model_name if rating else None,
        commission_breakdown=breakdown,
        commission_overridden=checked.commission is not None,
        original_order_value=checked.original_order_value,
        original_currency=checked.original_currency,
        exchange_rate=exchange.rate if exchange is not None else None,
        conversion_note=checked.conversion_note,
        sub_ids=checked.sub_ids,
        device=checked.device,
        basket=rated_basket(values, rating, commission, checked.status),
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
        target_kind=new.target_kind,
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
