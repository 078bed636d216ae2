"""Job functions. Each is a thin adapter: ids in, a service call, state in the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from portal.jobs.context import JobContext
from portal.observability.jobs import observed_job


async def process_conversion_request(ctx: JobContext, request_id: int) -> str:
    from portal.services.request_processing import process_request

    return await process_request(ctx.engine, request_id)


async def run_export(ctx: JobContext, job_id: int) -> str:
    from portal.services.exports import run_export as run

    return await run(ctx.engine, ctx.settings, job_id)


async def run_import(ctx: JobContext, job_id: int) -> str:
    from portal.services.imports import run_import as run

    return await run(ctx.engine, ctx.settings, job_id)


async def run_sales_validation_import(ctx: JobContext, job_id: int) -> str:
    from portal.services.sales_validation_files import run_validation_import

    return await run_validation_import(ctx.engine, ctx.settings, job_id)


async def run_billing(ctx: JobContext, job_id: int) -> str:
    from portal.services.billing_runs import run_billing as run

    return await run(ctx.engine, job_id)


JOBS: dict[str, Callable[..., Awaitable[Any]]] = {
    name: observed_job(name, job)
    for name, job in (
        ("run_import", run_import),
        ("process_conversion_request", process_conversion_request),
        ("run_export", run_export),
        ("run_billing", run_billing),
        ("run_sales_validation_import", run_sales_validation_import),
    )
}
