"""Billing data: a partner's (VAT id, tax status, payout minimum, bank account, address), an
advertiser's (country, VAT id, address), programs' network fees, the issuer record and VAT
rates. VAT ids and bank accounts are checked offline before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from portal.adapters.billing_store import (
    advertiser_billing_of,
    load_issuer,
    network_fee_of,
    partner_billing_of,
    vat_rate_of,
)
from portal.adapters.tables import (
    advertiser_billing,
    advertisers,
    billing_issuer,
    network_fees,
    partner_billing,
    partners,
    programs,
    vat_rates,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.billing.model import (
    AdvertiserBilling,
    Issuer,
    NetworkFee,
    PartnerBilling,
    VatRate,
)
from portal.domain.billing.vat import TaxStatus
from portal.domain.billing.vat_ids import check_bic, check_iban, check_vat_id
from portal.domain.errors import DomainError, PermissionDenied, ValidationFailed
from portal.domain.partners import validate_country
from portal.services.scope import require_admin, visible_row

MAX_ADDRESS = 1000
UNSET: Any = object()  # a field not given: keep its value (None clears an optional one)


def _module(uow: UnitOfWork) -> Any:
    return postgresql if uow.conn.dialect.name == "postgresql" else sqlite


async def _upsert(uow: UnitOfWork, table: Any, key: str, row: dict[str, Any]) -> None:
    """Writes the one billing-data row of `table` keyed by `key`: inserted, or every given
    column replaced."""
    stmt = _module(uow).insert(table).values(**row)
    await uow.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c[key]], set_={k: stmt.excluded[k] for k in row if k != key}
        )
    )


def _address(raw: str | None, field: tuple[str, ...]) -> str | None:
    if raw is None:
        return None
    text = raw.strip()
    if len(text) > MAX_ADDRESS:
        raise DomainError("TOO_LONG", f"at most {MAX_ADDRESS} characters", field)
    return text or None


def _amount(raw: Decimal | None, field: tuple[str, ...]) -> Decimal | None:
    if raw is not None and (not raw.is_finite() or raw < 0 or raw >= Decimal("1e15")):
        raise DomainError("OUT_OF_RANGE", "must be a non-negative amount", field)
    return raw


def _collect(errors: list[DomainError], check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except DomainError as error:
        errors.append(error)
        return None


@dataclass(frozen=True, slots=True)
class PartnerBillingChange:
    vat_id: str | None = UNSET
    tax_status: TaxStatus | None = UNSET
    payout_minimum: Decimal | None = UNSET
    iban: str | None = UNSET
    bic: str | None = UNSET
    billing_address: str | None = UNSET


async def update_partner_billing(
    uow: UnitOfWork, viewer: Viewer, partner_id: int, change: PartnerBillingChange
) -> PartnerBilling:
    """Admins, or the partner's own users. Everything is checked before anything is written."""
    partner = await visible_row(uow, viewer, partners, partner_id, "partner", ("partnerId",))
    if not viewer.is_admin and viewer.partner_id != partner_id:
        raise PermissionDenied("only admins and the partner itself may change it", ("partnerId",))
    current = await load_partner_billing(uow, partner_id)
    errors: list[DomainError] = []
    values: dict[str, Any] = {}
    if change.vat_id is not UNSET:
        values["vat_id"] = (
            _collect(errors, check_vat_id, change.vat_id, partner.country, ("vatId",))
            if change.vat_id
            else None
        )
    if change.tax_status is not UNSET and change.tax_status is not None:
        values["tax_status"] = change.tax_status.value
    if change.payout_minimum is not UNSET:
        values["payout_minimum"] = _collect(
            errors, _amount, change.payout_minimum, ("payoutMinimum",)
        )
    if change.iban is not UNSET:
        values["iban"] = _collect(errors, check_iban, change.iban) if change.iban else None
    if change.bic is not UNSET:
        values["bic"] = _collect(errors, check_bic, change.bic) if change.bic else None
    if change.billing_address is not UNSET:
        values["billing_address"] = _collect(
            errors, _address, change.billing_address, ("billingAddress",)
        )
    if errors:
        raise ValidationFailed(errors)
    row = {
        "partner_id": partner_id,
        "vat_id": current.vat_id,
        "tax_status": current.tax_status.value,
        "payout_minimum": current.payout_minimum,
        "iban": current.iban,
        "bic": current.bic,
        "billing_address": current.billing_address,
        **values,
        "updated_at": uow.now,
    }
    await _upsert(uow, partner_billing, "partner_id", row)
    return await load_partner_billing(uow, partner_id)


