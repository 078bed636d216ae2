"""The arguments every list field shares: one spelling, one description, for the whole schema."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.schema.types.enums import SortDirectionEnum

First = Annotated[
    int | None, strawberry.argument(description="Return the first n objects (1–100, default 50).")
]
After = Annotated[str | None, strawberry.argument(description="Return objects after this cursor.")]
Last = Annotated[int | None, strawberry.argument(description="Return the last n objects (1–100).")]
Before = Annotated[
    str | None, strawberry.argument(description="Return objects before this cursor.")
]
FilterArg = strawberry.argument(description="Conditions; all given ones apply.")
OrderArg = strawberry.argument(description="Ordering; the id breaks ties, so cursors are stable.")
Direction = Annotated[
    SortDirectionEnum | None, strawberry.argument(description="Sort direction (default by list).")
]
