"""Reference exchange rates as GraphQL types."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import strawberry

from portal.domain.exchange_rates import ReferenceRate
from portal.schema.scalars import CurrencyCode


@strawberry.type(description="A daily reference rate: units of `currency` for one unit of `base`.")
class ExchangeRate:
    base: CurrencyCode = strawberry.field(description="The base currency (EUR for ECB rates).")
    currency: CurrencyCode = strawberry.field(description="The quoted currency.")
    day: date = strawberry.field(description="The day the rate was published for.")
    rate: Decimal = strawberry.field(
        description='Units of `currency` for one unit of `base`, as published (e.g. "1.0823").'
    )

    @classmethod
    def from_domain(cls, rate: ReferenceRate) -> ExchangeRate:
        return cls(
            base=CurrencyCode(rate.base),
            currency=CurrencyCode(rate.currency),
            day=rate.day,
            rate=rate.rate,
        )


@strawberry.type(description="The rate that converts one currency into another on a day.")
class ConvertedExchangeRate:
    base: CurrencyCode = strawberry.field(description="The currency converted from.")
    quote: CurrencyCode = strawberry.field(description="The currency converted to.")
    day: date = strawberry.field(description="The day asked for.")
    rate: Decimal = strawberry.field(
        description="Units of `quote` for one unit of `base`; a cross rate (neither currency the "
        "reference base) is computed through the base with 34 significant digits."
    )
    rate_day: date = strawberry.field(
        description="The day of the reference rates used: `day` itself, or the latest earlier "
        "day with rates at most 7 days before it (weekends, holidays); for a cross rate the "
        "older of the two."
    )