async def load_partner_billing(uow: UnitOfWork, partner_id: int) -> PartnerBilling:
    row = await uow.first(select(partner_billing).where(partner_billing.c.partner_id == partner_id))
    if row is None:
        return PartnerBilling(partner_id, None, TaxStatus.REGULAR, None, None, None, None)
    return partner_billing_of(row)


async def update_advertiser_billing(
    uow: UnitOfWork,
    viewer: Viewer,
    advertiser_id: int,
    country: str | None = UNSET,
    vat_id: str | None = UNSET,
    billing_address: str | None = UNSET,
) -> AdvertiserBilling:
    """Admins, or the advertiser's own users."""
    await visible_row(uow, viewer, advertisers, advertiser_id, "advertiser", ("advertiserId",))
    if not viewer.is_admin and viewer.advertiser_id != advertiser_id:
        raise PermissionDenied(
            "only admins and the advertiser itself may change it", ("advertiserId",)
        )
    found = await uow.first(
        select(advertiser_billing).where(advertiser_billing.c.advertiser_id == advertiser_id)
    )
    current = (
        advertiser_billing_of(found)
        if found
        else AdvertiserBilling(advertiser_id, None, None, None)
    )
    errors: list[DomainError] = []
    new_country = current.country
    if country is not UNSET:
        new_country = _collect(errors, validate_country, country) if country else None
    new_vat = current.vat_id
    if vat_id is not UNSET:
        if vat_id and not new_country:
            errors.append(DomainError("REQUIRED", "a VAT id needs a country", ("country",)))
        elif vat_id:
            new_vat = _collect(errors, check_vat_id, vat_id, new_country, ("vatId",))
        else:
            new_vat = None
    address = current.billing_address
    if billing_address is not UNSET:
        address = _collect(errors, _address, billing_address, ("billingAddress",))
    if errors:
        raise ValidationFailed(errors)
    row = {
        "advertiser_id": advertiser_id,
        "country": new_country,
        "vat_id": new_vat,
        "billing_address": address,
        "updated_at": uow.now,
    }
    await _upsert(uow, advertiser_billing, "advertiser_id", row)
    return AdvertiserBilling(advertiser_id, new_country, new_vat, address)


async def set_network_fee(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    valid_from: datetime,
    percentage: Decimal | None,
    fixed_amount: Decimal | None,
) -> NetworkFee:
    """The program's network fee from `valid_from` on (admins): a conversion tracked at or
    after it and before the next fee's start pays it. Replaces a fee of the same start."""
    require_admin(viewer, ("programId",))
    await visible_row(uow, viewer, programs, program_id, "program", ("programId",))
    errors: list[DomainError] = []
    if percentage is not None and not (0 <= percentage <= 100):
        errors.append(DomainError("OUT_OF_RANGE", "between 0 and 100", ("percentage",)))
    _collect(errors, _amount, fixed_amount, ("fixedAmount",))
    if percentage is None and fixed_amount is None:
        errors.append(
            DomainError("REQUIRED", "give a percentage and/or a fixed amount", ("percentage",))
        )
    if valid_from.tzinfo is None:
        errors.append(DomainError("INVALID_DATETIME", "needs a time zone", ("validFrom",)))
    if errors:
        raise ValidationFailed(errors)
    row = {
        "program_id": program_id,
        "valid_from": valid_from,
        "percentage": percentage,
        "fixed_amount": fixed_amount,
        "created_at": uow.now,
    }
    stmt = _module(uow).insert(network_fees).values(**row)
    await uow.execute(
        stmt.on_conflict_do_update(
            index_elements=[network_fees.c.program_id, network_fees.c.valid_from],
            set_={"percentage": percentage, "fixed_amount": fixed_amount},
        )
    )
    found = await uow.first(
        select(network_fees).where(
            network_fees.c.program_id == program_id, network_fees.c.valid_from == valid_from
        )
    )
    assert found is not None
    return network_fee_of(found)


