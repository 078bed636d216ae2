"""Dashboard statistics: `statistics` (conversions by time and dimensions) and
`requestStatistics` (who files good requests). Expected problems are `userErrors`."""

from __future__ import annotations

import enum
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from portal.adapters.request_statistics_reader import RequestStatisticsReader
from portal.adapters.statistics_reader import StatisticsReader
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError
from portal.domain.request_statistics import (
    RequestGroup,
    RequestStatisticsQuery,
    RequestStatisticsRow,
)
from portal.domain.statistics import (
    DEFAULT_TIME_ZONE,
    MAX_PERIOD_DAYS,
    MAX_ROWS,
    Dimension,
    Measures,
    StatisticsQuery,
    StatisticsRow,
    TimeGrain,
    parse_group_by,
)
from portal.resolvers.support import user_error_type
from portal.schema.context import Context
from portal.schema.ids import decode_typed
from portal.schema.scalars import CurrencyCode
from portal.schema.types.base import Money, to_money
from portal.schema.types.enums import ConversionStatusEnum
from portal.schema.types.partners import Partner
from portal.schema.types.programs import Program
from portal.schema.types.requests import RequestKindEnum, RequestStatusEnum

Info = strawberry.Info[Context, None]

StatisticsErrorCode, StatisticsUserError = user_error_type(
    "Statistics",
    [
        "UNKNOWN_TIME_ZONE",
        "UNKNOWN_CURRENCY",
        "INVALID_PERIOD",
        "PERIOD_TOO_LONG",
        "INVALID_GROUP_BY",
        "TOO_MANY_ROWS",
        "MISSING_EXCHANGE_RATE",
    ],
)
RequestStatisticsErrorCode, RequestStatisticsUserError = user_error_type(
    "RequestStatistics", ["INVALID_PERIOD", "PERIOD_TOO_LONG"]
)


# The domain's time grains and dimensions, as one GraphQL enum.
StatisticsGroupBy = strawberry.enum(
    enum.Enum(  # type: ignore[misc]
        "StatisticsGroupBy", [(m.name, m.value) for m in (*TimeGrain, *Dimension)]
    ),
    description="What statistics rows are grouped by: at most one time grain.",
)


@strawberry.enum(description="What request statistics rows are grouped by.")
class RequestStatisticsGroupBy(enum.Enum):
    PARTNER = "PARTNER"
    PROGRAM = "PROGRAM"


@strawberry.input(description="A period of whole local days, both ends included.")
class DatePeriodInput:
    from_: date = strawberry.field(name="from", description="First day.")
    to: date = strawberry.field(description="Last day (included).")


@strawberry.input(description="Which conversions the statistics count; all given conditions apply.")
class StatisticsFilterInput:
    period: DatePeriodInput = strawberry.field(
        description="Tracking days in `timeZone`, both ends included: at most "
        f"{MAX_PERIOD_DAYS[TimeGrain.DAY]} days grouped by DAY, {MAX_PERIOD_DAYS[None]} "
        "otherwise (longer is PERIOD_TOO_LONG)."
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs (one the viewer may not see is NOT_FOUND)."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners (one the viewer may not see is NOT_FOUND)."
    )
    statuses: list[ConversionStatusEnum] | None = strawberry.field(
        default=None, description="Statuses."
    )
    conversion_targets: list[str] | None = strawberry.field(
        default=None, description="Target keys."
    )
    tracking_categories: list[str] | None = strawberry.field(
        default=None, description="Category keys."
    )
    devices: list[str] | None = strawberry.field(default=None, description="Device classes.")


async def _group_partner(root: Any, info: Info) -> Partner | None:
    """The partner object of a row grouped by PARTNER (of statistics and request statistics)."""
    return await info.context.loaders.load_as("Partner", root.partner_pk, Partner.from_domain)


async def _group_program(root: Any, info: Info) -> Program | None:
    return await info.context.loaders.load_as("Program", root.program_pk, Program.from_domain)


@strawberry.type(description="Count and sums of the conversions of one status in a row.")
class StatisticsMeasures:
    conversion_count: int = strawberry.field(description="Conversions.")
    order_value: Money = strawberry.field(description="Sum of order values, rounded once.")
    commission: Money = strawberry.field(description="Sum of commissions, rounded once.")


