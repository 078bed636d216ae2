"""Shopping-cart mapping versions of a program (issue 16): set a new version, read the one in
effect or the history, and preview how sample positions would be mapped and rated. GraphQL
and file imports call these.

Visibility: the program's advertiser and admins; partners never see a mapping (they get
NOT_FOUND, whether or not they work with the program)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, or_, select

from portal.adapters import rows
from portal.adapters.cart_mapping_store import (
    VersionHead,
    insert_version,
    load_mappings,
    load_version,
    version_heads,
    version_with_start,
)
from portal.adapters.commission_store import load_models
from portal.adapters.conversion_store import with_invoice_status
from portal.adapters.tables import (
    commission_models,
    conversions,
    invoice_items,
    tracking_categories,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.cart_mapping import (
    MappingRule,
    MappingVersion,
    ShopAttributes,
    check_valid_from,
    validate_rules,
)
from portal.domain.commission import CommissionModel
from portal.domain.conversions import check_conversion_may_change
from portal.domain.errors import DomainError, NotFound, ValidationFailed
from portal.domain.programs import DEFAULT_CATEGORY, Program
from portal.domain.rating import OrderLine
from portal.services.conversion_rating import RatedValues, map_basket, rate
from portal.services.scope import managed_program

MAX_PREVIEW_POSITIONS = 100


async def mapping_program(
    uow: UnitOfWork, viewer: Viewer, program_id: int, field: tuple[str, ...] = ("programId",)
) -> Program:
    """The program whose mapping the viewer may see and change: its advertiser's users and
    admins. Partners get NOT_FOUND (a mapping is never theirs to see)."""
    if viewer.role is Role.PARTNER:
        raise NotFound("program", field)
    return rows.program(await managed_program(uow, viewer, program_id, field))


async def _categories(uow: UnitOfWork, program_id: int) -> dict[str, bool]:
    t = tracking_categories.c
    result = await uow.conn.execute(select(t.key, t.active).where(t.program_id == program_id))
    return {r.key: r.active for r in result}


async def check_paid_period(uow: UnitOfWork, program_id: int, valid_from: datetime) -> None:
    """A version may not start inside a paid period: a conversion of the program tracked at or
    after `valid_from` that is paid could no longer change (the CONVERSION_PAID rule), so the
    new version would describe ratings that can never happen. Conversions that are rated but not
    paid do not block it: they keep their commission unless re-rated (then by the version in
    effect at their tracking time)."""
    c = conversions.c
    row = await uow.first(
        with_invoice_status()
        .where(
            c.program_id == program_id,
            or_(
                c.payout_entry_id.is_not(None),
                exists().where(invoice_items.c.conversion_id == c.id),
            ),
            c.tracking_time >= valid_from,
        )
        .order_by(c.tracking_time.desc())
        .limit(1)
    )
    if row is not None:
        try:
            check_conversion_may_change(rows.conversion(row), ("validFrom",))
        except DomainError as error:
            raise DomainError(
                error.code,
                f"validFrom lies in an already rated and paid period: {error.message}; a new "
                f"mapping version may start after {row.tracking_time.isoformat()}",
                error.field,
            ) from None


async def set_cart_mapping(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    valid_from: datetime,
    rules: Sequence[MappingRule],
    *,
    dry_run: bool = False,
) -> MappingVersion:
    """Stores a new version of the program's mapping, in effect from `valid_from` until the
    next version's. Every problem is reported at once, nothing is written on any. `dry_run`:
    everything is checked, nothing is written (the version answered has id 0)."""
    await mapping_program(uow, viewer, program_id)
    check_valid_from(valid_from)
    errors: list[DomainError] = []
    try:
        cleaned = validate_rules(rules, await _categories(uow, program_id))
    except ValidationFailed as failed:
        errors.extend(failed.errors)
        cleaned = ()
    try:
        await check_paid_period(uow, program_id, valid_from)
    except DomainError as error:
        errors.append(error)
    if await version_with_start(uow, program_id, valid_from) is not None:
        errors.append(
            DomainError(
                "VERSION_EXISTS",
                f"a version starting {valid_from.isoformat()} exists already; versions never "
                "change: start the new one at another instant",
                ("validFrom",),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    if dry_run:
        return MappingVersion(0, program_id, valid_from, cleaned, uow.now)
    return await insert_version(uow, program_id, valid_from, cleaned, viewer.user_id or None)


async def cart_mapping(
    uow: UnitOfWork, viewer: Viewer, program_id: int, at: datetime
) -> MappingVersion | None:
    """The version in effect at `at` (None: none is)."""
    await mapping_program(uow, viewer, program_id)
    if at.tzinfo is None or at.utcoffset() is None:
        raise DomainError("INVALID_DATETIME", "`at` needs a UTC offset", ("at",))
    return await load_version(uow, program_id, at)


async def cart_mapping_versions(
    uow: UnitOfWork, viewer: Viewer, program_id: int
) -> list[VersionHead]:
    """The program's versions, latest `validFrom` first (without their rules)."""
    await mapping_program(uow, viewer, program_id)
    return await version_heads(uow, program_id)


