"""Persistence of commission models, periods and rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select

from portal.adapters import rows
from portal.adapters.tables import commission_models, commission_periods, commission_rates
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.commission import CommissionModel, CommissionRate


async def insert_model(uow: UnitOfWork, program_id: int, name: str, discount_rating: bool) -> int:
    return await uow.insert(
        insert(commission_models).values(
            program_id=program_id, name=name, discount_rating=discount_rating, created_at=uow.now
        )
    )


async def insert_period(
    uow: UnitOfWork,
    model_id: int,
    valid_from: datetime,
    valid_to: datetime | None,
    rates: Sequence[CommissionRate],
) -> int:
    period_id = await uow.insert(
        insert(commission_periods).values(
            model_id=model_id, valid_from=valid_from, valid_to=valid_to, created_at=uow.now
        )
    )
    await uow.execute(
        insert(commission_rates),
        [
            {
                "period_id": period_id,
                "target": r.target,
                "category": r.category,
                "percentage": r.percentage,
                "fixed_amount": r.fixed_amount,
            }
            for r in rates
        ],
    )
    return period_id


async def load_models(uow: UnitOfWork, model_ids: Sequence[int]) -> dict[int, CommissionModel]:
    """Models with all their periods and rates, in three statements whatever their number."""
    model_rows = (
        await uow.conn.execute(
            select(commission_models).where(commission_models.c.id.in_(set(model_ids)))
        )
    ).all()
    period_rows = (
        await uow.conn.execute(
            select(commission_periods)
            .where(commission_periods.c.model_id.in_([m.id for m in model_rows]))
            .order_by(commission_periods.c.valid_from)
        )
    ).all()
    rate_rows = (
        await uow.conn.execute(
            select(commission_rates)
            .where(commission_rates.c.period_id.in_([p.id for p in period_rows]))
            .order_by(commission_rates.c.id)
        )
    ).all()
    rates: dict[int, list[CommissionRate]] = {}
    for r in rate_rows:
        rates.setdefault(r.period_id, []).append(rows.commission_rate(r))
    periods: dict[int, list] = {}  # type: ignore[type-arg]
    for p in period_rows:
        periods.setdefault(p.model_id, []).append(
            rows.commission_period(p, tuple(rates.get(p.id, ())))
        )
    return {m.id: rows.commission_model(m, tuple(periods.get(m.id, ()))) for m in model_rows}
