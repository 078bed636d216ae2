"""Everything a batch of orders is decided with, loaded once per batch in a fixed number of
statements: programs, vocabularies, relationships, commission models, exchange rates, the
conversions the batch's order ids already have, and the customers' earliest known orders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import select

from portal.adapters import rows
from portal.adapters.cart_mapping_store import load_mappings
from portal.adapters.commission_store import load_models
from portal.adapters.key_lists import among, key_chunks
from portal.adapters.rate_store import rate_tables
from portal.adapters.tables import (
    conversion_notes,
    conversion_targets,
    conversions,
    partners,
    programs,
    relationships,
    tracking_categories,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.domain.attribution import AttributionSettings, CustomerKeys
from portal.domain.cart_mapping import NO_MAPPINGS, ProgramMappings
from portal.domain.commission import CommissionModel
from portal.domain.conversions import Conversion
from portal.domain.exchange_rates import RateTable
from portal.domain.partners import Relationship, earns_commission
from portal.domain.programs import ConversionTarget, Program, TargetKind, TrackingCategory
from portal.global_ids import encode_id
from portal.services.order_types import OrderInput


@dataclass(frozen=True, slots=True)
class ProgramSetup:
    """A program with what its orders are checked, attributed and rated with."""

    program: Program
    categories: dict[str, TrackingCategory]
    targets: dict[str, ConversionTarget]
    notes: frozenset[str]
    relationships: dict[int, Relationship]  # by partner id, any status
    settings: AttributionSettings
    eligible_partner_ids: frozenset[int]  # partners whose relationship earns commission
    partner_names: dict[int, str]  # of the partners with a relationship
    mappings: ProgramMappings = NO_MAPPINGS  # the cart mapping (issue 16)

    @classmethod
    def of(
        cls,
        program: Program,
        categories: dict[str, TrackingCategory],
        targets: dict[str, ConversionTarget],
        notes: frozenset[str],
        links: dict[int, Relationship],
        partner_names: dict[int, str],
    ) -> ProgramSetup:
        settings = AttributionSettings(
            program.cookie_lifetime_days,
            program.consent_mode,
            program.follow_up_policy,
            program.follow_up_window_days,
        )
        eligible = frozenset(
            partner_id for partner_id, r in links.items() if earns_commission(r.status)
        )
        return cls(program, categories, targets, notes, links, settings, eligible, partner_names)

    def target_kind(self, key: str) -> TargetKind:
        target = self.targets.get(key)
        return target.kind if target is not None else TargetKind.SALE

    def labels(self, partner_ids: Iterable[int]) -> dict[int, str]:
        """How an attribution reason names these partners: by name and public id where the
        partner works with the program (the advertiser sees it), else by public id only."""
        return {pid: partner_label(pid, self.partner_names.get(pid)) for pid in partner_ids}


def partner_label(partner_id: int, name: str | None) -> str:
    gid = encode_id("Partner", partner_id)
    return f"{name} ({gid})" if name else f"partner {gid}"


@dataclass(frozen=True, slots=True)
class KnownOrder:
    """A stored conversion a customer key matched."""

    conversion_id: int
    partner_id: int
    order_id: str
    tracking_time: datetime


@dataclass(slots=True)
class CustomerIndex:
    """Known orders per (program, customer id hash) and per (program, e-mail hash), earliest
    first. An order is never its own earlier order: lookups skip the same order id."""

    by_id: dict[tuple[int, str], list[KnownOrder]] = field(default_factory=dict)
    by_email: dict[tuple[int, str], list[KnownOrder]] = field(default_factory=dict)

    def add(self, program_id: int, keys: CustomerKeys, known: KnownOrder) -> None:
        for index, key in ((self.by_id, keys.customer_id_hash), (self.by_email, keys.email_hash)):
            if key is None:
                continue
            entries = index.setdefault((program_id, key), [])
            entries.append(known)
            entries.sort(key=lambda k: (k.tracking_time, k.conversion_id))

    def first_order(self, program_id: int, keys: CustomerKeys, order_id: str) -> KnownOrder | None:
        """The customer's earliest known order of the program matched by id or by e-mail."""
        candidates: list[KnownOrder] = []
        for index, key in ((self.by_id, keys.customer_id_hash), (self.by_email, keys.email_hash)):
            if key is None:
                continue
            for known in index.get((program_id, key), ()):
                if known.order_id != order_id:
                    candidates.append(known)
                    break
        return min(candidates, key=lambda k: (k.tracking_time, k.conversion_id), default=None)


@dataclass(slots=True)
class ExistingConversions:
    """Conversions of the batch's (program, order id) pairs: at most one of each target kind."""

    by_order: dict[tuple[int, str], list[Conversion]] = field(default_factory=dict)

    def add(self, conversion: Conversion) -> None:
        self.by_order.setdefault((conversion.program_id, conversion.order_id), []).append(
            conversion
        )

    def of_order(self, program_id: int, order_id: str) -> list[Conversion]:
        return self.by_order.get((program_id, order_id), [])


@dataclass(slots=True)
class Batch:
    programs: dict[int, ProgramSetup]
    models: dict[int, CommissionModel]
    rates: dict[date, RateTable]
    existing: ExistingConversions
    customers: CustomerIndex


def tracking_day(moment: datetime) -> date:
    """The UTC day whose exchange rate converts an order."""
    return moment.astimezone(UTC).date()