def _measures(m: Measures, currency: str) -> StatisticsMeasures:
    return StatisticsMeasures(
        conversion_count=m.count,
        order_value=to_money(m.order_value, currency),
        commission=to_money(m.commission, currency),
    )


@strawberry.type(
    name="StatisticsRow",
    description="One group of conversions: its keys (null where not grouped by them) and its "
    "measures. Amounts are in `currency`: the program currency, or the asked one.",
)
class StatisticsRowType:
    period_start: date | None = strawberry.field(
        description="First local day of the time bucket (null: not grouped by time)."
    )
    period_end: date | None = strawberry.field(description="Last local day of the bucket.")
    tracking_category: str | None = strawberry.field(description="Category key, if grouped.")
    conversion_target: str | None = strawberry.field(description="Target key, if grouped.")
    status: ConversionStatusEnum | None = strawberry.field(description="Status, if grouped.")
    device: str | None = strawberry.field(
        description="Device class, if grouped (null also where none was reported)."
    )
    currency: CurrencyCode = strawberry.field(description="Currency of every amount of the row.")  # type: ignore[valid-type]
    conversion_count: int = strawberry.field(description="Conversions.")
    order_value: Money = strawberry.field(description="Sum of order values, rounded once.")
    commission: Money = strawberry.field(description="Sum of commissions, rounded once.")
    average_order_value: Money | None = strawberry.field(
        description="Order value ÷ conversions, rounded once (null without conversions)."
    )
    confirmed: StatisticsMeasures = strawberry.field(description="The confirmed ones.")
    open: StatisticsMeasures = strawberry.field(description="The open ones.")
    rejected: StatisticsMeasures = strawberry.field(description="The rejected ones.")
    partner_pk: strawberry.Private[int | None]
    program_pk: strawberry.Private[int | None]

    partner: Partner | None = strawberry.field(
        resolver=_group_partner, description="The partner, if grouped by PARTNER."
    )
    program: Program | None = strawberry.field(
        resolver=_group_program, description="The program, if grouped by PROGRAM."
    )

    @classmethod
    def of(cls, row: StatisticsRow) -> StatisticsRowType:
        keys = row.keys
        status = keys.get(Dimension.STATUS)
        return cls(
            period_start=row.period_start,
            period_end=row.period_end,
            tracking_category=keys.get(Dimension.CATEGORY),  # type: ignore[arg-type]
            conversion_target=keys.get(Dimension.TARGET),  # type: ignore[arg-type]
            status=status if isinstance(status, ConversionStatus) else None,  # type: ignore[arg-type]
            device=keys.get(Dimension.DEVICE),  # type: ignore[arg-type]
            currency=row.currency,
            conversion_count=row.total.count,
            order_value=to_money(row.total.order_value, row.currency),
            commission=to_money(row.total.commission, row.currency),
            average_order_value=None
            if row.average_order_value is None
            else to_money(row.average_order_value, row.currency),
            confirmed=_measures(row.by_status[ConversionStatus.CONFIRMED], row.currency),
            open=_measures(row.by_status[ConversionStatus.OPEN], row.currency),
            rejected=_measures(row.by_status[ConversionStatus.REJECTED], row.currency),
            partner_pk=keys.get(Dimension.PARTNER),  # type: ignore[arg-type]
            program_pk=keys.get(Dimension.PROGRAM),  # type: ignore[arg-type]
        )


@strawberry.type(description="The answer of `statistics`.")
class Statistics:
    rows: list[StatisticsRowType] = strawberry.field(  # type: ignore[valid-type]
        description="One row per group, by time bucket, then keys, then currency; at most "
        f"{MAX_ROWS} (more is TOO_MANY_ROWS with the row estimate)."
    )
    totals: list[StatisticsRowType] = strawberry.field(  # type: ignore[valid-type]
        description="The totals of all rows: exactly one with `currency`, else one per program "
        "currency (amounts of different currencies are never added)."
    )
    time_zone: str = strawberry.field(description="The time zone of the day boundaries.")
    user_errors: list[StatisticsUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems; with any, rows and totals are empty."
    )


