"""Global ids: opaque to clients; internally base64 of "Type:pk". Framework-free, so services
can name objects in messages the way the API does."""

from __future__ import annotations

import base64
import binascii

from portal.domain.errors import DomainError


class InvalidGlobalId(DomainError):
    pass


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode_id(raw: str, field: tuple[str, ...] = ("id",)) -> tuple[str, int]:
    try:
        type_name, _, pk = base64.b64decode(raw.encode(), validate=True).decode().partition(":")
        if not type_name or not pk.isdigit() or len(pk) > 18:
            raise ValueError(raw)
        return type_name, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidGlobalId("INVALID_ID", f"{raw!r} is not a valid id", field) from None


def decode_typed(raw: str, expected: str, field: tuple[str, ...] = ("id",)) -> int:
    """The pk of a global id that must be of type `expected`."""
    type_name, pk = decode_id(raw, field)
    if type_name != expected:
        raise InvalidGlobalId("INVALID_ID", f"{raw!r} is not the id of a {expected}", field)
    return pk
