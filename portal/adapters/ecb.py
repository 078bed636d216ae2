"""Reads the ECB euro foreign exchange reference rate files into `ReferenceRate` rows (base EUR).

Formats (the format is told by the content, not by the file name):

* XML — ``eurofxref-daily.xml``, ``eurofxref-hist.xml``, ``eurofxref-hist-90d.xml``: a
  ``gesmes:Envelope`` holding ``Cube > Cube[time] > Cube[currency][rate]``.
* CSV — one column per currency after a ``Date`` column, a trailing empty column allowed:
  ``eurofxref.csv`` (one line, dates such as ``20 November 2026``, a space after each comma) and
  ``eurofxref-hist.csv`` (ISO dates, ``N/A`` where a currency had no rate that day).

A UTF-8 byte order mark and CRLF line ends are accepted. Well-formed codes that are not ISO 4217
currencies in use (withdrawn ones such as CYP or ROL in the historic files) are skipped and
listed in `ParsedRates.skipped_currencies`.

Every problem with the input is a `DomainError` on the field ``file``:

* ``EMPTY_FILE`` — no content, or no rate in it;
* ``FILE_TOO_LARGE`` — more than `MAX_FILE_BYTES`;
* ``UNKNOWN_CURRENCY`` — a currency column or attribute that is not a three-letter code;
* ``INVALID_RATE_FILE`` — anything else (not UTF-8 text, broken XML, a DOCTYPE or ENTITY
  declaration, an unexpected layout, a bad date or rate, two different rates for one day), with
  the line and the column or currency where it is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.parsers import expat

from portal.domain.errors import DomainError
from portal.domain.exchange_rates import ReferenceRate
from portal.domain.money import MINOR_UNITS, parse_decimal

BASE_CURRENCY = "EUR"
MAX_FILE_BYTES = 32 * 1024 * 1024

_FIELD = ("file",)
_BOM = b"\xef\xbb\xbf"
_GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
_EUROFXREF_NS = frozenset(
    {
        "http://www.ecb.int/vocabulary/2002-08-01/eurofxref",
        "http://www.ecb.europa.eu/vocabulary/2002-08-01/eurofxref",
    }
)
_CODE = re.compile(r"[A-Z]{3}")
_RATE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LONG_DATE = re.compile(r"([0-9]{1,2}) ([A-Za-z]+) ([0-9]{4})")
_MONTHS = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_MISSING = frozenset({"", "N/A"})


@dataclass(frozen=True, slots=True)
class ParsedRates:
    rates: list[ReferenceRate]
    """The rates of the file, ordered by day and currency."""
    skipped_currencies: tuple[str, ...]
    """Codes in the file that are not ISO 4217 currencies in use, sorted; their rates were
    left out."""


class _Collector:
    """Gathers rates, checks each one, and refuses two different rates for one day."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.rates: dict[tuple[date, str], Decimal] = {}
        self.skipped: set[str] = set()

    def error(self, where: str, message: str, code: str = "INVALID_RATE_FILE") -> DomainError:
        return DomainError(code, f"{self.prefix}{where}: {message}", _FIELD)

    def currency(self, raw: str, where: str) -> str | None:
        """The currency code, or None when it is to be skipped."""
        code = raw.strip()
        if not _CODE.fullmatch(code):
            raise self.error(where, f"{raw!r} is not a currency code", "UNKNOWN_CURRENCY")
        if code == BASE_CURRENCY:
            raise self.error(
                where, f"a {BASE_CURRENCY} rate has no place in {BASE_CURRENCY}-based rates"
            )
        if code not in MINOR_UNITS:
            self.skipped.add(code)
            return None
        return code

    def day(self, raw: str, where: str) -> date:
        text = raw.strip()
        try:
            if _ISO_DATE.fullmatch(text):
                return date.fromisoformat(text)
            long = _LONG_DATE.fullmatch(text)
            if long and long.group(2).lower() in _MONTHS:
                return date(int(long.group(3)), _MONTHS[long.group(2).lower()], int(long.group(1)))
        except ValueError:
            pass
        raise self.error(where, f"{raw!r} is not a date (expected 2026-11-20 or 20 November 2026)")

    def add(self, day: date, currency: str, raw_rate: str, where: str) -> None:
        text = raw_rate.strip()
        if not _RATE.fullmatch(text):
            raise self.error(where, f"{currency} rate {raw_rate!r} is not a number")
        try:
            rate = parse_decimal(text)
        except ValueError as error:
            raise self.error(where, f"{currency} rate {raw_rate!r}: {error}") from None
        if rate <= 0:
            raise self.error(where, f"{currency} rate {raw_rate!r} must be positive")
        known = self.rates.setdefault((day, currency), rate)
        if known != rate:
            raise self.error(
                where, f"two different {currency} rates for {day.isoformat()}: {known} and {rate}"
            )

    def result(self) -> ParsedRates:
        if not self.rates:
            raise DomainError("EMPTY_FILE", f"{self.prefix}the file holds no exchange rate", _FIELD)
        rates = [
            ReferenceRate(BASE_CURRENCY, currency, day, rate)
            for (day, currency), rate in sorted(self.rates.items())
        ]
        return ParsedRates(rates, tuple(sorted(self.skipped)))


