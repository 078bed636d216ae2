"""Custom scalars: exact decimals as strings, offset-aware date-times, ISO 4217 codes."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, NewType

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from portal.domain.money import is_currency, parse_decimal


def _parse_decimal(value: Any) -> decimal.Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError('Decimal values are strings such as "12.50" (or integers)')
    return parse_decimal(value)


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number, serialized as a string such as "1234.50". Input accepts a '
        'string of ASCII digits with an optional point ("-12.50"; never an exponent such as '
        '"1e2") '
        "or an integer (never a float); at most 15 integer and 6 fractional digits."
    ),
    serialize=lambda value: format(value, "f"),
    parse_value=_parse_decimal,
)


def parse_datetime(value: Any) -> dt.datetime:
    """The contract's DateTime: ISO 8601 with an offset, an instant of the years 1–9999 in UTC
    (the API's scalar and the download URLs' `at` alike)."""
    if not isinstance(value, str):
        raise ValueError("DateTime values are ISO 8601 strings with an offset")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset (add Z or +01:00)")
    try:  # "9999-12-31T23:59:59-14:00" is no instant Python (or a database) can hold
        parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{value!r} lies outside the years 1–9999 in UTC") from None
    return parsed


def _serialize_datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description='An ISO 8601 date-time with a UTC offset, e.g. "2026-11-20T14:03:00+01:00". '
    'Values without an offset are refused. Output is always UTC ("…Z").',
    serialize=_serialize_datetime,
    parse_value=parse_datetime,
)


def _parse_currency(value: Any) -> str:
    if not isinstance(value, str) or not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


CurrencyCode = NewType("CurrencyCode", str)

CurrencyCodeScalar = strawberry.scalar(
    name="CurrencyCode",
    description='An ISO 4217 currency code such as "EUR", "JPY" or "KWD".',
    serialize=str,
    parse_value=_parse_currency,
)


def _parse_upload(value: Any) -> UploadFile:
    if not isinstance(value, UploadFile):
        raise ValueError(
            "Upload values are files: send the request as multipart/form-data and map a file "
            "part to the variable (GraphQL multipart request spec)"
        )
    return value


UploadScalar = strawberry.scalar(
    name="Upload",
    description="A file, sent as a part of a multipart/form-data request and mapped to a "
    "variable (GraphQL multipart request spec). Any other value is refused.",
    serialize=lambda value: value,
    parse_value=_parse_upload,
)

SCALAR_MAP: dict[object, Any] = {
    decimal.Decimal: DecimalScalar,
    dt.datetime: DateTimeScalar,
    CurrencyCode: CurrencyCodeScalar,
    Upload: UploadScalar,
}