@dataclass(frozen=True, slots=True)
class PreviewPosition:
    """A sample position: the shop's description, its value (program currency) and quantity;
    `tracking_category` set: explicit, it wins over the mapping."""

    order_value: Decimal
    quantity: int = 1
    shop: ShopAttributes | None = None
    tracking_category: str | None = None


@dataclass(frozen=True, slots=True)
class PreviewLine:
    position: int  # 1-based
    version_id: int | None
    rule: int | None  # 0-based index of the rule that matched
    category: str
    mapped: bool
    commission: Decimal | None  # the position's share; None: no model or no rate


@dataclass(frozen=True, slots=True)
class Preview:
    lines: tuple[PreviewLine, ...]
    commission: Decimal | None
    model_name: str | None


async def preview_cart_mapping(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    at: datetime,
    positions: Sequence[PreviewPosition],
    *,
    target: str = "SALE_NEW_CUSTOMER",
    model_id: int | None = None,
) -> Preview:
    """How the positions would be mapped (with the version in effect at `at`) and rated by a
    commission model of the program (`model_id`, else its first model) as one conversion of
    `target`. Writes nothing."""
    program = await mapping_program(uow, viewer, program_id)
    if at.tzinfo is None or at.utcoffset() is None:
        raise DomainError("INVALID_DATETIME", "`at` needs a UTC offset", ("at",))
    if not positions or len(positions) > MAX_PREVIEW_POSITIONS:
        raise DomainError(
            "OUT_OF_RANGE",
            f"preview 1–{MAX_PREVIEW_POSITIONS} positions",
            ("positions",),
        )
    for index, p in enumerate(positions):
        if not p.order_value.is_finite() or p.order_value < 0:
            raise DomainError(
                "NEGATIVE_VALUE", "the value must not be negative", ("positions", str(index))
            )
    mappings = (await load_mappings(uow, [program_id]))[program_id]
    lines = tuple(
        OrderLine(
            (p.tracking_category or "").strip() or DEFAULT_CATEGORY,
            p.order_value,
            Decimal(0),
            None,
            max(p.quantity, 1),
            p.shop,
            not (p.tracking_category or "").strip(),
        )
        for p in positions
    )
    values = RatedValues(
        target=target,
        category=DEFAULT_CATEGORY,
        tracking_time=at,
        currency=program.currency,
        order_value=sum((p.order_value for p in positions), Decimal(0)),
        positions=lines,
        mappings=mappings,
    )
    map_basket(values)
    model = await _model(uow, program_id, model_id)
    rating = None
    if model is not None:
        try:
            rating = rate(model, values)
        except DomainError:
            rating = None
    return Preview(
        lines=tuple(
            PreviewLine(
                position=i + 1,
                version_id=line.match.version_id if line.match else None,
                rule=line.match.rule if line.match else None,
                category=line.category,
                mapped=line.mapped,
                commission=rating.lines[i].commission if rating else None,
            )
            for i, line in enumerate(values.positions)
        ),
        commission=rating.commission.amount if rating else None,
        model_name=rating.model_name if rating else None,
    )


async def _model(uow: UnitOfWork, program_id: int, model_id: int | None) -> CommissionModel | None:
    c = commission_models.c
    query = select(c.id).where(c.program_id == program_id)
    if model_id is not None:
        query = query.where(c.id == model_id)
    row = await uow.first(query.order_by(c.id).limit(1))
    if row is None:
        if model_id is not None:
            raise NotFound("commission model", ("commissionModelId",))
        return None
    return (await load_models(uow, [row.id])).get(row.id)