@dataclass(frozen=True, slots=True)
class IssuerChange:
    legal_name: str | None = None
    address: str | None = None
    vat_id: str | None = UNSET
    country: str | None = None
    credit_note_prefix: str | None = None
    invoice_prefix: str | None = None
    default_payout_minimum: Decimal | None = None
    iban: str | None = UNSET
    bic: str | None = UNSET


async def update_issuer(uow: UnitOfWork, viewer: Viewer, change: IssuerChange) -> Issuer:
    require_admin(viewer)
    current = await load_issuer(uow)
    errors: list[DomainError] = []
    values: dict[str, Any] = {}
    if change.legal_name is not None:
        name = change.legal_name.strip()
        if not name or len(name) > 200:
            errors.append(DomainError("BLANK", "1–200 characters", ("legalName",)))
        values["legal_name"] = name
    if change.address is not None:
        values["address"] = _collect(errors, _address, change.address, ("address",)) or ""
    country = current.country
    if change.country is not None:
        country = _collect(errors, validate_country, change.country) or current.country
        values["country"] = country
    if change.vat_id is not UNSET:
        values["vat_id"] = (
            _collect(errors, check_vat_id, change.vat_id, country, ("vatId",))
            if change.vat_id
            else None
        )
    for name, raw, field in (
        ("credit_note_prefix", change.credit_note_prefix, "creditNotePrefix"),
        ("invoice_prefix", change.invoice_prefix, "invoicePrefix"),
    ):
        if raw is not None:
            if not (1 <= len(raw) <= 8 and raw.isascii() and raw.isalnum()):
                errors.append(DomainError("INVALID_PREFIX", "1–8 letters or digits", (field,)))
            values[name] = raw
    if change.default_payout_minimum is not None:
        values["default_payout_minimum"] = _collect(
            errors, _amount, change.default_payout_minimum, ("defaultPayoutMinimum",)
        )
    if change.iban is not UNSET:
        values["iban"] = _collect(errors, check_iban, change.iban) if change.iban else None
    if change.bic is not UNSET:
        values["bic"] = _collect(errors, check_bic, change.bic) if change.bic else None
    if errors:
        raise ValidationFailed(errors)
    row = {
        "id": 1,
        "legal_name": current.legal_name,
        "address": current.address,
        "vat_id": current.vat_id,
        "country": current.country,
        "credit_note_prefix": current.credit_note_prefix,
        "invoice_prefix": current.invoice_prefix,
        "default_payout_minimum": current.default_payout_minimum,
        "iban": current.iban,
        "bic": current.bic,
        **values,
        "updated_at": uow.now,
    }
    await _upsert(uow, billing_issuer, "id", row)
    return await load_issuer(uow)


async def set_vat_rate(
    uow: UnitOfWork, viewer: Viewer, country: str, valid_from: date, rate: Decimal
) -> VatRate:
    """The standard VAT rate of a country from a day on (admins); replaces one of that day."""
    require_admin(viewer)
    errors: list[DomainError] = []
    code = _collect(errors, validate_country, country)
    if not rate.is_finite() or not (0 <= rate < 100):
        errors.append(DomainError("OUT_OF_RANGE", "a percentage from 0 to 100", ("rate",)))
    if errors:
        raise ValidationFailed(errors)
    stmt = _module(uow).insert(vat_rates).values(country=code, valid_from=valid_from, rate=rate)
    await uow.execute(
        stmt.on_conflict_do_update(
            index_elements=[vat_rates.c.country, vat_rates.c.valid_from], set_={"rate": rate}
        )
    )
    found = await uow.first(
        select(vat_rates).where(vat_rates.c.country == code, vat_rates.c.valid_from == valid_from)
    )
    assert found is not None
    return vat_rate_of(found)


def may_see_partner_billing(viewer: Viewer, partner_id: int) -> bool:
    """Bank details and VAT id: the partner itself and admins only."""
    return viewer.is_admin or (viewer.role is Role.PARTNER and viewer.partner_id == partner_id)
