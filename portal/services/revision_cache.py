"""Lookups `revise` needs, cached for one unit of work: a file of 10,000 rows for one program
asks for the program's vocabulary, the partners' models and a day's rates once, not per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from portal.adapters.cart_mapping_store import load_mappings
from portal.adapters.commission_store import load_models
from portal.adapters.rate_store import rate_table
from portal.adapters.tables import (
    conversion_notes,
    conversion_targets,
    relationships,
    tracking_categories,
)
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.cart_mapping import ProgramMappings
from portal.domain.commission import CommissionModel
from portal.domain.exchange_rates import RateTable
from portal.domain.partners import RelationshipStatus, earns_commission
from portal.domain.programs import TargetKind


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A program's keys: categories and targets (key → active), target kinds, note codes."""

    categories: dict[str, bool]
    targets: dict[str, bool]
    target_kinds: dict[str, TargetKind]
    notes: set[str]

    def kind_of(self, target: str) -> TargetKind:
        return self.target_kinds.get(target, TargetKind.SALE)


RATE_DAYS = 400


class RevisionCache:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._vocabulary: dict[int, Vocabulary] = {}
        self._relationships: dict[tuple[int, int], tuple[str, int | None] | None] = {}
        self._models: dict[int, CommissionModel] = {}
        self._rates: dict[date, RateTable] = {}
        self._mappings: dict[int, ProgramMappings] = {}

    async def vocabulary(self, program_id: int) -> Vocabulary:
        if program_id not in self._vocabulary:
            conn = self.uow.conn
            categories = {
                r.key: r.active
                for r in await conn.execute(
                    select(tracking_categories.c.key, tracking_categories.c.active).where(
                        tracking_categories.c.program_id == program_id
                    )
                )
            }
            target_rows = (
                await conn.execute(
                    select(
                        conversion_targets.c.key,
                        conversion_targets.c.active,
                        conversion_targets.c.kind,
                    ).where(conversion_targets.c.program_id == program_id)
                )
            ).all()
            notes = {
                r.code
                for r in await conn.execute(
                    select(conversion_notes.c.code).where(
                        conversion_notes.c.program_id == program_id
                    )
                )
            }
            self._vocabulary[program_id] = Vocabulary(
                categories,
                {r.key: r.active for r in target_rows},
                {r.key: TargetKind(r.kind) for r in target_rows},
                notes,
            )
        return self._vocabulary[program_id]

    async def relationship(self, program_id: int, partner_id: int) -> tuple[str, int | None] | None:
        """(status, commission model id) of the partner in the program, or None."""
        key = (program_id, partner_id)
        if key not in self._relationships:
            row = await self.uow.first(
                select(relationships.c.status, relationships.c.commission_model_id).where(
                    relationships.c.program_id == program_id,
                    relationships.c.partner_id == partner_id,
                )
            )
            self._relationships[key] = (row.status, row.commission_model_id) if row else None
        return self._relationships[key]

    async def earns(self, program_id: int, partner_id: int) -> bool:
        """Whether the partner's relationship with the program earns commission."""
        found = await self.relationship(program_id, partner_id)
        return found is not None and earns_commission(RelationshipStatus(found[0]))

    async def rating_model(self, program_id: int, partner_id: int) -> CommissionModel | None:
        """The model of a relationship that earns commission, with its periods and rates."""
        found = await self.relationship(program_id, partner_id)
        if found is None or not earns_commission(RelationshipStatus(found[0])) or not found[1]:
            return None
        model_id = found[1]
        if model_id not in self._models:
            self._models.update(await load_models(self.uow, [model_id]))
        return self._models.get(model_id)

    async def mappings(self, program_id: int) -> ProgramMappings:
        """The program's cart-mapping history, compiled (issue 16)."""
        if program_id not in self._mappings:
            self._mappings.update(await load_mappings(self.uow, [program_id]))
        return self._mappings[program_id]

    async def rates(self, day: date) -> RateTable:
        """The rate table of a day; the most recently used `RATE_DAYS` days are kept (a file
        over years of foreign-currency orders would otherwise keep a table per day)."""
        table = self._rates.pop(day, None)
        if table is None:
            table = await rate_table(self.uow.conn, day)
            while len(self._rates) >= RATE_DAYS:
                self._rates.pop(next(iter(self._rates)))
        self._rates[day] = table
        return table

    def forget(self) -> None:
        self.__init__(self.uow)  # type: ignore[misc]


def cache_of(uow: UnitOfWork) -> RevisionCache:
    """The cache of this unit of work (created on first use)."""
    cache: Any = getattr(uow, "_revision_cache", None)
    if cache is None:
        cache = RevisionCache(uow)
        uow._revision_cache = cache  # type: ignore[attr-defined]
    return cache  # type: ignore[no-any-return]
