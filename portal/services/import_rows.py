"""Turning file rows into request drafts: cells to typed values, names to ids, and service
errors back to the file's columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_

from portal.adapters.request_files import (
    MAX_CELL_CHARS,
    REPORT_COLUMNS,
    CellError,
    cell_text,
    parse_amount,
    parse_time,
)
from portal.adapters.tables import conversions, partners, programs
from portal.adapters.unit_of_work import UnitOfWork
from portal.adapters.visibility import own_programs_first, visible
from portal.domain.access import Role, Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.domain.money import is_currency
from portal.domain.requests import RequestedValues, RequestKind
from portal.global_ids import InvalidGlobalId, decode_typed
from portal.services.request_drafts import Draft, DraftScope
from portal.services.request_revision import without_current_values

_KINDS = {kind.value: kind for kind in RequestKind}
_STATUSES = {status.value: status for status in ConversionStatus}
_DEVICES = frozenset({"DESKTOP", "MOBILE", "TABLET", "OTHER"})
_SUB_ID_COLUMNS = tuple(f"sub_id_{i}" for i in range(1, 7))
_SPECIAL = ("=", "'")  # first characters of a text cell that cell_text must look at

# Where a service error's field path points in the file.
FIELD_COLUMNS = {
    "programId": "program",
    "partnerId": "partner",
    "conversionId": "conversion_id",
    "orderId": "order_id",
    "conversionTarget": "conversion_target",
    "trackingCategory": "tracking_category",
    "trackingTime": "tracking_time",
    "orderValue": "order_value",
    "currency": "currency",
    "status": "status",
    "commission": "commission",
    "device": "device",
    "conversionNote": "conversion_note",
    "comment": "comment",
}


def column_of(error: DomainError) -> str | None:
    path = [p for p in error.field if p != "requested"]
    if not path:
        return None
    if path[0] == "subIds" and len(path) > 1:
        return f"sub_id_{int(path[1]) + 1}"
    return FIELD_COLUMNS.get(path[0], path[0])


@dataclass(slots=True)
class ParsedRow:
    row: int
    cells: dict[str, Any]
    text: dict[str, str | None] = field(default_factory=dict)  # the cells as read: `cell_text`
    draft: Draft | None = None
    errors: list[CellError] = field(default_factory=list)
    # CHANGE_EXISTING without conversion_id: found by (program, order id[, target, category]).
    lookup: tuple[int, str, str | None, str | None] | None = None


class RowParser:
    """Knows the viewer's programs and partners by id and by name (loaded once per import)."""

    def __init__(
        self, viewer: Viewer, zone: ZoneInfo, german_decimals: bool, file_key: str | None
    ) -> None:
        self.viewer = viewer
        self.zone = zone
        self.german = german_decimals
        self.file_key = file_key
        self.program_names: dict[str, int] = {}
        self.program_ids: set[int] = set()
        self.partner_names: dict[str, int] = {}
        self.partner_ids: set[int] = set()
        self._refs: dict[tuple[str, str], int | None] = {}

    async def load_names(self, uow: UnitOfWork) -> None:
        for r in await uow.conn.execute(
            select(programs.c.id, programs.c.name)
            .where(visible(programs, self.viewer))
            .order_by(*own_programs_first(self.viewer), programs.c.id)  # the first name wins
        ):
            self.program_names.setdefault(r.name.strip().casefold(), r.id)
            self.program_ids.add(r.id)
        for r in await uow.conn.execute(
            select(partners.c.id, partners.c.name).where(visible(partners, self.viewer))
        ):
            self.partner_names.setdefault(r.name.strip().casefold(), r.id)
            self.partner_ids.add(r.id)

    def _ref(self, text: str, kind: str, names: dict[str, int], ids: set[int]) -> int | None:
        # A file names the same few programs and partners on every row: resolved once each
        # (decoding a name as a global id fails with an exception, per row otherwise).
        key = (text, kind)
        if key not in self._refs:
            if len(self._refs) > 10_000:
                self._refs.clear()
            self._refs[key] = self._resolve_ref(text, kind, names, ids)
        return self._refs[key]

    def _resolve_ref(
        self, text: str, kind: str, names: dict[str, int], ids: set[int]
    ) -> int | None:
        try:
            pk = decode_typed(text, kind)
            return pk if pk in ids else None
        except InvalidGlobalId:
            pass
        if text.isdigit() and int(text) in ids:
            return int(text)
        return names.get(text.casefold())

    def parse(self, row: int, cells: dict[str, Any]) -> ParsedRow:
        text: dict[str, str | None] = {}
        parsed = ParsedRow(row, cells, text)
        unreadable: set[str] = set()
        for name, value in cells.items():
            if name in REPORT_COLUMNS:
                continue  # an error report's own columns, in a fixed report uploaded again
            if type(value) is str and len(value) <= MAX_CELL_CHARS and "\x00" not in value:
                stripped = value.strip()
                if stripped[:1] not in _SPECIAL:  # the common case of cell_text, inline
                    text[name] = stripped or None
                    continue
            try:
                text[name] = cell_text(value)
            except ValueError as error:
                code, _, message = str(error).partition(":")
                parsed.errors.append(CellError(row, name, _shown(value), code, message))
                unreadable.add(name)
                text[name] = None

        def fail(column: str, code: str, message: str) -> None:
            if column in unreadable:
                return  # reported already (a formula is not also a missing value)
            parsed.errors.append(CellError(row, column, text.get(column), code, message))

        get = text.get
        kind_text = (get("request_type") or "").upper()
        kind = _KINDS.get(kind_text)
        if kind is None:
            fail(
                "request_type",
                "INVALID_VALUE" if kind_text else "REQUIRED",
                "request_type is CREATE_NEW or CHANGE_EXISTING",
            )
        program_id = None
        program_text = get("program")
        if program_text:
            program_id = self._ref(program_text, "Program", self.program_names, self.program_ids)
            if program_id is None:
                fail("program", "UNKNOWN_PROGRAM", "no program of yours has this id or name")
        else:
            fail("program", "REQUIRED", "program is required")
        partner_id = None
        partner_text = get("partner")
        if partner_text:
            partner_id = self._ref(partner_text, "Partner", self.partner_names, self.partner_ids)
            if partner_id is None or (
                self.viewer.role is Role.PARTNER and partner_id != self.viewer.partner_id
            ):
                fail(
                    "partner",
                    "UNKNOWN_PARTNER",
                    "a partner's file raises requests for that partner only"
                    if self.viewer.role is Role.PARTNER
                    else "no partner of yours has this id or name",
                )
                partner_id = None
        elif self.viewer.role is not Role.PARTNER and kind is RequestKind.CREATE_NEW:
            fail("partner", "REQUIRED", "name the partner the request is for")
        conversion_id = None
        if get("conversion_id"):
            try:
                conversion_id = decode_typed(get("conversion_id") or "", "Conversion")
            except InvalidGlobalId:
                fail("conversion_id", "INVALID_ID", "not a conversion id (as exported)")
        order_value = self._typed(cells, text, "order_value", fail)
        commission = self._typed(cells, text, "commission", fail)
        tracking_time = self._typed(cells, text, "tracking_time", fail)
        currency = (get("currency") or "").upper() or None
        if currency and not is_currency(currency):
            fail("currency", "UNKNOWN_CURRENCY", f"{currency!r} is not an ISO 4217 currency code")
            currency = None
        status = None
        status_text = get("status")
        if status_text:
            status = _STATUSES.get(status_text.upper())
            if status is None:
                fail("status", "INVALID_VALUE", "status is OPEN, CONFIRMED or REJECTED")
        device = (get("device") or "").upper() or None
        if device and device not in _DEVICES:
            fail("device", "INVALID_VALUE", "device is DESKTOP, MOBILE, TABLET or OTHER")
        if parsed.errors or kind is None or program_id is None:
            return parsed
        sub_ids = tuple(map(get, _SUB_ID_COLUMNS))
        creating = kind is RequestKind.CREATE_NEW
        target, category = get("conversion_target"), get("tracking_category")
        if not creating and conversion_id is None:
            order_id = get("order_id")
            if not order_id:
                fail(
                    "order_id",
                    "REQUIRED",
                    "order_id (or conversion_id) names the conversion to change",
                )
                return parsed
            parsed.lookup = (program_id, order_id, target, category)
            target = category = None  # they identify the conversion; they are no change
        parsed.draft = Draft(
            kind=kind,
            program_id=program_id,
            partner_id=partner_id,
            conversion_id=conversion_id,
            requested=RequestedValues(
                order_id=get("order_id") if creating else None,
                target=target,
                category=category,
                tracking_time=tracking_time,
                order_value=order_value,
                currency=currency,
                status=status,
                commission=commission,
                sub_ids=sub_ids if any(sub_ids) else None,
                device=device,
                conversion_note=get("conversion_note"),
            ),
            comment=get("comment"),
            idempotency_key=f"import:{self.file_key}:{row}" if self.file_key else None,
        )
        return parsed

    def _typed(
        self,
        cells: dict[str, Any],
        text: dict[str, str | None],
        column: str,
        fail: Callable[[str, str, str], None],
    ) -> Any:
        """The cell of an amount or time column as Decimal or datetime; None when blank."""
        if text.get(column) is None:
            return None
        raw = cells[column]
        if isinstance(raw, str):
            raw = text[column]  # stripped, and without an export's formula-proof apostrophe
        try:
            if column == "tracking_time":
                return parse_time(raw, self.zone)
            return parse_amount(raw, self.german)
        except ValueError as error:
            code, _, message = str(error).partition(":")
            fail(column, code, message)
            return None


