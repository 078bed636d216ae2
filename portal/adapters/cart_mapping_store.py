"""Storing and loading cart-mapping versions (issue 16). A version never changes once stored:
its compiled matcher is cached per process under (version id, digest of its rules), so a batch
of orders reads only the versions' heads (id, program, valid from, digest) and the rules of a
version it has not compiled yet."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from portal.adapters.tables import cart_mapping_versions
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.cart_mapping import (
    CategoryMatch,
    CompiledMapping,
    MappingRule,
    MappingVersion,
    ProgramMappings,
)
from portal.domain.programs import DEFAULT_CATEGORY

_CACHE_SIZE = 256
_compiled: OrderedDict[tuple[int, str], CompiledMapping] = OrderedDict()


def rule_to_json(rule: MappingRule) -> dict[str, Any]:
    return {
        "trackingCategory": rule.tracking_category,
        "shopCategory": rule.shop_category,
        "categoryMatch": rule.category_match.value,
        "skus": list(rule.skus),
        "brand": rule.brand,
        "onSale": rule.on_sale,
        "minUnitPrice": None if rule.min_unit_price is None else str(rule.min_unit_price),
        "maxUnitPrice": None if rule.max_unit_price is None else str(rule.max_unit_price),
    }


def rule_from_json(raw: dict[str, Any]) -> MappingRule:
    low, high = raw.get("minUnitPrice"), raw.get("maxUnitPrice")
    return MappingRule(
        tracking_category=raw["trackingCategory"],
        shop_category=raw.get("shopCategory"),
        category_match=CategoryMatch(raw.get("categoryMatch", "EXACT")),
        skus=tuple(raw.get("skus") or ()),
        brand=raw.get("brand"),
        on_sale=raw.get("onSale"),
        min_unit_price=None if low is None else Decimal(low),
        max_unit_price=None if high is None else Decimal(high),
    )


def digest_of(rules: list[dict[str, Any]]) -> str:
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _version(r: Any) -> MappingVersion:
    m = r._mapping
    return MappingVersion(
        id=m["id"],
        program_id=m["program_id"],
        valid_from=m["valid_from"],
        rules=tuple(rule_from_json(x) for x in m["rules"]),
        created_at=m["created_at"],
    )


async def insert_version(
    uow: UnitOfWork,
    program_id: int,
    valid_from: datetime,
    rules: Sequence[MappingRule],
    created_by: int | None,
) -> MappingVersion:
    raw = [rule_to_json(r) for r in rules]
    pk = await uow.insert(
        insert(cart_mapping_versions).values(
            program_id=program_id,
            valid_from=valid_from,
            rule_count=len(raw),
            rules=raw,
            digest=digest_of(raw),
            created_by=created_by,
            created_at=uow.now,
        )
    )
    return MappingVersion(pk, program_id, valid_from, tuple(rules), uow.now)


async def version_with_start(uow: UnitOfWork, program_id: int, valid_from: datetime) -> int | None:
    t = cart_mapping_versions.c
    row = await uow.first(
        select(t.id).where(t.program_id == program_id, t.valid_from == valid_from)
    )
    return None if row is None else int(row.id)


async def load_version(uow: UnitOfWork, program_id: int, at: datetime) -> MappingVersion | None:
    """The version in effect at `at` (with its rules)."""
    t = cart_mapping_versions.c
    row = await uow.first(
        select(cart_mapping_versions)
        .where(t.program_id == program_id, t.valid_from <= at)
        .order_by(t.valid_from.desc())
        .limit(1)
    )
    return None if row is None else _version(row)


@dataclass(frozen=True, slots=True)
class VersionHead:
    """A version without its rules."""

    id: int
    program_id: int
    valid_from: datetime
    rule_count: int
    created_at: datetime


async def version_heads(uow: UnitOfWork, program_id: int) -> list[VersionHead]:
    """A program's versions, latest `valid_from` first."""
    t = cart_mapping_versions.c
    result = await uow.conn.execute(
        select(t.id, t.program_id, t.valid_from, t.rule_count, t.created_at)
        .where(t.program_id == program_id)
        .order_by(t.valid_from.desc())
    )
    return [
        VersionHead(r.id, r.program_id, r.valid_from, r.rule_count, r.created_at) for r in result
    ]


async def load_mappings(uow: UnitOfWork, program_ids: Iterable[int]) -> dict[int, ProgramMappings]:
    """The compiled mapping histories of these programs: one statement for the heads, and one
    more only when a version is not compiled in this process yet."""
    ids = sorted(set(program_ids))
    if not ids:
        return {}
    t = cart_mapping_versions.c
    heads = (
        await uow.conn.execute(
            select(t.id, t.program_id, t.valid_from, t.digest)
            .where(t.program_id.in_(ids))
            .order_by(t.program_id, t.valid_from.desc())
        )
    ).all()
    missing = [h.id for h in heads if (h.id, h.digest) not in _compiled]
    if missing:
        for r in await uow.conn.execute(select(t.id, t.rules, t.digest).where(t.id.in_(missing))):
            rules = [rule_from_json(x) for x in r.rules]
            _remember((r.id, r.digest), CompiledMapping(r.id, rules, DEFAULT_CATEGORY))
    found: dict[int, list[tuple[datetime, CompiledMapping]]] = {}
    for h in heads:
        compiled = _compiled.get((h.id, h.digest))
        if compiled is None:  # evicted meanwhile by a concurrent batch: compile it again
            row = await uow.first(select(t.rules).where(t.id == h.id))
            assert row is not None
            compiled = CompiledMapping(
                h.id, [rule_from_json(x) for x in row.rules], DEFAULT_CATEGORY
            )
            _remember((h.id, h.digest), compiled)
        else:
            _compiled.move_to_end((h.id, h.digest))
        found.setdefault(h.program_id, []).append((h.valid_from, compiled))
    return {pid: ProgramMappings(tuple(found.get(pid, ()))) for pid in ids}


def _remember(key: tuple[int, str], compiled: CompiledMapping) -> None:
    _compiled[key] = compiled
    _compiled.move_to_end(key)
    while len(_compiled) > _CACHE_SIZE:
        _compiled.popitem(last=False)
