"""File downloads: plain GETs behind the same authentication and visibility as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from portal.adapters.reader import Reader
from portal.adapters.spreadsheets import TableFormat
from portal.config import Settings
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.domain.jobs import EXPORT_KINDS, Job, JobKind, JobStatus
from portal.global_ids import decode_typed
from portal.schema.scalars import parse_datetime
from portal.web.auth import RequestAuth

Endpoint = Callable[[Request], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _not_found() -> Response:
    return _error(404, "NOT_FOUND", "no such file")


def _viewer(request: Request) -> Viewer | None:
    auth: RequestAuth | None = request.scope.get("portal.auth")
    if auth is None or auth.authenticated is None:
        return None
    return auth.authenticated.user.as_viewer()


def _unauthenticated() -> Response:
    return _error(401, "UNAUTHENTICATED", "authenticate to download")


async def _visible_job(engine: AsyncEngine, viewer: Viewer, raw_id: str, kind: str) -> Job | None:
    try:
        job_id = decode_typed(raw_id, kind)
    except DomainError:
        return None
    (found,) = await Reader(engine, viewer).get_many(kind, [job_id])
    return found


def export_download(engine: AsyncEngine) -> Endpoint:
    async def download(request: Request) -> Response:
        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        job = await _visible_job(engine, viewer, request.path_params["job_id"], "ExportJob")
        if job is None or job.kind not in EXPORT_KINDS:
            return _not_found()
        if job.status is not JobStatus.SUCCEEDED or not job.file_path:
            return _error(409, "NOT_READY", f"the export is {job.status.value}")
        fmt = TableFormat(job.format or "CSV")
        return FileResponse(
            job.file_path,
            media_type=fmt.media_type,
            filename=f"{job.kind.value.lower()}-{job.id}.{fmt.extension}",
        )

    return download


def import_result_report(engine: AsyncEngine, settings: Settings) -> Endpoint:
    """`/files/imports/<import job id>/results.<csv|xlsx>`: a sales validation import's result
    report, every row with its outcome. Only the job's author sees it (404 for anybody else)."""

    async def download(request: Request) -> Response:
        from portal.services.sales_validation_files import report_path

        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        job = await _visible_job(engine, viewer, request.path_params["job_id"], "ImportJob")
        if job is None or job.kind is not JobKind.IMPORT_SALES_VALIDATION:
            return _not_found()
        fmt = TableFormat.XLSX if request.path_params["format"] == "xlsx" else TableFormat.CSV
        path = report_path(settings, job.id, fmt)
        ready = Path(path).exists()  # noqa: ASYNC240 - one stat of a local file
        if job.status is not JobStatus.SUCCEEDED or not ready:
            return _error(409, "NOT_READY", "the import has no result report (yet)")
        return FileResponse(
            path,
            media_type=fmt.media_type,
            filename=f"sales-validation-{job.id}-results.{fmt.extension}",
        )

    return download


def import_error_report(engine: AsyncEngine, settings: Settings) -> Endpoint:
    async def download(request: Request) -> Response:
        from portal.services.import_reports import report_path

        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        job = await _visible_job(engine, viewer, request.path_params["job_id"], "ImportJob")
        if job is None or job.kind is not JobKind.IMPORT_CONVERSION_REQUESTS:
            return _not_found()
        fmt = TableFormat.XLSX if request.path_params["format"] == "xlsx" else TableFormat.CSV
        path = report_path(settings, job.id, fmt)
        ready = Path(path).exists()  # noqa: ASYNC240 - one stat of a local file
        if job.status is not JobStatus.SUCCEEDED or not ready:
            return _error(409, "NOT_READY", "the import has no error report (yet)")
        return FileResponse(
            path, media_type=fmt.media_type, filename=f"import-{job.id}-errors.{fmt.extension}"
        )

    return download


