"""Request statistics from `conversion_requests`, scoped like the request explorer."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.statistics_reader import check_visible_ids
from portal.adapters.tables import conversion_requests
from portal.adapters.visibility import visible
from portal.domain.access import Viewer
from portal.domain.request_statistics import (
    RequestRecord,
    RequestStatisticsQuery,
    RequestStatisticsRow,
    check_request_query,
    summarise,
)


class RequestStatisticsReader:
    def __init__(self, engine: AsyncEngine, viewer: Viewer) -> None:
        self.engine = engine
        self.viewer = viewer

    async def answer(
        self, query: RequestStatisticsQuery
    ) -> tuple[list[RequestStatisticsRow], RequestStatisticsRow]:
        check_request_query(query)
        r = conversion_requests.c
        start = datetime.combine(query.first_day, time(), UTC)
        end = datetime.combine(query.last_day + timedelta(days=1), time(), UTC)
        conditions = [
            visible(conversion_requests, self.viewer),
            r.created_at >= start,
            r.created_at < end,
        ]
        for column, values in (
            (r.program_id, query.program_ids),
            (r.partner_id, query.partner_ids),
            (r.kind, query.kinds),
            (r.status, query.statuses),
        ):
            if values:
                conditions.append(column.in_(values))
        async with self.engine.connect() as conn:
            await check_visible_ids(conn, self.viewer, query.program_ids, query.partner_ids)
            result = await conn.execute(
                select(
                    r.partner_id, r.program_id, r.status, r.kind, r.created_at, r.decided_at
                ).where(*conditions)
            )
            records = [RequestRecord(*row) for row in result]
        return summarise(query, records)
