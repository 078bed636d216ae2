"""A list filter (a frozen dataclass of tuples, datetimes and plain values) as JSON and back:
an export job keeps the filter it was started with in its parameters."""

from __future__ import annotations

import enum
import typing
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

F = TypeVar("F")


def filter_to_json(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in fields(value):
        item = getattr(value, field.name)
        if isinstance(item, tuple):
            out[field.name] = [v.value if isinstance(v, enum.Enum) else v for v in item]
        elif isinstance(item, datetime):
            out[field.name] = item.isoformat()
        else:
            out[field.name] = item
    return out


def filter_from_json(kind: type[F], raw: dict[str, Any]) -> F:
    """The filter of `kind` from `filter_to_json`; fields missing in `raw` keep their
    defaults (a job started before a field existed)."""
    hints = typing.get_type_hints(kind)
    values: dict[str, Any] = {}
    for field in fields(kind):  # type: ignore[arg-type]
        if field.name not in raw:
            continue
        item, hint = raw[field.name], hints[field.name]
        if typing.get_origin(hint) is tuple:
            member = typing.get_args(hint)[0]
            convert = member if isinstance(member, type) and issubclass(member, enum.Enum) else None
            values[field.name] = tuple(convert(v) if convert else v for v in item or ())
        elif item is not None and datetime in typing.get_args(hint):
            values[field.name] = datetime.fromisoformat(item)
        else:
            values[field.name] = item
    return kind(**values)
