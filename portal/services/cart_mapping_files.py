"""A cart-mapping version as a file (CSV or XLSX, issue 16): the template, the export of the
version in effect, and the import of a file as a new version — read with the request files'
reader (any column order, headers case-insensitive, UTF-8 CSV with `,` or `;`, XLSX), every bad
cell reported with its row and column, and stored through `cart_mappings.set_cart_mapping`
(the same checks as the API; a dry run checks only). One row is one rule, in order."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from portal.adapters.request_files import (
    CellError,
    FileProblem,
    checked_table,
    parse_amount,
    row_texts,
)
from portal.adapters.spreadsheets import Cell, TableFormat, write_table
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.cart_mapping import MAX_RULES, CategoryMatch, MappingRule, MappingVersion
from portal.domain.errors import DomainError, ValidationFailed
from portal.services.cart_mappings import cart_mapping, mapping_program, set_cart_mapping

SKU_SEPARATOR = "|"
COLUMNS = (
    "tracking_category",
    "shop_category",
    "category_match",
    "skus",
    "brand",
    "on_sale",
    "min_unit_price",
    "max_unit_price",
)
REQUIRED = frozenset({"tracking_category"})
_FIELD_COLUMNS = {
    "trackingCategory": "tracking_category",
    "shopCategory": "shop_category",
    "categoryMatch": "category_match",
    "skus": "skus",
    "brand": "brand",
    "onSale": "on_sale",
    "minUnitPrice": "min_unit_price",
    "maxUnitPrice": "max_unit_price",
}
_TRUE = {"true", "yes", "1", "y", "ja", "x"}
_FALSE = {"false", "no", "0", "n", "nein"}


@dataclass(frozen=True, slots=True)
class FileImport:
    """The version stored (or, dry run, checked; None on errors) and the file's bad cells."""

    version: MappingVersion | None
    errors: tuple[CellError, ...]


def _parse_row(
    row: int, cells: dict[str, Any], german: bool, errors: list[CellError]
) -> MappingRule | None:
    before = len(errors)
    texts = row_texts(row, cells, COLUMNS, errors)
    match = CategoryMatch.EXACT
    if texts["category_match"] is not None:
        try:
            match = CategoryMatch(texts["category_match"].upper())
        except ValueError:
            errors.append(
                CellError(
                    row,
                    "category_match",
                    texts["category_match"],
                    "INVALID_VALUE",
                    "EXACT, PREFIX or GLOB",
                )
            )
    on_sale = None
    if texts["on_sale"] is not None:
        flag = texts["on_sale"].lower()
        if flag in _TRUE or flag in _FALSE:
            on_sale = flag in _TRUE
        else:
            errors.append(
                CellError(row, "on_sale", texts["on_sale"], "INVALID_VALUE", "true or false")
            )
    prices: dict[str, Decimal | None] = {}
    for column in ("min_unit_price", "max_unit_price"):
        text = texts[column]
        if text is None:
            prices[column] = None
            continue
        try:
            prices[column] = parse_amount(cells.get(column), german)
        except ValueError as error:
            code, _, message = str(error).partition(":")
            errors.append(CellError(row, column, text, code, message))
    if len(errors) > before:
        return None
    skus = texts["skus"]
    return MappingRule(
        tracking_category=texts["tracking_category"] or "",
        shop_category=texts["shop_category"],
        category_match=match,
        skus=tuple(s for s in (skus or "").split(SKU_SEPARATOR) if s.strip()),
        brand=texts["brand"],
        on_sale=on_sale,
        min_unit_price=prices["min_unit_price"],
        max_unit_price=prices["max_unit_price"],
    )


def read_rules(
    path: Path, filename: str | None
) -> tuple[list[MappingRule], list[int], list[CellError]]:
    """The file's rules with the row each came from, and its bad cells; FileProblem when the
    file as a whole cannot be read (or holds more than `MAX_RULES` rows)."""
    source = checked_table(path, filename, COLUMNS, REQUIRED)
    rules: list[MappingRule] = []
    rows: list[int] = []
    errors: list[CellError] = []
    for row, cells in source.rows():
        if len(rows) >= MAX_RULES:
            raise FileProblem(
                "TOO_MANY_RULES", f"a mapping version has at most {MAX_RULES} rules (rows)"
            )
        rule = _parse_row(row, cells, source.german_decimals, errors)
        rows.append(row)
        rules.append(rule if rule is not None else MappingRule(""))
    return rules, rows, errors


async def import_cart_mapping(
    uow: UnitOfWork,
    viewer: Viewer,
    program_id: int,
    valid_from: datetime,
    path: Path,
    filename: str | None,
    *,
    dry_run: bool = False,
) -> FileImport:
    """Reads the file and stores its rules as a new version (nothing when any cell or rule is
    bad: then the errors name row and column). Problems of the input as a whole (the program,
    validFrom, the file) raise."""
    await mapping_program(uow, viewer, program_id)
    rules, rows, errors = read_rules(path, filename)
    if errors:
        return FileImport(None, tuple(errors))
    try:
        version = await set_cart_mapping(
            uow, viewer, program_id, valid_from, rules, dry_run=dry_run
        )
    except ValidationFailed as failed:
        cells, whole = _cell_errors(failed.errors, rows)
        if whole:
            raise ValidationFailed(whole) from None
        return FileImport(None, tuple(cells))
    return FileImport(version, ())


def _cell_errors(
    errors: list[DomainError], rows: list[int]
) -> tuple[list[CellError], list[DomainError]]:
    """Rule errors (`rules.<i>.<field>`) as cell errors; the others as they are."""
    cells: list[CellError] = []
    whole: list[DomainError] = []
    for error in errors:
        field = error.field
        if len(field) >= 2 and field[0] == "rules" and field[1].isdigit():
            column = _FIELD_COLUMNS.get(field[2], "") if len(field) > 2 else ""
            cells.append(CellError(rows[int(field[1])], column, None, error.code, error.message))
        elif field == ("rules",):
            cells.append(CellError(0, "", None, error.code, error.message))
        else:
            whole.append(error)
    return cells, whole


def rule_cells(rule: MappingRule) -> list[Cell]:
    return [
        rule.tracking_category,
        rule.shop_category,
        rule.category_match.value,
        SKU_SEPARATOR.join(rule.skus) or None,
        rule.brand,
        None if rule.on_sale is None else ("true" if rule.on_sale else "false"),
        rule.min_unit_price,
        rule.max_unit_price,
    ]


def table_bytes(rules: tuple[MappingRule, ...], fmt: TableFormat) -> bytes:
    """The rules as a file (the template when there are none: the header alone)."""
    with tempfile.TemporaryDirectory(prefix="portal-mapping-") as folder:
        path = Path(folder) / f"mapping.{fmt.extension}"
        write_table(path, COLUMNS, (rule_cells(r) for r in rules), fmt)
        return path.read_bytes()


async def export_cart_mapping(
    uow: UnitOfWork, viewer: Viewer, program_id: int, at: datetime, fmt: TableFormat
) -> bytes:
    """The version in effect at `at` as a file (the header alone when none is)."""
    version = await cart_mapping(uow, viewer, program_id, at)
    return table_bytes(version.rules if version else (), fmt)
