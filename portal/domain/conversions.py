"""Conversions: rated sales or leads, their basket positions and their revision history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from portal.domain.cart_mapping import ShopAttributes
from portal.domain.errors import DomainError
from portal.domain.programs import TargetKind


class ConversionStatus(enum.Enum):
    OPEN = "OPEN"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"


class RevisionSource(enum.Enum):
    TRACKING = "TRACKING"
    REQUEST = "REQUEST"
    VALIDATION = "VALIDATION"
    IMPORT = "IMPORT"
    ADMIN = "ADMIN"


SUB_ID_COUNT = 6


# A value never changed once built; not frozen: one is built per basket position stored or
# read, and a frozen dataclass takes 3–8× as long to construct (see rating.RatingInput).
@dataclass(slots=True, unsafe_hash=True)
class BasketPosition:
    position: int
    category: str
    order_value: Decimal
    commission: Decimal
    status: ConversionStatus
    product_id: str | None = None
    quantity: int = 1
    # Cart mapping (issue 16): the shop's description; `mapped`: the category came from the
    # cart mapping (re-rating maps it again, with the version in effect at the tracking time);
    # `mapping_version` / `mapping_rule`: the version and the 0-based rule that matched (rule
    # None: none did, the default category).
    shop: ShopAttributes | None = None
    mapped: bool = False
    mapping_version: int | None = None
    mapping_rule: int | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    id: int
    program_id: int
    partner_id: int
    order_id: str
    target: str
    target_kind: TargetKind
    category: str
    tracking_time: datetime
    currency: str
    order_value: Decimal
    commission: Decimal
    status: ConversionStatus
    commission_model_name: str | None
    commission_breakdown: dict[str, Any]
    commission_overridden: bool
    original_order_value: Decimal | None
    original_currency: str | None
    exchange_rate: Decimal | None
    conversion_note: str | None
    sub_ids: tuple[str | None, ...]
    device: str | None
    basket: tuple[BasketPosition, ...]
    payout_entry_id: int | None
    created_at: datetime
    updated_at: datetime
    # In a PREVIEW payout entry (reserved); false once the entry is CONFIRMED or PAID.
    payout_reserved: bool = False
    # The status of the advertiser invoice the conversion is on (PREVIEW, CONFIRMED or PAID;
    # None: on none). Loaded with the conversion where a change is checked
    # (`conversion_store.with_invoice_status`); the partner side may have carried it over.
    invoice_status: str | None = None

    @property
    def paid(self) -> bool:
        """A conversion in a CONFIRMED or PAID payout entry is paid and can no longer change."""
        return self.payout_entry_id is not None and not self.payout_reserved

    @property
    def reserved(self) -> bool:
        """A conversion in a PREVIEW payout entry is reserved: it can no longer change unless
        the entry is cancelled."""
        return self.payout_entry_id is not None and self.payout_reserved

    @property
    def invoice_reserved(self) -> bool:
        """On an advertiser invoice in preview: it cannot change unless that invoice is
        cancelled."""
        return self.invoice_status == "PREVIEW"

    @property
    def invoiced(self) -> bool:
        """On a CONFIRMED or PAID advertiser invoice: billed to the advertiser for good."""
        return self.invoice_status in ("CONFIRMED", "PAID")


def check_conversion_may_change(
    conversion: Conversion, field: tuple[str, ...] = ("conversionId",)
) -> None:
    """The one rule whether a conversion may still change (a request, a claim, a validation):
    not while a PREVIEW payout entry or advertiser invoice reserves it (CONVERSION_RESERVED),
    not once it is paid or invoiced for good (SPEC §4, CONVERSION_PAID) — on either side, so a
    conversion whose partner was carried over is still locked by its advertiser invoice.
    Raises naming `field`."""
    if conversion.paid or conversion.invoiced:
        side = "payout entry" if conversion.paid else "advertiser invoice"
        raise DomainError(
            "CONVERSION_PAID",
            f"conversion {conversion.order_id} is in a confirmed {side} (paid) and can no "
            "longer change",
            field,
        )
    if conversion.reserved or conversion.invoice_reserved:
        side = "a payout entry" if conversion.reserved else "an advertiser invoice"
        raise DomainError(
            "CONVERSION_RESERVED",
            f"conversion {conversion.order_id} is reserved by {side} in preview and cannot "
            "change unless it is cancelled",
            field,
        )


def status_from_basket(positions: tuple[BasketPosition, ...]) -> ConversionStatus:
    """CONFIRMED when at least one position is confirmed, REJECTED when all are rejected."""
    statuses = {p.status for p in positions}
    if ConversionStatus.CONFIRMED in statuses:
        return ConversionStatus.CONFIRMED
    if statuses == {ConversionStatus.REJECTED}:
        return ConversionStatus.REJECTED
    return ConversionStatus.OPEN


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class ConversionRevision:
    id: int
    conversion_id: int
    number: int
    source: RevisionSource
    actor_user_id: int | None
    request_id: int | None
    created_at: datetime
    changes: tuple[FieldChange, ...] = field(default_factory=tuple)


def diff_fields(before: dict[str, str | None], after: dict[str, str | None]) -> list[FieldChange]:
    """The field-level diff between two flat renderings of a conversion (None = absent)."""
    keys = list(dict.fromkeys([*before, *after]))
    return [
        FieldChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
    ]


@dataclass(frozen=True, slots=True)
class Reassignment:
    """A conversion an accepted attribution claim moved from one partner to another, with
    what it was for the former partner (its commission) and the revision of the move."""

    id: int
    conversion_id: int
    program_id: int
    from_partner_id: int
    to_partner_id: int
    request_id: int | None
    revision: int
    order_id: str
    target: str
    category: str
    tracking_time: datetime
    previous_commission: Decimal
    currency: str
    reassigned_at: datetime