@strawberry.type(
    name="RequestStatisticsRow",
    description="Requests of one group: by status and kind, and how they fared.",
)
class RequestStatisticsRowType:
    request_count: int = strawberry.field(description="Requests raised in the period.")
    inquired: int = strawberry.field(description="Waiting for a decision.")
    accepted: int = strawberry.field(description="Accepted, not yet processed.")
    processed: int = strawberry.field(description="Accepted and applied.")
    rejected: int = strawberry.field(description="Rejected.")
    failed: int = strawberry.field(description="Accepted, applying failed.")
    withdrawn: int = strawberry.field(description="Withdrawn by the partner.")
    create_new: int = strawberry.field(description="Of kind CREATE_NEW.")
    change_existing: int = strawberry.field(description="Of kind CHANGE_EXISTING.")
    acceptance_rate: Decimal | None = strawberry.field(
        description="Accepted (accepted, processed, failed) ÷ decided, 4 places half-up "
        "(0.7500); null when none was decided."
    )
    median_hours_to_decision: Decimal | None = strawberry.field(
        description="Median of the hours from raising to the decision, 2 places half-up; null "
        "when none was decided."
    )
    partner_pk: strawberry.Private[int | None]
    program_pk: strawberry.Private[int | None]

    partner: Partner | None = strawberry.field(
        resolver=_group_partner, description="The partner, if grouped by PARTNER."
    )
    program: Program | None = strawberry.field(
        resolver=_group_program, description="The program, if grouped by PROGRAM."
    )

    @classmethod
    def of(cls, row: RequestStatisticsRow) -> RequestStatisticsRowType:
        return cls(
            request_count=row.count,
            inquired=row.by_status.get("INQUIRED", 0),
            accepted=row.by_status.get("ACCEPTED", 0),
            processed=row.by_status.get("PROCESSED", 0),
            rejected=row.by_status.get("REJECTED", 0),
            failed=row.by_status.get("FAILED", 0),
            withdrawn=row.by_status.get("WITHDRAWN", 0),
            create_new=row.by_kind.get("CREATE_NEW", 0),
            change_existing=row.by_kind.get("CHANGE_EXISTING", 0),
            acceptance_rate=row.acceptance_rate,
            median_hours_to_decision=row.median_hours_to_decision,
            partner_pk=row.partner_id,
            program_pk=row.program_id,
        )


@strawberry.type(description="The answer of `requestStatistics`.")
class RequestStatistics:
    rows: list[RequestStatisticsRowType] = strawberry.field(  # type: ignore[valid-type]
        description="One row per group (partner, program), by partner then program id."
    )
    totals: RequestStatisticsRowType | None = strawberry.field(  # type: ignore[valid-type]
        description="All requests of the filter together (null with user errors)."
    )
    user_errors: list[RequestStatisticsUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems; with any, rows are empty."
    )


@strawberry.input(description="Which requests `requestStatistics` counts.")
class RequestStatisticsFilterInput:
    period: DatePeriodInput = strawberry.field(
        description="Days (UTC) the requests were raised on, both ends included; at most "
        f"{MAX_PERIOD_DAYS[None]} days."
    )
    program_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Programs (one the viewer may not see is NOT_FOUND)."
    )
    partner_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Partners (one the viewer may not see is NOT_FOUND)."
    )
    kinds: list[RequestKindEnum] | None = strawberry.field(default=None, description="Kinds.")  # type: ignore[valid-type]
    statuses: list[RequestStatusEnum] | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Statuses."
    )


def _ids(ids: list[strawberry.ID] | None, kind: str, name: str) -> tuple[int, ...]:
    return tuple(decode_typed(i, kind, ("filter", name, str(n))) for n, i in enumerate(ids or ()))


def _statistics_query(
    filter: StatisticsFilterInput,
    group_by: list[StatisticsGroupBy] | None,
    currency: str | None,
    time_zone: str | None,
) -> StatisticsQuery:
    grain, dimensions = parse_group_by([g.value for g in group_by or ()])
    return StatisticsQuery(
        first_day=filter.period.from_,
        last_day=filter.period.to,
        time_zone=DEFAULT_TIME_ZONE if time_zone is None else time_zone,
        grain=grain,
        dimensions=dimensions,
        program_ids=_ids(filter.program_ids, "Program", "programIds"),
        partner_ids=_ids(filter.partner_ids, "Partner", "partnerIds"),
        statuses=tuple(ConversionStatus(s.value) for s in filter.statuses or ()),
        targets=tuple(filter.conversion_targets or ()),
        categories=tuple(filter.tracking_categories or ()),
        devices=tuple(filter.devices or ()),
        currency=currency,
    )