def _prefix(filename: str | None) -> str:
    return f"{filename}, " if filename else ""


def _text(content: bytes, prefix: str) -> str:
    """The content as text: UTF-8 without a byte order mark, no NUL characters."""
    if not isinstance(content, bytes | bytearray):
        raise TypeError(f"expected bytes, got {type(content).__name__}")
    if len(content) > MAX_FILE_BYTES:
        raise DomainError(
            "FILE_TOO_LARGE",
            f"{prefix}the file has {len(content)} bytes, at most {MAX_FILE_BYTES} are accepted",
            _FIELD,
        )
    try:
        text = bytes(content).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DomainError(
            "INVALID_RATE_FILE",
            f"{prefix}byte {error.start}: the file is not UTF-8 text",
            _FIELD,
        ) from None
    if "\x00" in text:
        raise DomainError(
            "INVALID_RATE_FILE", f"{prefix}the file holds NUL characters: it is not text", _FIELD
        )
    if not text.strip():
        raise DomainError("EMPTY_FILE", f"{prefix}the file is empty", _FIELD)
    return text


def parse_ecb_file(content: bytes, filename: str | None = None) -> ParsedRates:
    """Parse an ECB reference rate file, XML or CSV as its content tells; `filename` only names
    the file in error messages."""
    prefix = _prefix(filename)
    text = _text(content, prefix)
    if text.lstrip().startswith("<"):
        return _parse_xml(bytes(content), prefix)
    return _parse_csv(text, prefix)


def parse_ecb_xml(content: bytes, filename: str | None = None) -> ParsedRates:
    """Parse the ECB XML format (``eurofxref-daily.xml``, ``eurofxref-hist.xml``, …)."""
    prefix = _prefix(filename)
    _text(content, prefix)
    return _parse_xml(bytes(content), prefix)


def parse_ecb_csv(content: bytes, filename: str | None = None) -> ParsedRates:
    """Parse the ECB CSV format (``eurofxref.csv``, ``eurofxref-hist.csv``)."""
    prefix = _prefix(filename)
    return _parse_csv(_text(content, prefix), prefix)


# --- XML ------------------------------------------------------------------------------------


def _parse_xml(content: bytes, prefix: str) -> ParsedRates:
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    lowered = content.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise DomainError(
            "INVALID_RATE_FILE",
            f"{prefix}DOCTYPE and ENTITY declarations are not accepted in a rate file",
            _FIELD,
        )
    reader = _XmlReader(prefix)
    try:
        reader.parse(content)
    except expat.ExpatError as error:
        raise DomainError(
            "INVALID_RATE_FILE",
            f"{prefix}line {error.lineno}, column {error.offset + 1}: broken XML"
            f" ({expat.ErrorString(error.code)})",
            _FIELD,
        ) from None
    if not reader.seen_envelope:
        raise DomainError(
            "INVALID_RATE_FILE", f"{prefix}this is not an ECB reference rate file", _FIELD
        )
    return reader.collector.result()