def template_download(engine: AsyncEngine) -> Endpoint:
    async def download(request: Request) -> Response:
        from portal.services.templates import template_columns, template_csv, template_xlsx

        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        columns = await template_columns(engine, viewer)
        if request.path_params["format"] == "xlsx":
            body, fmt = template_xlsx(columns), TableFormat.XLSX
        else:
            body, fmt = template_csv(columns), TableFormat.CSV
        return Response(
            body,
            media_type=fmt.media_type,
            headers={
                "Content-Disposition": (
                    f'attachment; filename="conversion-requests-template.{fmt.extension}"'
                )
            },
        )

    return download


def validation_template_download() -> Endpoint:
    """`/files/templates/sales-validation.<csv|xlsx>`: the sales validation file template."""

    async def download(request: Request) -> Response:
        from portal.services.sales_validation_files import template_columns
        from portal.services.templates import template_csv, template_xlsx

        if _viewer(request) is None:
            return _unauthenticated()
        if request.path_params["format"] == "xlsx":
            body, fmt = template_xlsx(template_columns(), "sales validation"), TableFormat.XLSX
        else:
            body, fmt = template_csv(template_columns()), TableFormat.CSV
        return Response(
            body,
            media_type=fmt.media_type,
            headers={
                "Content-Disposition": (
                    f'attachment; filename="sales-validation-template.{fmt.extension}"'
                )
            },
        )

    return download


def cart_mapping_download(engine: AsyncEngine) -> Endpoint:
    """`/files/cart-mappings/<program id>.<csv|xlsx>[?at=<ISO date-time>]`: the version of the
    program's cart mapping in effect at `at` (default now) as a file, or its header alone (the
    template) when none is. 404 for partners, other advertisers and unknown programs."""

    async def download(request: Request) -> Response:
        from portal.adapters.unit_of_work import UnitOfWork
        from portal.services.cart_mapping_files import export_cart_mapping

        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        raw_at = request.query_params.get("at")
        try:
            at = parse_datetime(raw_at) if raw_at else datetime.now(UTC)
        except ValueError as error:
            return _error(400, "INVALID_DATETIME", f"`at`: {error}")
        fmt = TableFormat.XLSX if request.path_params["format"] == "xlsx" else TableFormat.CSV
        try:
            program_id = decode_typed(request.path_params["program_id"], "Program")
            async with UnitOfWork(engine) as uow:
                body = await export_cart_mapping(uow, viewer, program_id, at, fmt)
        except DomainError as error:
            if error.code == "INVALID_DATETIME":
                return _error(400, error.code, error.message)
            return _not_found()
        return Response(
            body,
            media_type=fmt.media_type,
            headers={"Content-Disposition": f'attachment; filename="cart-mapping.{fmt.extension}"'},
        )

    return download


# -- order books and the tracking difference (issue 12) --------------------------------------


def _table_response(body: bytes, fmt: TableFormat, name: str) -> Response:
    return Response(
        body,
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.extension}"'},
    )


def order_book_template_download(engine: AsyncEngine) -> Endpoint:
    """`/files/order-books/template.<csv|xlsx>`: the order-book file's header row."""

    async def download(request: Request) -> Response:
        from portal.services.order_book_files import template_bytes

        if _viewer(request) is None:
            return _unauthenticated()
        fmt = TableFormat.XLSX if request.path_params["format"] == "xlsx" else TableFormat.CSV
        return _table_response(template_bytes(fmt), fmt, "order-book-template")

    return download


