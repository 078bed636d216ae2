"""Row → domain object mappings, one function per entity."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from sqlalchemy.engine import Row

from portal.domain.access import ApiToken, Role, User
from portal.domain.cart_mapping import ShopAttributes
from portal.domain.commission import CommissionModel, CommissionPeriod, CommissionRate
from portal.domain.conversions import (
    BasketPosition,
    Conversion,
    ConversionRevision,
    ConversionStatus,
    FieldChange,
    Reassignment,
    RevisionSource,
)
from portal.domain.partners import Partner, Relationship, RelationshipStatus
from portal.domain.programs import (
    Advertiser,
    ConsentMode,
    ConversionNote,
    ConversionTarget,
    FollowUpPolicy,
    Program,
    TargetKind,
    TrackingCategory,
)

T = TypeVar("T")


def record(cls: type[T], r: Row[Any], **given: Any) -> T:
    """The dataclass `cls` from a row whose columns carry its field names; `given` holds the
    fields that need more than the column's value (enums, nested objects, tuples)."""
    m = r._mapping
    values = {name: m[name] for name in _field_names(cls) if name not in given}
    return cls(**values, **given)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def advertiser(r: Row[Any]) -> Advertiser:
    m = r._mapping
    return Advertiser(m["id"], m["name"], m["created_at"])


def partner(r: Row[Any]) -> Partner:
    m = r._mapping
    return Partner(m["id"], m["name"], m["payout_currency"], m["country"], m["created_at"])


def user(r: Row[Any]) -> User:
    m = r._mapping
    return User(
        m["id"],
        m["email"],
        m["name"],
        Role(m["role"]),
        m["advertiser_id"],
        m["partner_id"],
        m["created_at"],
    )


def api_token(r: Row[Any]) -> ApiToken:
    m = r._mapping
    return ApiToken(
        m["id"],
        m["user_id"],
        m["name"],
        m["prefix"],
        m["created_at"],
        m["expires_at"],
        m["last_used_at"],
        m["revoked_at"],
    )


def program(r: Row[Any]) -> Program:
    m = r._mapping
    return Program(
        id=m["id"],
        advertiser_id=m["advertiser_id"],
        name=m["name"],
        currency=m["currency"],
        cookie_lifetime_days=m["cookie_lifetime_days"],
        consent_mode=ConsentMode(m["consent_mode"]),
        follow_up_policy=FollowUpPolicy(m["follow_up_policy"]),
        follow_up_window_days=m["follow_up_window_days"],
        allow_self_acceptance=m["allow_self_acceptance"],
        created_at=m["created_at"],
        publicly_listed=m["publicly_listed"],
        strict_tracking_categories=m["strict_tracking_categories"],
    )


def tracking_category(r: Row[Any]) -> TrackingCategory:
    m = r._mapping
    return TrackingCategory(m["id"], m["program_id"], m["key"], m["name"], m["active"])


def conversion_target(r: Row[Any]) -> ConversionTarget:
    m = r._mapping
    return ConversionTarget(
        m["id"], m["program_id"], m["key"], m["name"], m["active"], TargetKind(m["kind"])
    )


def conversion_note(r: Row[Any]) -> ConversionNote:
    m = r._mapping
    return ConversionNote(m["id"], m["program_id"], m["code"], m["text"])


