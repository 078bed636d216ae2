"""The Node interface, Money, and the generic keyset connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Generic, TypeVar

import strawberry

from portal.adapters.reader import Listing
from portal.domain.money import canonical
from portal.schema.scalars import CurrencyCode

T = TypeVar("T")


@strawberry.interface(description="An object with a global id; resolve any id with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Opaque global id. Treat it as a string; its format may change."
    )


@strawberry.type(description="An exact amount in a currency.")
class Money:
    amount: Decimal = strawberry.field(description='The amount, e.g. "12.50".')
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code of the amount.")  # type: ignore[valid-type]


def to_money(amount: Decimal, currency: str) -> Money:
    return Money(amount=canonical(amount, currency), currency=currency)


def money(amount: Decimal | None, currency: str | None) -> Money | None:
    if amount is None or currency is None:
        return None
    return to_money(amount, currency)


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether a page follows this one.")
    has_previous_page: bool = strawberry.field(description="Whether a page precedes this one.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="An object in a list, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after`/`before` to page from here.")
    node: T = strawberry.field(description="The object.")


@strawberry.type(description="A page of a list (Relay connection with keyset cursors).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The objects of this page with cursors.")
    nodes: list[T] = strawberry.field(description="The objects of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many objects the whole filtered list holds (costs a count).")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def of(cls, listing: Listing, convert: Callable[[object], T]) -> Connection[T]:
        page = listing.page
        nodes = [convert(item) for item in page.items]
        return cls(
            edges=[Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)],
            nodes=nodes,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _count=listing.count,
        )
