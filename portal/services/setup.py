"""Setting up the network: advertisers, programs, partners."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update

from portal.adapters import rows
from portal.adapters.tables import (
    advertisers,
    conversion_notes,
    conversion_targets,
    conversions,
    partners,
    programs,
    tracking_categories,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, PermissionDenied
from portal.domain.money import require_currency
from portal.domain.partners import Partner, validate_country
from portal.domain.programs import (
    DEFAULT_CATEGORY,
    DEFAULT_NOTES,
    DEFAULT_TARGETS,
    Advertiser,
    ConsentMode,
    FollowUpPolicy,
    Program,
    default_target_kind,
    validate_name,
    validate_program_settings,
)
from portal.services.scope import managed_program, require_admin, visible_row


def _name(name: str) -> str:
    return validate_name(name)


async def create_advertiser(uow: UnitOfWork, viewer: Viewer, *, name: str) -> Advertiser:
    require_admin(viewer)
    pk = await uow.insert(insert(advertisers).values(name=_name(name), created_at=uow.now))
    return Advertiser(pk, _name(name), uow.now)


async def create_partner(
    uow: UnitOfWork, viewer: Viewer, *, name: str, payout_currency: str, country: str
) -> Partner:
    require_admin(viewer)
    values = dict(
        name=_name(name),
        payout_currency=require_currency(payout_currency, ("payoutCurrency",)),
        country=validate_country(country),
        created_at=uow.now,
    )
    pk = await uow.insert(insert(partners).values(**values))
    row = await uow.first(select(partners).where(partners.c.id == pk))
    assert row is not None
    return rows.partner(row)


async def create_program(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    advertiser_id: int | None,
    name: str,
    currency: str,
    cookie_lifetime_days: int = 30,
    consent_mode: ConsentMode = ConsentMode.RELAXED,
    follow_up_policy: FollowUpPolicy = FollowUpPolicy.WHENEVER_TRACKED,
    follow_up_window_days: int = 30,
    allow_self_acceptance: bool = False,
    publicly_listed: bool = False,
    strict_tracking_categories: bool = True,
    idempotency_key: str | None = None,
) -> Program:
    """Creates a program with its `default` category, the standard conversion targets and the
    standard conversion notes. Advertiser users create programs for their own advertiser.
    Repeating a call with the same idempotency key answers with the first call's program."""
    known = await uow.idempotent_result(viewer.user_id, "createProgram", idempotency_key)
    if known is not None:
        return rows.program(await visible_row(uow, viewer, programs, known, "program", ()))
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot create programs")
    if viewer.role is Role.ADVERTISER:
        advertiser_id = viewer.advertiser_id
    if advertiser_id is None:
        raise DomainError("REQUIRED", "name the advertiser", ("advertiserId",))
    await visible_row(uow, viewer, advertisers, advertiser_id, "advertiser", ("advertiserId",))
    validate_program_settings(cookie_lifetime_days, follow_up_window_days, name)
    require_currency(currency, ("currency",))
    pk = await uow.insert(
        insert(programs).values(
            advertiser_id=advertiser_id,
            name=name.strip(),
            currency=currency,
            cookie_lifetime_days=cookie_lifetime_days,
            consent_mode=consent_mode.value,
            follow_up_policy=follow_up_policy.value,
            follow_up_window_days=follow_up_window_days,
            allow_self_acceptance=allow_self_acceptance,
            publicly_listed=publicly_listed,
            strict_tracking_categories=strict_tracking_categories,
            created_at=uow.now,
        )
    )
    await uow.execute(
        insert(tracking_categories).values(
            program_id=pk, key=DEFAULT_CATEGORY, name="Default", active=True
        )
    )
    await uow.execute(
        insert(conversion_targets),
        [
            {
                "program_id": pk,
                "key": key,
                "name": key.replace("_", " ").capitalize(),
                "active": True,
                "kind": default_target_kind(key).value,
            }
            for key in DEFAULT_TARGETS
        ],
    )
    await uow.execute(
        insert(conversion_notes),
        [{"program_id": pk, "code": code, "text": text} for code, text in DEFAULT_NOTES.items()],
    )
    await uow.remember_idempotent(viewer.user_id, "createProgram", idempotency_key, pk)
    row = await uow.first(select(programs).where(programs.c.id == pk))
    assert row is not None
    return rows.program(row)


@dataclass(frozen=True, slots=True)
class ProgramChanges:
    """The settings an `updateProgram` call changes; None keeps a setting."""

    name: str | None = None
    currency: str | None = None
    cookie_lifetime_days: int | None = None
    consent_mode: ConsentMode | None = None
    follow_up_policy: FollowUpPolicy | None = None
    follow_up_window_days: int | None = None
    allow_self_acceptance: bool | None = None
    publicly_listed: bool | None = None
    strict_tracking_categories: bool | None = None


async def update_program(
    uow: UnitOfWork, viewer: Viewer, program_id: int, changes: ProgramChanges
) -> Program:
    """Changes a program's settings (admins, or users of the program's advertiser). The currency
    stays fixed once the program has conversions."""
    await managed_program(uow, viewer, program_id, ("programId",))
    # Locked, so two concurrent updates apply one after the other, each to the other's result.
    row = await uow.first(select(programs).where(programs.c.id == program_id).with_for_update())
    assert row is not None
    program = rows.program(row).revised(
        name=changes.name,
        cookie_lifetime_days=changes.cookie_lifetime_days,
        consent_mode=changes.consent_mode,
        follow_up_policy=changes.follow_up_policy,
        follow_up_window_days=changes.follow_up_window_days,
        allow_self_acceptance=changes.allow_self_acceptance,
        publicly_listed=changes.publicly_listed,
        strict_tracking_categories=changes.strict_tracking_categories,
    )
    if changes.currency is not None and changes.currency != program.currency:
        has_conversions = await uow.first(
            select(conversions.c.id).where(conversions.c.program_id == program_id).limit(1)
        )
        program = program.with_currency(changes.currency, has_conversions is not None)
    await uow.execute(
        update(programs)
        .where(programs.c.id == program_id)
        .values(
            name=program.name,
            currency=program.currency,
            cookie_lifetime_days=program.cookie_lifetime_days,
            consent_mode=program.consent_mode.value,
            follow_up_policy=program.follow_up_policy.value,
            follow_up_window_days=program.follow_up_window_days,
            allow_self_acceptance=program.allow_self_acceptance,
            publicly_listed=program.publicly_listed,
            strict_tracking_categories=program.strict_tracking_categories,
        )
    )
    return program


async def update_partner(
    uow: UnitOfWork,
    viewer: Viewer,
    partner_id: int,
    *,
    name: str | None = None,
    payout_currency: str | None = None,
    country: str | None = None,
) -> Partner:
    """Changes a partner's master data (admins, or the partner's own users). A new payout
    currency applies to payouts from the next billing run on."""
    await visible_row(uow, viewer, partners, partner_id, "partner", ("partnerId",))
    if not viewer.is_admin and viewer.partner_id != partner_id:
        raise PermissionDenied("only admins and the partner itself may change it", ("partnerId",))
    values: dict[str, str] = {}
    if name is not None:
        values["name"] = validate_name(name)
    if payout_currency is not None:
        values["payout_currency"] = require_currency(payout_currency, ("payoutCurrency",))
    if country is not None:
        values["country"] = validate_country(country)
    if values:
        await uow.execute(update(partners).where(partners.c.id == partner_id).values(**values))
    row = await uow.first(select(partners).where(partners.c.id == partner_id))
    assert row is not None
    return rows.partner(row)
