"""Errors the domain raises for expected failures. Each carries a code and the input field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class DomainError(Exception):
    """One expected failure: a stable SCREAMING_SNAKE code, a message for people, and the path
    of the input field it is about (empty when it is about the whole input)."""

    def __init__(self, code: str, message: str, field: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = tuple(field)

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r}, {self.field!r})"


class ValidationFailed(Exception):
    """Several expected failures found together, reported all at once."""

    def __init__(self, errors: Iterable[DomainError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors))


class NotFound(DomainError):
    """The object does not exist or is outside the viewer's scope (the two read the same)."""

    def __init__(self, what: str, field: Sequence[str] = ()) -> None:
        super().__init__("NOT_FOUND", f"{what} not found", field)


class PermissionDenied(DomainError):
    """The object is visible but the viewer may not do this to it."""

    def __init__(self, message: str, field: Sequence[str] = ()) -> None:
        super().__init__("PERMISSION_DENIED", message, field)


class ErrorCollector:
    """Collects field errors so a use case can report every problem of an input at once."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def add(self, code: str, message: str, field: Sequence[str]) -> None:
        self.errors.append(DomainError(code, message, field))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