def relationship(r: Row[Any]) -> Relationship:
    m = r._mapping
    policy = m["follow_up_policy"]
    return Relationship(
        id=m["id"],
        partner_id=m["partner_id"],
        program_id=m["program_id"],
        status=RelationshipStatus(m["status"]),
        commission_model_id=m["commission_model_id"],
        follow_up_policy=FollowUpPolicy(policy) if policy else None,
        follow_up_window_days=m["follow_up_window_days"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def commission_rate(r: Row[Any]) -> CommissionRate:
    m = r._mapping
    return CommissionRate(m["target"], m["category"], m["percentage"], m["fixed_amount"])


def commission_period(r: Row[Any], rates: tuple[CommissionRate, ...]) -> CommissionPeriod:
    m = r._mapping
    return CommissionPeriod(m["id"], m["model_id"], m["valid_from"], m["valid_to"], rates)


def commission_model(r: Row[Any], periods: tuple[CommissionPeriod, ...]) -> CommissionModel:
    m = r._mapping
    return CommissionModel(m["id"], m["program_id"], m["name"], m["discount_rating"], periods)


def basket_position(raw: dict[str, Any]) -> BasketPosition:
    return BasketPosition(
        position=int(raw["position"]),
        category=raw["category"],
        order_value=Decimal(raw["orderValue"]),
        commission=Decimal(raw["commission"]),
        status=ConversionStatus(raw["status"]),
        product_id=raw.get("productId"),
        quantity=int(raw.get("quantity", 1)),
        shop=_shop(raw),
        mapped=bool(raw.get("mapped", False)),
        mapping_version=raw.get("mappingVersionId"),
        mapping_rule=raw.get("mappingRule"),
    )


def _shop(raw: dict[str, Any]) -> ShopAttributes | None:
    return ShopAttributes.described(
        raw.get("shopCategory"), raw.get("sku"), raw.get("brand"), raw.get("onSale")
    )


def basket_to_json(positions: tuple[BasketPosition, ...]) -> list[dict[str, Any]]:
    out = []
    for p in positions:
        stored: dict[str, Any] = {
            "position": p.position,
            "category": p.category,
            "orderValue": str(p.order_value),
            "commission": str(p.commission),
            "status": p.status.value,
            "productId": p.product_id,
            "quantity": p.quantity,
        }
        # The cart-mapping keys of a stored position, only where there is something to keep.
        shop = p.shop
        if shop is not None:
            stored["shopCategory"] = shop.shop_category
            stored["sku"] = shop.sku
            stored["brand"] = shop.brand
            stored["onSale"] = shop.on_sale
        if p.mapped:
            stored["mapped"] = True
            stored["mappingVersionId"] = p.mapping_version
            stored["mappingRule"] = p.mapping_rule
        out.append(stored)
    return out


def conversion(r: Row[Any]) -> Conversion:
    m = r._mapping
    return Conversion(
        id=m["id"],
        program_id=m["program_id"],
        partner_id=m["partner_id"],
        order_id=m["order_id"],
        target=m["target"],
        target_kind=TargetKind(m["target_kind"]),
        category=m["category"],
        tracking_time=m["tracking_time"],
        currency=m["currency"],
        order_value=m["order_value"],
        commission=m["commission"],
        status=ConversionStatus(m["status"]),
        commission_model_name=m["commission_model_name"],
        commission_breakdown=m["commission_breakdown"],
        commission_overridden=m["commission_overridden"],
        original_order_value=m["original_order_value"],
        original_currency=m["original_currency"],
        exchange_rate=m["exchange_rate"],
        conversion_note=m["conversion_note"],
        sub_ids=tuple(m[f"sub_id_{i}"] for i in range(1, 7)),
        device=m["device"],
        basket=tuple(basket_position(p) for p in m["basket"]),
        payout_entry_id=m["payout_entry_id"],
        payout_reserved=bool(m.get("payout_reserved", False)),
        invoice_status=m.get("invoice_status"),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def conversion_revision(r: Row[Any]) -> ConversionRevision:
    m = r._mapping
    return ConversionRevision(
        id=m["id"],
        conversion_id=m["conversion_id"],
        number=m["number"],
        source=RevisionSource(m["source"]),
        actor_user_id=m["actor_user_id"],
        request_id=m["request_id"],
        created_at=m["created_at"],
        changes=tuple(FieldChange(c["field"], c["from"], c["to"]) for c in m["changes"]),
    )


def reassignment(r: Row[Any]) -> Reassignment:
    m = r._mapping
    return Reassignment(
        id=m["id"],
        conversion_id=m["conversion_id"],
        program_id=m["program_id"],
        from_partner_id=m["from_partner_id"],
        to_partner_id=m["to_partner_id"],
        request_id=m["request_id"],
        revision=m["revision"],
        order_id=m["order_id"],
        target=m["target"],
        category=m["category"],
        tracking_time=m["tracking_time"],
        previous_commission=m["previous_commission"],
        currency=m["currency"],
        reassigned_at=m["reassigned_at"],
    )
