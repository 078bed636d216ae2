"""Sales validation (SPEC §9): an advertiser confirms or rejects its program's conversions
against its order book, line by line, and corrects order values.

`validate_lines` is the ONE code path of a validation line, whatever its source: the
`validateConversions` mutation, the `importSalesValidation` file and the tracking-difference
report's "reject the conversions not in the book" step all call it. A line's change is the
change a CHANGE_EXISTING request would make (`request_revision.revise`: a new order value is
rated again with the rate of the period containing the tracking time, converted from its
currency with the reference rate of the tracking day); billing locks are
`check_conversion_may_change`'s; every change is a revision of source VALIDATION by the
validating user."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from portal.adapters import rows
from portal.adapters.conversion_store import (
    NewConversion,
    update_conversions,
    with_invoice_status,
)
from portal.adapters.tables import conversions
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import (
    Conversion,
    ConversionStatus,
    FieldChange,
    RevisionSource,
    check_conversion_may_change,
)
from portal.domain.errors import DomainError, ErrorCollector, PermissionDenied, ValidationFailed
from portal.domain.order_values import (
    MAX_NOTE_CODE,
    MAX_ORDER_ID,
    check_amount,
    check_currency,
    check_order_id,
    check_text,
)
from portal.domain.programs import Program
from portal.domain.requests import RequestedValues, RequestKind
from portal.services.request_revision import revise, without_current_values
from portal.services.scope import managed_program

log = logging.getLogger("portal.validation")

MAX_LINES = 1000
"""Lines of one call; a file is validated in batches of this size."""
_CHUNK = 400  # order ids per IN (...) list


class ValidationOutcome(enum.Enum):
    """What became of one line (in a dry run: what would become of it)."""

    CONFIRMED = "CONFIRMED"  # the status (and maybe the note) changed; now CONFIRMED
    REJECTED = "REJECTED"  # the status (and maybe the note) changed; now REJECTED
    VALUE_CHANGED = "VALUE_CHANGED"  # the order value changed (rated again); maybe the status
    UNCHANGED = "UNCHANGED"  # the conversion is already as the line says
    NOT_FOUND = "NOT_FOUND"  # no conversion of the program matches
    AMBIGUOUS = "AMBIGUOUS"  # several conversions match: give target and/or category
    PAID = "PAID"  # billing has paid or invoiced it for good: it can no longer change
    RESERVED = "RESERVED"  # a payout entry or advertiser invoice in preview reserves it
    INVALID = "INVALID"  # the line's values are wrong: see its errors


class ValidationSource(enum.Enum):
    """Where lines come from (logged; the revision's source is VALIDATION for all)."""

    API = "API"  # validateConversions
    FILE = "FILE"  # importSalesValidation
    TRACKING_DIFFERENCE = "TRACKING_DIFFERENCE"  # rejecting conversions not in the order book


_STATUSES = (ConversionStatus.CONFIRMED, ConversionStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class ValidationLine:
    """One line of the order book's verdict on a conversion.

    The conversion is found by `order_id` in the program, narrowed by `target` and `category`
    when given (they identify it; they are never changed) — or, when `conversion_id` is given,
    by that id (it must be a conversion of the program). `status` is CONFIRMED or REJECTED;
    `order_value` (None: unchanged) is in `currency` (None: the program currency);
    `conversion_note` is a note code of the program, required for a rejection unless the
    conversion has one already (as for requests)."""

    order_id: str
    status: ConversionStatus
    target: str | None = None
    category: str | None = None
    order_value: Decimal | None = None
    currency: str | None = None
    conversion_note: str | None = None
    conversion_id: int | None = None


@dataclass(slots=True)
class LineResult:
    """The outcome of line `index` (0-based, input order). `errors` (INVALID; for NOT_FOUND,
    AMBIGUOUS, PAID and RESERVED the one reason) name fields relative to the line:
    orderId, conversionTarget, trackingCategory, status, orderValue, currency,
    conversionNote. `changes`: field by field, old → new (written unless dry run);
    `conversion_id`: the matched conversion (None: NOT_FOUND, AMBIGUOUS, some INVALID);
    `revision`: the number of the revision written (None: nothing written)."""

    index: int
    order_id: str
    outcome: ValidationOutcome
    conversion_id: int | None = None
    errors: list[DomainError] = field(default_factory=list)
    changes: tuple[FieldChange, ...] = ()
    revision: int | None = None
    status: ConversionStatus | None = None  # the conversion's status after the line


def check_batch(viewer: Viewer, count: int) -> None:
    """Whole-call checks: partners never validate; 1–MAX_LINES lines."""
    if viewer.role is Role.PARTNER:
        raise PermissionDenied("partners cannot validate conversions; raise a request", ())
    if count < 1:
        raise DomainError("BATCH_EMPTY", "send at least one line", ("lines",))
    if count > MAX_LINES:
        raise DomainError(
            "BATCH_TOO_LARGE",
            f"a validation has at most {MAX_LINES} lines, not {count}; nothing was validated",
            ("lines",),
        )


async def validate_lines(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    lines: Sequence[ValidationLine],
    *,
    dry_run: bool = False,
    source: ValidationSource = ValidationSource.API,
    seen_conversions: set[int] | None = None,
) -> list[LineResult]:
    """Validates 1–`MAX_LINES` lines of program `program_id`; one result per line, in input
    order. Each line is checked, matched and checked against billing on its own (a bad line
    never affects the others); unless `dry_run`, the changes of the good lines are written
    together in `uow` (the caller commits), each as a revision of source VALIDATION by
    `viewer`. The matched conversions are locked (FOR UPDATE) until the caller's commit, so a
    billing run or request processing cannot slip in between the checks and the writes.

    Raises (nothing validated) for the whole call: PERMISSION_DENIED for partners, NOT_FOUND
    (field programId) for a program the viewer does not manage, BATCH_EMPTY / BATCH_TOO_LARGE
    (field lines). `seen_conversions`: the conversions earlier batches of the same file
    matched (updated in place); a conversion matched a second time is INVALID
    (DUPLICATE_IN_BATCH), within one call as across the batches of a file."""
    check_batch(viewer, len(lines))
    program = rows.program(await managed_program(uow, viewer, program_id, ("programId",)))
    seen = seen_conversions if seen_conversions is not None else set()
    results = [
        LineResult(i, (line.order_id or "").strip(), _PENDING) for i, line in enumerate(lines)
    ]
    checked: list[tuple[LineResult, ValidationLine]] = []
    for result, line in zip(results, lines, strict=True):
        errors = _line_errors(line)
        if errors:
            _invalid(result, errors)
        else:
            checked.append((result, line))
    found = await _conversions_of(uow, viewer, program, [line for _, line in checked], dry_run)
    changed: list[tuple[LineResult, NewConversion]] = []
    for result, line in checked:
        new = await _validate_one(uow, program, result, line, found, seen)
        if new is not None:
            changed.append((result, new))
    if not dry_run and changed:
        # Written together: one UPDATE and one INSERT of revisions for the whole batch.
        numbers = await update_conversions(
            uow,
            [(r.conversion_id or 0, new, r.changes) for r, new in changed],
            RevisionSource.VALIDATION,
            viewer.user_id,
        )
        for (result, _), number in zip(changed, numbers, strict=True):
            result.revision = number
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
    log.info(
        "validation of program %s by user %s (%s%s): %s",
        program.id,
        viewer.user_id,
        source.value,
        ", dry run" if dry_run else "",
        counts,
    )
    return results


_PENDING = ValidationOutcome.INVALID  # replaced for every line that gets this far


def _invalid(result: LineResult, errors: Sequence[DomainError]) -> None:
    result.outcome = ValidationOutcome.INVALID
    result.errors = list(errors)


def _line_errors(line: ValidationLine) -> list[DomainError]:
    """The checks of a line needing no database, every error naming its field."""
    errors = ErrorCollector()
    check_order_id(errors, line.order_id, ("orderId",))
    if line.status not in _STATUSES:
        errors.add(
            "INVALID_STATUS",
            "a validation line sets the status CONFIRMED or REJECTED",
            ("status",),
        )
    if line.order_value is not None:
        check_amount(errors, line.order_value, ("orderValue",))
    if line.currency is not None:
        check_currency(errors, line.currency, ("currency",))
    check_text(errors, line.conversion_note, MAX_NOTE_CODE, ("conversionNote",))
    for value, name in ((line.target, "conversionTarget"), (line.category, "trackingCategory")):
        if value is not None and len(value) > MAX_ORDER_ID:
            errors.add("TOO_LONG", f"at most {MAX_ORDER_ID} characters", (name,))
    return errors.errors


@dataclass(slots=True)
class _Found:
    by_order: dict[str, list[Conversion]]
    by_id: dict[int, Conversion]


async def _conversions_of(
    uow: UnitOfWork,
    viewer: Viewer,
    program: Program,
    lines: Sequence[ValidationLine],
    dry_run: bool,
) -> _Found:
    """The program's conversions the lines name, in one query per chunk, locked for the
    change unless `dry_run` (a billing run or request processing waits for this one)."""
    c = conversions.c
    found = _Found({}, {})
    order_ids = sorted({line.order_id.strip() for line in lines if line.conversion_id is None})
    ids = sorted({line.conversion_id for line in lines if line.conversion_id is not None})
    conditions: list[Any] = [
        *(c.order_id.in_(order_ids[i : i + _CHUNK]) for i in range(0, len(order_ids), _CHUNK)),
        *(c.id.in_(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)),
    ]
    for condition in conditions:
        query = (
            with_invoice_status()
            .where(c.program_id == program.id, condition, visible(conversions, viewer))
            .order_by(c.id)
        )
        if not dry_run:
            query = query.with_for_update(of=conversions)
        row: Row[Any]
        for row in await uow.conn.execute(query):
            conversion = rows.conversion(row)
            if conversion.id in found.by_id:
                continue
            found.by_id[conversion.id] = conversion
            found.by_order.setdefault(conversion.order_id, []).append(conversion)
    return found


def _match(line: ValidationLine, found: _Found) -> list[Conversion]:
    if line.conversion_id is not None:
        hit = found.by_id.get(line.conversion_id)
        return [hit] if hit is not None else []
    return [
        conversion
        for conversion in found.by_order.get(line.order_id.strip(), [])
        if (line.target is None or conversion.target == line.target.strip())
        and (line.category is None or conversion.category == line.category.strip())
    ]


_LOCKS = {
    "CONVERSION_PAID": ValidationOutcome.PAID,
    "CONVERSION_RESERVED": ValidationOutcome.RESERVED,
}


async def _validate_one(
    uow: UnitOfWork,
    program: Program,
    result: LineResult,
    line: ValidationLine,
    found: _Found,
    seen: set[int],
) -> NewConversion | None:
    """Decides the line's outcome; answers the conversion as it is to be written (None:
    nothing to write)."""
    matches = _match(line, found)
    if not matches:
        result.outcome = ValidationOutcome.NOT_FOUND
        result.errors = [
            DomainError(
                "NOT_FOUND",
                "no conversion of the program has this order id"
                + (" (with this target and category)" if line.target or line.category else ""),
                ("conversionId",) if line.conversion_id is not None else ("orderId",),
            )
        ]
        return None
    if len(matches) > 1:
        result.outcome = ValidationOutcome.AMBIGUOUS
        result.errors = [
            DomainError(
                "AMBIGUOUS",
                f"{len(matches)} conversions have this order id; give conversionTarget and/or "
                "trackingCategory",
                ("orderId",),
            )
        ]
        return None
    current = matches[0]
    result.conversion_id = current.id
    result.order_id = current.order_id
    if current.id in seen:
        _invalid(
            result,
            [
                DomainError(
                    "DUPLICATE_IN_BATCH",
                    "an earlier line names the same conversion",
                    ("orderId",),
                )
            ],
        )
        return None
    seen.add(current.id)
    requested = without_current_values(
        RequestedValues(
            order_value=line.order_value,
            currency=line.currency.upper() if line.currency else None,
            status=line.status,
            conversion_note=line.conversion_note.strip() if line.conversion_note else None,
        ),
        current,
        program.currency,
    )
    result.status = current.status
    if requested == RequestedValues():
        result.outcome = ValidationOutcome.UNCHANGED
        return None
    try:
        check_conversion_may_change(current, ("orderId",))
    except DomainError as error:
        result.outcome = _LOCKS.get(error.code, ValidationOutcome.INVALID)
        result.errors = [error]
        return None
    try:
        revised = await revise(
            uow, program, current.partner_id, RequestKind.CHANGE_EXISTING, requested, current
        )
    except ValidationFailed as failed:
        _invalid(result, [_relative(e) for e in failed.errors])
        return None
    except DomainError as error:
        _invalid(result, [_relative(error)])
        return None
    changes = revised.changes
    if not changes:
        result.outcome = ValidationOutcome.UNCHANGED
        return None
    new = revised.conversion
    result.changes, result.status = changes, new.status
    if any(change.field == "orderValue" for change in changes):
        result.outcome = ValidationOutcome.VALUE_CHANGED
    elif new.status is ConversionStatus.REJECTED:
        result.outcome = ValidationOutcome.REJECTED
    else:
        result.outcome = ValidationOutcome.CONFIRMED
    return new


def _relative(error: DomainError) -> DomainError:
    """A request's error (fields under `requested`, or the program) as a line's error."""
    path = tuple(p for p in error.field if p != "requested")
    if path == ("programId",):
        path = ()
    return DomainError(error.code, error.message, path)