class _XmlReader:
    """Walks ``gesmes:Envelope > Cube > Cube[time] > Cube[currency][rate]`` with expat, so that
    every error can tell its line and so that DOCTYPE and entity declarations stop the parse."""

    def __init__(self, prefix: str) -> None:
        self.collector = _Collector(prefix)
        self.seen_envelope = False
        self.depth = 0
        # The kinds of the open Cube elements, innermost last: "outer", "day" or "rate".
        self.cubes: list[tuple[int, str]] = []
        self.day: date | None = None
        self.parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
        self.parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartDoctypeDeclHandler = self._refuse_declaration
        self.parser.EntityDeclHandler = self._refuse_declaration
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end

    def parse(self, content: bytes) -> None:
        self.parser.Parse(content, True)

    def _where(self) -> str:
        return f"line {self.parser.CurrentLineNumber}"

    def _refuse_declaration(self, *_: object) -> None:
        raise self.collector.error(
            self._where(), "DOCTYPE and ENTITY declarations are not accepted in a rate file"
        )

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        namespace, _, local = name.rpartition(" ")
        if self.depth == 1:
            if (namespace, local) != (_GESMES_NS, "Envelope"):
                raise self.collector.error(
                    self._where(), f"expected a gesmes:Envelope, found <{local}>"
                )
            self.seen_envelope = True
            return
        if local != "Cube" or namespace not in _EUROFXREF_NS:
            if self.cubes:
                raise self.collector.error(self._where(), f"unexpected <{local}> inside a Cube")
            return  # gesmes:subject, gesmes:Sender …
        parent = self.cubes[-1][1] if self.cubes else None
        if parent is None:
            if self.depth != 2 or attributes:
                raise self.collector.error(self._where(), "the outer Cube must hold dated Cubes")
            kind = "outer"
        elif parent == "outer":
            if set(attributes) != {"time"}:
                raise self.collector.error(
                    self._where(), "a Cube inside the outer Cube must have only a time"
                )
            self.day = self.collector.day(attributes["time"], self._where())
            kind = "day"
        elif parent == "day":
            if set(attributes) != {"currency", "rate"}:
                raise self.collector.error(
                    self._where(), "a rate Cube must have a currency and a rate"
                )
            where = self._where()
            currency = self.collector.currency(attributes["currency"], where)
            if currency is not None and self.day is not None:
                self.collector.add(self.day, currency, attributes["rate"], where)
            kind = "rate"
        else:
            raise self.collector.error(self._where(), "a rate Cube cannot hold another Cube")
        self.cubes.append((self.depth, kind))

    def _end(self, _name: str) -> None:
        if self.cubes and self.cubes[-1][0] == self.depth:
            _, kind = self.cubes.pop()
            if kind == "day":
                self.day = None
        self.depth -= 1


# --- CSV ------------------------------------------------------------------------------------


def _rows(text: str, collector: _Collector) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows with their line numbers."""
    reader = csv.reader(text.splitlines(), skipinitialspace=True, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise collector.error(f"line {reader.line_num}", f"not CSV ({error})") from None
        if any(cell.strip() for cell in row):
            yield reader.line_num, [cell.strip() for cell in row]


def _without_trailing_empty(cells: Iterable[str], keep: int = 0) -> list[str]:
    """Drop empty cells from the end, but never below `keep` cells."""
    result = list(cells)
    while len(result) > keep and result[-1] == "":
        result.pop()
    return result


def _parse_csv(text: str, prefix: str) -> ParsedRates:
    collector = _Collector(prefix)
    rows = _rows(text, collector)
    header_line, header = next(rows, (0, []))
    header = _without_trailing_empty(header)
    if not header or header[0].lower() != "date":
        raise collector.error(
            f"line {header_line or 1}",
            "this is not an ECB reference rate file (expected a header starting with 'Date')",
        )
    columns: list[str | None] = []
    for index, raw in enumerate(header[1:], start=2):
        where = f"line {header_line}, column {index}"
        if raw == "":
            raise collector.error(where, "the column has no currency", "UNKNOWN_CURRENCY")
        currency = collector.currency(raw, where)
        if currency is not None and currency in columns:
            raise collector.error(where, f"{currency} is there twice")
        columns.append(currency)
    for line, row in rows:
        cells = _without_trailing_empty(row, keep=len(header))
        if len(cells) != len(header):
            raise collector.error(
                f"line {line}",
                f"{len(cells)} values where the header has {len(header)} columns",
            )
        day = collector.day(cells[0], f"line {line}, column 1")
        for index, (currency, raw_rate) in enumerate(zip(columns, cells[1:], strict=True), 2):
            if currency is None or raw_rate.upper() in _MISSING:
                continue
            collector.add(day, currency, raw_rate, f"line {line}, column {index} ({currency})")
    return collector.result()