def _shown(value: Any) -> str | None:
    """The cell as a cell error shows it: at most 200 characters, a NUL (which no database
    stores) as U+FFFD."""
    if value is None:
        return None
    text = str(value).replace("\x00", "\ufffd")
    return text if len(text) <= 200 else text[:200] + "…"


async def resolve_lookups(scope: DraftScope, rows: list[ParsedRow]) -> None:
    """Finds the conversions CHANGE_EXISTING rows name by order id, in one query per batch;
    then leaves out of each such row what its conversion has already (the conversions stay
    loaded in `scope`, for the checks)."""
    await _find_by_order_id(scope.uow, scope.viewer, rows)
    await _drop_current_values(scope, rows)


async def _drop_current_values(scope: DraftScope, rows: list[ParsedRow]) -> None:
    """An exported row states every value; the request keeps only the edited ones. Else it
    would ask for the unchanged ones too (shown to whoever decides as if requested) and,
    accepted later, put back a status or value changed in the meantime (sales validation)."""
    changing = [
        r
        for r in rows
        if r.draft is not None
        and r.draft.kind is RequestKind.CHANGE_EXISTING
        and r.draft.conversion_id is not None
    ]
    await scope.preload_conversions(
        {r.draft.conversion_id for r in changing if r.draft and r.draft.conversion_id}
    )
    for r in changing:
        assert r.draft is not None and r.draft.conversion_id is not None
        found = scope.loaded_conversion(r.draft.conversion_id)
        if found is not None:
            requested = without_current_values(r.draft.requested, found, found.currency)
            r.draft = replace(r.draft, requested=requested)


