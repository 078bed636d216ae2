"""Partners joining programs: applications by partners, invitations and status changes by
advertisers (SPEC §1, relationship)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from portal.adapters import rows
from portal.adapters.tables import commission_models, partners, programs, relationships
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.errors import DomainError, NotFound, PermissionDenied
from portal.domain.partners import (
    Relationship,
    RelationshipStatus,
    check_application,
    check_new_relationship,
    check_transition,
    revise_follow_up,
)
from portal.domain.programs import FollowUpPolicy
from portal.services.scope import managed_program, visible_row


async def apply_to_program(
    uow: UnitOfWork, viewer: Viewer, *, program_id: int, partner_id: int | None = None
) -> Relationship:
    """A partner applies to a program (again, after a rejection). Partners apply for themselves;
    admins name the partner. A partner applies to programs it sees: publicly listed ones, and
    those it has a relationship with; any other reads as missing (SPEC §2), so applying
    reveals nothing about unlisted programs."""
    applicant = _applicant(viewer, partner_id)
    await visible_row(uow, viewer, programs, program_id, "program", ("programId",))
    await visible_row(uow, viewer, partners, applicant, "partner", ("partnerId",))
    existing = await _locked(uow, applicant, program_id)
    check_application(None if existing is None else RelationshipStatus(existing.status))
    values = {"status": RelationshipStatus.APPLIED.value, "updated_at": uow.now}
    if existing is None:
        # A concurrent application of the same partner wins the race.
        pk = await _insert(
            uow,
            applicant,
            program_id,
            values,
            DomainError("ALREADY_APPLIED", "the partner has already applied", ("programId",)),
        )
    else:
        pk = existing.id
        await uow.execute(update(relationships).where(relationships.c.id == pk).values(**values))
    return await _load(uow, pk)


def _applicant(viewer: Viewer, partner_id: int | None) -> int:
    if viewer.role is Role.PARTNER:
        assert viewer.partner_id is not None
        return viewer.partner_id
    if viewer.role is Role.ADVERTISER:
        raise PermissionDenied("advertisers invite partners with setRelationship")
    if partner_id is None:
        raise DomainError("REQUIRED", "name the partner that applies", ("partnerId",))
    return partner_id


@dataclass(frozen=True, slots=True)
class RelationshipChange:
    """What `setRelationship` changes; None keeps the current value."""

    status: RelationshipStatus | None = None
    commission_model_id: int | None = None
    follow_up_policy: FollowUpPolicy | None = None
    follow_up_window_days: int | None = None
    clear_follow_up_override: bool = False


async def set_relationship(
    uow: UnitOfWork, viewer: Viewer, *, program_id: int, partner_id: int, change: RelationshipChange
) -> Relationship:
    """An advertiser (or admin) invites a partner (a new relationship starts ACTIVE, or BLOCKED
    to bar it) or moves an existing relationship along its status machine, sets its commission
    model and its follow-up override."""
    await managed_program(uow, viewer, program_id, ("programId",))
    # Only partners the viewer sees: an advertiser sees those that applied to or work with one
    # of its programs; any other reads as missing. Partners find programs that are publicly
    # listed and apply; an admin may set up any relationship.
    await visible_row(uow, viewer, partners, partner_id, "partner", ("partnerId",))
    if change.commission_model_id is not None:
        await _model_of_program(uow, change.commission_model_id, program_id)
    existing = await _locked(uow, partner_id, program_id)
    current = None if existing is None else rows.relationship(existing)
    model_id = change.commission_model_id or (current.commission_model_id if current else None)
    if current is None:
        status = change.status or RelationshipStatus.ACTIVE
        check_new_relationship(status, model_id)
    else:
        status = change.status or current.status
        check_transition(current.status, status, model_id)
    policy, window = revise_follow_up(
        (current.follow_up_policy, current.follow_up_window_days) if current else (None, None),
        change.follow_up_policy,
        change.follow_up_window_days,
        change.clear_follow_up_override,
    )
    values = {
        "status": status.value,
        "commission_model_id": model_id,
        "follow_up_policy": None if policy is None else policy.value,
        "follow_up_window_days": window,
        "updated_at": uow.now,
    }
    if current is None:
        pk = await _insert(
            uow,
            partner_id,
            program_id,
            values,
            DomainError("CONFLICT", "the relationship was changed at the same time; retry", ()),
        )
    else:
        pk = current.id
        await uow.execute(update(relationships).where(relationships.c.id == pk).values(**values))
    return await _load(uow, pk)


async def _model_of_program(uow: UnitOfWork, model_id: int, program_id: int) -> None:
    """A model of another program reads as missing: it cannot rate this program's orders."""
    found = await uow.first(
        select(commission_models.c.id).where(
            commission_models.c.id == model_id, commission_models.c.program_id == program_id
        )
    )
    if found is None:
        raise NotFound("commission model of this program", ("commissionModelId",))


async def _locked(uow: UnitOfWork, partner_id: int, program_id: int) -> Row[Any] | None:
    return await uow.first(
        select(relationships)
        .where(relationships.c.partner_id == partner_id, relationships.c.program_id == program_id)
        .with_for_update()
    )


async def _load(uow: UnitOfWork, pk: int) -> Relationship:
    row = await uow.first(select(relationships).where(relationships.c.id == pk))
    assert row is not None
    return rows.relationship(row)


async def _insert(
    uow: UnitOfWork,
    partner_id: int,
    program_id: int,
    values: dict[str, Any],
    lost_race: DomainError,
) -> int:
    """A new relationship; `lost_race` when a concurrent call inserted the pair first."""
    try:
        return await uow.insert(
            insert(relationships).values(
                partner_id=partner_id, program_id=program_id, created_at=uow.now, **values
            )
        )
    except IntegrityError:
        raise lost_race from None
