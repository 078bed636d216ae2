"""Setting up the network: advertisers, programs and their vocabularies, partners."""

from __future__ import annotations

from sqlalchemy import insert, select

from portal.adapters import rows
from portal.adapters.tables import (
    advertisers,
    conversion_notes,
    conversion_targets,
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
    validate_program_settings,
)
from portal.services.scope import require_admin, visible_row


def _name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise DomainError("BLANK", "the name must not be blank", ("name",))
    if len(cleaned) > 200:
        raise DomainError("TOO_LONG", "the name has at most 200 characters", ("name",))
    return cleaned


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
) -> Program:
    """Creates a program with its `default` category, the standard conversion targets and the
    standard conversion notes. Advertiser users create programs for their own advertiser."""
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
            created_at=uow.now,
        )
    )
    await uow.execute(
        insert(tracking_categories).values(program_id=pk, key=DEFAULT_CATEGORY, name="Default", active=True)
    )
    await uow.execute(
        insert(conversion_targets),
        [{"program_id": pk, "key": key, "name": key.replace("_", " ").capitalize(), "active": True}
         for key in DEFAULT_TARGETS],
    )
    await uow.execute(
        insert(conversion_notes),
        [{"program_id": pk, "code": code, "text": text} for code, text in DEFAULT_NOTES.items()],
    )
    row = await uow.first(select(programs).where(programs.c.id == pk))
    assert row is not None
    return rows.program(row)