async def _find_by_order_id(uow: UnitOfWork, viewer: Viewer, rows: list[ParsedRow]) -> None:
    pending = [r for r in rows if r.lookup is not None and r.draft is not None]
    if not pending:
        return
    keys = list({(r.lookup[0], r.lookup[1]) for r in pending if r.lookup})
    c = conversions.c
    found: dict[tuple[int, str], list[Any]] = {}
    for start in range(0, len(keys), 400):
        for hit in await uow.conn.execute(
            select(c.id, c.program_id, c.order_id, c.target, c.category).where(
                tuple_(c.program_id, c.order_id).in_(keys[start : start + 400]),
                visible(conversions, viewer),
            )
        ):
            found.setdefault((hit.program_id, hit.order_id), []).append(hit)
    for r in pending:
        assert r.lookup is not None and r.draft is not None
        program_id, order_id, target, category = r.lookup
        hits = [
            h
            for h in found.get((program_id, order_id), [])
            if (target is None or h.target == target)
            and (category is None or h.category == category)
        ]
        if len(hits) == 1:
            r.draft = replace(r.draft, conversion_id=hits[0].id)
        else:
            code, message = (
                ("CONVERSION_NOT_FOUND", "no conversion of this program has this order id")
                if not hits
                else (
                    "AMBIGUOUS_ORDER",
                    "several conversions have this order id; give conversion_target "
                    "and tracking_category, or conversion_id",
                )
            )
            r.errors.append(CellError(r.row, "order_id", order_id, code, message))
            r.draft = None
