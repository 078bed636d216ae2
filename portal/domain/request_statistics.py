"""Request statistics: how many requests a partner (or a program) raised, how they were
decided, the acceptance rate and the median time to a decision."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from portal.domain.errors import DomainError
from portal.domain.statistics import MAX_PERIOD_DAYS

ACCEPTED_STATUSES = frozenset({"ACCEPTED", "PROCESSED", "FAILED"})
"""A request in one of these was accepted (FAILED: accepted, applying it failed)."""
DECIDED_STATUSES = ACCEPTED_STATUSES | {"REJECTED"}
_RATE = Decimal("0.0001")
_HOURS = Decimal("0.01")


class RequestGroup(enum.Enum):
    PARTNER = "PARTNER"
    PROGRAM = "PROGRAM"


@dataclass(frozen=True, slots=True)
class RequestStatisticsQuery:
    first_day: date  # UTC days the requests were raised on, both included
    last_day: date
    groups: tuple[RequestGroup, ...] = ()
    program_ids: tuple[int, ...] = ()
    partner_ids: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()


def check_request_query(query: RequestStatisticsQuery) -> None:
    if query.last_day < query.first_day:
        raise DomainError(
            "INVALID_PERIOD", "the period ends before it starts", ("filter", "period")
        )
    days = (query.last_day - query.first_day).days + 1
    if days > MAX_PERIOD_DAYS[None]:
        raise DomainError(
            "PERIOD_TOO_LONG",
            f"a period spans at most {MAX_PERIOD_DAYS[None]} days, not {days}",
            ("filter", "period"),
        )


@dataclass(frozen=True, slots=True)
class RequestRecord:
    partner_id: int
    program_id: int
    status: str
    kind: str
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class RequestStatisticsRow:
    partner_id: int | None
    program_id: int | None
    count: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    acceptance_rate: Decimal | None
    median_hours_to_decision: Decimal | None


@dataclass
class _Group:
    count: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    accepted: int = 0
    waits: list[Decimal] = field(default_factory=list)  # seconds from raising to decision

    def add(self, record: RequestRecord) -> None:
        self.count += 1
        self.by_status[record.status] = self.by_status.get(record.status, 0) + 1
        self.by_kind[record.kind] = self.by_kind.get(record.kind, 0) + 1
        if record.status in DECIDED_STATUSES and record.decided_at is not None:
            self.accepted += record.status in ACCEPTED_STATUSES
            wait = record.decided_at - record.created_at
            self.waits.append(
                Decimal(wait.days * 86400 + wait.seconds) + Decimal(wait.microseconds) / 10**6
            )


def median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _row(partner_id: int | None, program_id: int | None, group: _Group) -> RequestStatisticsRow:
    decided = len(group.waits)
    return RequestStatisticsRow(
        partner_id=partner_id,
        program_id=program_id,
        count=group.count,
        by_status=group.by_status,
        by_kind=group.by_kind,
        acceptance_rate=(Decimal(group.accepted) / decided).quantize(_RATE, rounding=ROUND_HALF_UP)
        if decided
        else None,
        median_hours_to_decision=(median(group.waits) / 3600).quantize(
            _HOURS, rounding=ROUND_HALF_UP
        )
        if decided
        else None,
    )


def summarise(
    query: RequestStatisticsQuery, records: Iterable[RequestRecord]
) -> tuple[list[RequestStatisticsRow], RequestStatisticsRow]:
    """Rows per (partner, program) as grouped (ordered by partner, then program id) and the
    totals of all records."""
    by_partner = RequestGroup.PARTNER in query.groups
    by_program = RequestGroup.PROGRAM in query.groups
    groups: dict[tuple[int | None, int | None], _Group] = {}
    total = _Group()
    for record in records:
        key = (
            record.partner_id if by_partner else None,
            record.program_id if by_program else None,
        )
        groups.setdefault(key, _Group()).add(record)
        total.add(record)
    rows = [
        _row(partner, program, groups[(partner, program)])
        for partner, program in sorted(groups, key=lambda k: (k[0] or 0, k[1] or 0))
    ]
    if not query.groups:
        rows = []
    return rows, _row(None, None, total)