async def _program_setups(
    uow: UnitOfWork, viewer: Viewer, ids: set[int]
) -> dict[int, ProgramSetup]:
    conn = uow.conn
    query = select(programs).where(programs.c.id.in_(ids), visible(programs, viewer))
    program_rows = (await conn.execute(query)).all()
    found = {r.id: rows.program(r) for r in program_rows}
    if not found:
        return {}
    categories: dict[int, dict[str, TrackingCategory]] = {pid: {} for pid in found}
    for r in await conn.execute(
        select(tracking_categories).where(tracking_categories.c.program_id.in_(found))
    ):
        categories[r.program_id][r.key] = rows.tracking_category(r)
    targets: dict[int, dict[str, ConversionTarget]] = {pid: {} for pid in found}
    for r in await conn.execute(
        select(conversion_targets).where(conversion_targets.c.program_id.in_(found))
    ):
        targets[r.program_id][r.key] = rows.conversion_target(r)
    notes: dict[int, set[str]] = {pid: set() for pid in found}
    for r in await conn.execute(
        select(conversion_notes.c.program_id, conversion_notes.c.code).where(
            conversion_notes.c.program_id.in_(found)
        )
    ):
        notes[r.program_id].add(r.code)
    links: dict[int, dict[int, Relationship]] = {pid: {} for pid in found}
    names: dict[int, dict[int, str]] = {pid: {} for pid in found}
    for r in await conn.execute(
        select(relationships, partners.c.name.label("partner_name"))
        .join(partners, partners.c.id == relationships.c.partner_id)
        .where(relationships.c.program_id.in_(found))
    ):
        links[r.program_id][r.partner_id] = rows.relationship(r)
        names[r.program_id][r.partner_id] = r.partner_name
    return {
        pid: ProgramSetup.of(
            program, categories[pid], targets[pid], frozenset(notes[pid]), links[pid], names[pid]
        )
        for pid, program in found.items()
    }


async def _existing(uow: UnitOfWork, pairs: set[tuple[int, str]]) -> ExistingConversions:
    existing = ExistingConversions()
    program_ids = {pid for pid, _ in pairs}
    order_ids = sorted({oid for _, oid in pairs})
    for chunk in key_chunks(uow.conn, order_ids):
        result = await uow.conn.execute(
            select(conversions).where(
                conversions.c.program_id.in_(program_ids),
                among(uow.conn, conversions.c.order_id, chunk),
            )
        )
        for r in result:
            if (r.program_id, r.order_id) in pairs:
                existing.add(rows.conversion(r))
    return existing


async def _customers(
    uow: UnitOfWork, program_ids: set[int], keys: Sequence[CustomerKeys]
) -> CustomerIndex:
    index = CustomerIndex()
    id_hashes = sorted({k.customer_id_hash for k in keys if k.customer_id_hash})
    email_hashes = sorted({k.email_hash for k in keys if k.email_hash})
    if not program_ids or not (id_hashes or email_hashes):
        return index
    c = conversions.c
    columns = (
        c.id,
        c.program_id,
        c.partner_id,
        c.order_id,
        c.tracking_time,
        c.customer_id_hash,
        c.email_hash,
    )
    seen: set[int] = set()
    for column, hashes in ((c.customer_id_hash, id_hashes), (c.email_hash, email_hashes)):
        for chunk in key_chunks(uow.conn, hashes):
            # Only orders make a customer known: a lead never does (SPEC §5.2).
            result = await uow.conn.execute(
                select(*columns).where(
                    c.program_id.in_(program_ids),
                    among(uow.conn, column, chunk),
                    c.target_kind == TargetKind.SALE.value,
                )
            )
            for r in result:
                if r.id in seen:
                    continue
                seen.add(r.id)
                known = KnownOrder(r.id, r.partner_id, r.order_id, r.tracking_time)
                index.add(r.program_id, CustomerKeys(r.customer_id_hash, r.email_hash), known)
    return index


async def load_batch(
    uow: UnitOfWork,
    viewer: Viewer,
    orders: Sequence[OrderInput],
    keys: Sequence[CustomerKeys],
) -> Batch:
    """Loads what the batch needs. Programs the viewer may not see are simply absent."""
    setups = await _program_setups(uow, viewer, {o.program_id for o in orders})
    model_ids = {
        r.commission_model_id
        for s in setups.values()
        for r in s.relationships.values()
        if r.commission_model_id is not None
    }
    models = await load_models(uow, sorted(model_ids)) if model_ids else {}
    foreign_days = sorted(
        {
            tracking_day(o.tracking_time)
            for o in orders
            if o.program_id in setups
            and o.currency is not None
            and o.currency != setups[o.program_id].program.currency
            and o.tracking_time.tzinfo is not None
        }
    )
    tables = await rate_tables(uow.conn, foreign_days) if foreign_days else {}
    relevant = [(o, k) for o, k in zip(orders, keys, strict=True) if o.program_id in setups]
    mapped = {o.program_id for o in orders if any(not (b.category or "").strip() for b in o.basket)}
    if mapped & setups.keys():
        for pid, found in (await load_mappings(uow, mapped & setups.keys())).items():
            setups[pid] = replace(setups[pid], mappings=found)
    existing = await _existing(uow, {(o.program_id, o.order_id.strip()) for o, _ in relevant})
    customers = await _customers(uow, set(setups), [k for _, k in relevant])
    return Batch(setups, models, tables, existing, customers)
