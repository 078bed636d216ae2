"""What every mutation shares: per-mutation error-code enums, user-error types, and running a
service in a unit of work with expected failures turned into `userErrors`."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError, ValidationFailed
from portal.schema.context import Context
from portal.schema.ids import decode_typed

T = TypeVar("T")
Info = strawberry.Info[Context, None]

MUTATION_INPUT = strawberry.argument(
    description="What to do; every field is described on the input type."
)

# Codes any mutation can answer with.
COMMON_CODES = ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ID")


@strawberry.interface(description="An expected problem with a mutation's input or state.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field, e.g. ["input", "orderValue"]; null = whole input.'
    )
    message: str = strawberry.field(description="What is wrong, for people.")


def user_error_type(mutation: str, codes: Iterable[str]) -> tuple[type[enum.Enum], type[Any]]:
    """`<Mutation>ErrorCode` and `<Mutation>UserError` for one mutation (Saleor style)."""
    all_codes = sorted(set(COMMON_CODES) | set(codes))
    code_enum = strawberry.enum(
        enum.Enum(f"{mutation}ErrorCode", {c: c for c in all_codes}),  # type: ignore[misc]
        description=f"Codes of `{mutation[0].lower()}{mutation[1:]}` user errors.",
    )
    namespace: dict[str, Any] = {
        "__annotations__": {"code": code_enum},
        "code": strawberry.field(description="Stable code to switch on."),
    }
    error_type = type(f"{mutation}UserError", (UserError,), namespace)
    error_type = strawberry.type(error_type, description=f"A user error of `{mutation}`.")
    return code_enum, error_type


def to_user_errors(
    error: Exception, error_type: type[Any], code_enum: type[enum.Enum]
) -> list[Any]:
    errors = error.errors if isinstance(error, ValidationFailed) else [error]
    out = []
    for e in errors:
        assert isinstance(e, DomainError)
        out.append(
            error_type(
                field=["input", *e.field] if e.field else None,
                message=e.message,
                code=code_enum[e.code],
            )
        )
    return out


async def run_in_uow(
    info: Info,
    error_type: type[Any],
    code_enum: type[enum.Enum],
    use_case: Callable[[UnitOfWork, Viewer], Awaitable[T]],
) -> tuple[T | None, list[Any]]:
    """Runs the use case in one transaction, committing on success. Expected failures roll back
    everything and come back as user errors; nothing is half-written."""
    viewer = info.context.require_viewer()
    async with UnitOfWork(info.context.engine, queue=info.context.queue) as uow:
        try:
            result = await use_case(uow, viewer)
        except (DomainError, ValidationFailed) as error:
            await uow.rollback()
            return None, to_user_errors(error, error_type, code_enum)
        await uow.commit()
    info.context.loaders.clear_all()
    return result, []


def pk(raw: strawberry.ID | None, kind: str, *field: str) -> int | None:
    """Decode an optional global id of `kind`; a malformed or foreign id is a user error."""
    return None if raw is None else decode_typed(raw, kind, field)


def require_pk(raw: strawberry.ID, kind: str, *field: str) -> int:
    return decode_typed(raw, kind, field)


def check(errors: list[DomainError]) -> None:
    if errors:
        raise ValidationFailed(errors)
