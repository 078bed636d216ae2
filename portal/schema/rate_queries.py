"""Reference rate queries: `exchangeRates` (the stored rates) and `exchangeRate` (the rate
that converts one currency into another on a day, with the fallback of SPEC §3)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from portal.adapters.ecb import BASE_CURRENCY
from portal.adapters.pagination import PageRequest
from portal.adapters.rate_reader import RateFilter, RateReader
from portal.adapters.reader import SortDirection
from portal.schema.arguments import After, Before, First, Last
from portal.schema.context import Context
from portal.schema.errors import as_bad_input
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Connection
from portal.schema.types.enums import SortDirectionEnum
from portal.schema.types.rates import ConvertedExchangeRate, ExchangeRate

Info = strawberry.Info[Context, None]


@strawberry.type
class RatesQuery:
    @strawberry.field(
        description="The stored daily reference rates (reference data: every signed-in user "
        "sees them), newest day first by default, currencies A–Z within a day."
    )
    async def exchange_rates(
        self,
        info: Info,
        currency: Annotated[
            CurrencyCode | None,
            strawberry.argument(description="Only the rates of this currency."),
        ] = None,
        from_: Annotated[
            date | None, strawberry.argument(name="from", description="Days on or after this one.")
        ] = None,
        to: Annotated[
            date | None, strawberry.argument(description="Days on or before this one.")
        ] = None,
        base: Annotated[
            CurrencyCode | None,
            strawberry.argument(description="The base currency (default EUR)."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        direction: Annotated[
            SortDirectionEnum | None,  # type: ignore[valid-type]
            strawberry.argument(description="Order of the days (default DESC: newest first)."),
        ] = None,
    ) -> Connection[ExchangeRate]:
        info.context.require_viewer()
        rate_filter = RateFilter(
            base=base or BASE_CURRENCY,
            currencies=(currency,) if currency else (),
            first_day=from_,
            last_day=to,
        )
        with as_bad_input():
            page = PageRequest(first, after, last, before)
            listing = await RateReader(info.context.engine).list_rates(
                rate_filter, direction or SortDirection.DESC, page
            )
        return Connection.of(listing, ExchangeRate.from_domain)  # type: ignore[arg-type]

    @strawberry.field(
        description="The rate converting `base` into `quote` on `day`: that day's reference "
        "rates, else the latest earlier ones at most 7 days older; none within 7 days is a "
        "BAD_USER_INPUT error (reason MISSING_EXCHANGE_RATE) naming the currency and the day."
    )
    async def exchange_rate(
        self,
        info: Info,
        base: Annotated[CurrencyCode, strawberry.argument(description="Converted from.")],
        quote: Annotated[CurrencyCode, strawberry.argument(description="Converted to.")],
        day: Annotated[date, strawberry.argument(description="The day of the conversion.")],
    ) -> ConvertedExchangeRate:
        info.context.require_viewer()
        with as_bad_input():
            table = await RateReader(info.context.engine).table(day, BASE_CURRENCY)
            rate, rate_day = table.cross_rate(base, quote, day)
        return ConvertedExchangeRate(
            base=base, quote=quote, day=day, rate=rate.normalize(), rate_day=rate_day
        )