def tracking_difference_download(engine: AsyncEngine) -> Endpoint:
    """`/files/tracking-difference/<program id>/<first day>_<last day>.<csv|xlsx>`: the whole
    tracking-difference report of the program's book of that period. 404 for partners, other
    advertisers, unknown programs and periods without a book; 400 for a malformed period.

    Deprecated: the file is written while the request waits, which a large book makes long.
    `exportTrackingDifference` writes the same file (`write_report`) in an export job; this URL
    stays for the clients that use it."""

    async def download(request: Request) -> Response:
        from datetime import date

        from portal.adapters.unit_of_work import UnitOfWork
        from portal.domain.order_books import Period, check_period
        from portal.services.order_book_files import report_bytes

        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        fmt = TableFormat.XLSX if request.path_params["format"] == "xlsx" else TableFormat.CSV
        first, _, last = request.path_params["period"].partition("_")
        try:
            period = check_period(Period(date.fromisoformat(first), date.fromisoformat(last)))
        except ValueError:
            return _error(400, "INVALID_PERIOD", "the period is <first day>_<last day>, ISO dates")
        except DomainError as error:
            return _error(400, error.code, error.message)
        try:
            program_id = decode_typed(request.path_params["program_id"], "Program")
            async with UnitOfWork(engine, writes=False) as uow:
                body = await report_bytes(uow, viewer, program_id, period, fmt)
        except DomainError:
            return _not_found()
        return _table_response(body, fmt, "tracking-difference")

    return download


# -- billing documents (issue 11) ------------------------------------------------------------

BILLING_PATH = "/files/billing/"


def billing_download(engine: AsyncEngine) -> Endpoint:
    """GET /files/billing/{kind}/{id}.{ext}: a confirmed payout entry's credit note
    (`payout-entries/<id>.pdf`), an advertiser invoice (`advertiser-invoices/<id>.pdf`), a run's
    entries (`runs/<id>.csv|.xlsx`) or its SEPA file (`runs/<id>.xml`). Not visible: 404; a
    document that cannot be made (not confirmed, no EUR entry …): 409 with a code."""
    from datetime import UTC, datetime

    from portal.domain.billing.document import BankAccount
    from portal.domain.errors import ValidationFailed
    from portal.services import billing_documents as documents
    from portal.web import billing_files

    kinds = {
        ("payout-entries", "pdf"): "PayoutEntry",
        ("advertiser-invoices", "pdf"): "AdvertiserInvoice",
        ("runs", "csv"): "BillingRun",
        ("runs", "xlsx"): "BillingRun",
        ("runs", "xml"): "BillingRun",
    }

    async def download(request: Request) -> Response:
        viewer = _viewer(request)
        if viewer is None:
            return _unauthenticated()
        kind, ext = request.path_params["kind"], request.path_params["ext"]
        node = kinds.get((kind, ext))
        if node is None:
            return _not_found()
        try:
            pk = decode_typed(request.path_params["id"], node)
        except DomainError:
            return _not_found()
        try:
            if node == "PayoutEntry":
                document = await documents.credit_note(engine, viewer, pk)
                if document is None:
                    return _not_found()
                return await billing_files.document_response(document)
            if node == "AdvertiserInvoice":
                document = await documents.invoice(engine, viewer, pk)
                if document is None:
                    return _not_found()
                return await billing_files.document_response(document)
            found = await documents.run_sheet(engine, viewer, pk, sepa=ext == "xml")
            if found is None:
                return _not_found()
            rows, issuer = found
            run_id = request.path_params["id"]
            if ext != "xml":
                return await billing_files.run_sheet_response(
                    rows, TableFormat(ext.upper()), run_id
                )
            if not issuer.iban:
                return billing_files.refusal(
                    DomainError(
                        "SEPA_DEBTOR_MISSING",
                        "the issuer has no IBAN to pay from (updateBillingIssuer)",
                        ("iban",),
                    )
                )
            debtor = BankAccount(issuer.legal_name, issuer.iban, issuer.bic)
            return await billing_files.sepa_response(rows, debtor, datetime.now(UTC).date(), run_id)
        except (DomainError, ValidationFailed) as error:
            return billing_files.refusal(error)

    return download


def billing_url(kind: str, gid: str, ext: str) -> str:
    return f"{BILLING_PATH}{kind}/{gid}.{ext}"
