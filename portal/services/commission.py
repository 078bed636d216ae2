"""Commission models of a program and their periods of rates (SPEC §4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError

from portal.adapters.commission_store import insert_model, insert_period, load_models
from portal.adapters.tables import commission_models, conversion_targets, tracking_categories
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.commission import CommissionModel, CommissionRate, validate_new_period
from portal.domain.errors import DomainError, ErrorCollector
from portal.domain.programs import validate_name
from portal.services.scope import managed_program, visible_row

CREATE_MODEL = "createCommissionModel"


async def create_commission_model(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    program_id: int,
    name: str,
    discount_rating: bool = False,
    idempotency_key: str | None = None,
) -> CommissionModel:
    """A new, empty model (add periods with `add_commission_period`). Names are unique in a
    program, whatever their case. Repeating a call with the same idempotency key answers with
    the model the first call created."""
    known = await uow.idempotent_result(viewer.user_id, CREATE_MODEL, idempotency_key)
    if known is not None:
        await visible_row(uow, viewer, commission_models, known, "commission model", ())
        return (await load_models(uow, [known]))[known]
    await managed_program(uow, viewer, program_id, ("programId",))
    cleaned = validate_name(name)
    duplicate = DomainError(
        "DUPLICATE_NAME", f"the program already has a model named {cleaned!r}", ("name",)
    )
    taken = await uow.first(
        select(commission_models.c.id).where(
            commission_models.c.program_id == program_id,
            func.lower(commission_models.c.name) == cleaned.lower(),
        )
    )
    if taken is not None:
        raise duplicate
    try:
        model_id = await insert_model(uow, program_id, cleaned, discount_rating)
    except IntegrityError:
        raise duplicate from None
    await uow.remember_idempotent(viewer.user_id, CREATE_MODEL, idempotency_key, model_id)
    return (await load_models(uow, [model_id]))[model_id]


async def add_commission_period(
    uow: UnitOfWork,
    viewer: Viewer,
    *,
    model_id: int,
    valid_from: datetime,
    valid_to: datetime | None,
    rates: Sequence[CommissionRate],
) -> tuple[CommissionModel, int]:
    """Adds a period of rates to a model; the model and the new period's id. Periods of a model
    never overlap; every rate names a target and a category of the model's program."""
    found = await visible_row(
        uow, viewer, commission_models, model_id, "commission model", ("commissionModelId",)
    )
    await managed_program(uow, viewer, found.program_id, ("commissionModelId",))
    # Locked, so two periods added at the same time cannot both pass the overlap check.
    await uow.first(
        select(commission_models.c.id).where(commission_models.c.id == model_id).with_for_update()
    )
    model = (await load_models(uow, [model_id]))[model_id]
    errors = ErrorCollector()
    try:
        validate_new_period(model.periods, valid_from, valid_to, rates)
    except DomainError as error:
        errors.errors.append(error)
    targets = await _keys(uow, conversion_targets, model.program_id)
    categories = await _keys(uow, tracking_categories, model.program_id)
    for index, rate in enumerate(rates):
        field = ("rates", str(index))
        if rate.target not in targets:
            errors.add(
                "UNKNOWN_TARGET",
                f"the program has no conversion target {rate.target!r}",
                (*field, "conversionTarget"),
            )
        if rate.category not in categories:
            errors.add(
                "UNKNOWN_CATEGORY",
                f"the program has no tracking category {rate.category!r}",
                (*field, "trackingCategory"),
            )
    errors.raise_if_any()
    period_id = await insert_period(uow, model_id, valid_from, valid_to, rates)
    return (await load_models(uow, [model_id]))[model_id], period_id


async def _keys(uow: UnitOfWork, table: Table, program_id: int) -> set[str]:
    result = await uow.execute(select(table.c.key).where(table.c.program_id == program_id))
    return set(result.scalars())