def _errors(error: DomainError, error_type: Any, code_enum: Any) -> list[Any]:
    """User errors name the argument path (`["filter", "period"]`), not `input`."""
    return [
        error_type(
            field=list(error.field) or None, message=error.message, code=code_enum[error.code]
        )
    ]


@strawberry.type
class StatisticsQueries:
    @strawberry.field(
        description="Conversions counted and summed by time (local days of `timeZone`) and "
        "dimensions, over exactly the conversions the viewer may see in the lists."
    )
    async def statistics(
        self,
        info: Info,
        filter: Annotated[
            StatisticsFilterInput, strawberry.argument(description="The period and conditions.")
        ],
        group_by: Annotated[
            list[StatisticsGroupBy] | None,
            strawberry.argument(
                description="Any of PARTNER, PROGRAM, CATEGORY, TARGET, STATUS, DEVICE with at "
                "most one of DAY, WEEK (ISO, from Monday), MONTH; none: totals only."
            ),
        ] = None,
        currency: Annotated[
            CurrencyCode | None,  # type: ignore[valid-type]
            strawberry.argument(
                description="Convert every amount into this currency at the ECB rate of the "
                "conversion's tracking day (UTC; the latest rate of the 7 days before when that "
                "day has none), summed exactly and rounded once per cell. Without it, rows are "
                "per program currency."
            ),
        ] = None,
        time_zone: Annotated[
            str | None,
            strawberry.argument(
                description="IANA time zone of the day boundaries (default UTC): in "
                "Europe/Berlin a sale at 23:30 UTC counts on the next day."
            ),
        ] = None,
    ) -> Statistics:
        viewer = info.context.require_viewer()
        zone = DEFAULT_TIME_ZONE if time_zone is None else time_zone
        try:
            query = _statistics_query(filter, group_by, currency, time_zone)
            answer = await StatisticsReader(info.context.engine, viewer).statistics(query)
        except DomainError as error:
            return Statistics(
                rows=[],
                totals=[],
                time_zone=zone,
                user_errors=_errors(error, StatisticsUserError, StatisticsErrorCode),
            )
        return Statistics(
            rows=[StatisticsRowType.of(r) for r in answer.rows],
            totals=[StatisticsRowType.of(r) for r in answer.totals],
            time_zone=zone,
            user_errors=[],
        )

    @strawberry.field(
        description="Conversion requests by status and kind, the acceptance rate and the "
        "median time to a decision, per partner and/or program: who files good requests."
    )
    async def request_statistics(
        self,
        info: Info,
        filter: Annotated[
            RequestStatisticsFilterInput,
            strawberry.argument(description="The period and conditions."),
        ],
        group_by: Annotated[
            list[RequestStatisticsGroupBy] | None,
            strawberry.argument(description="PARTNER and/or PROGRAM; none: totals only."),
        ] = None,
    ) -> RequestStatistics:
        viewer = info.context.require_viewer()
        try:
            query = RequestStatisticsQuery(
                first_day=filter.period.from_,
                last_day=filter.period.to,
                groups=tuple(dict.fromkeys(RequestGroup(g.value) for g in group_by or ())),
                program_ids=_ids(filter.program_ids, "Program", "programIds"),
                partner_ids=_ids(filter.partner_ids, "Partner", "partnerIds"),
                kinds=tuple(k.value for k in filter.kinds or ()),
                statuses=tuple(s.value for s in filter.statuses or ()),
            )
            rows, totals = await RequestStatisticsReader(info.context.engine, viewer).answer(query)
        except DomainError as error:
            return RequestStatistics(
                rows=[],
                totals=None,
                user_errors=_errors(error, RequestStatisticsUserError, RequestStatisticsErrorCode),
            )
        return RequestStatistics(
            rows=[RequestStatisticsRowType.of(r) for r in rows],
            totals=RequestStatisticsRowType.of(totals),
            user_errors=[],
        )
