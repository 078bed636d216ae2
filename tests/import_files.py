"""Building request files (CSV and XLSX) for the import tests, uploading them through the
GraphQL multipart request, following the job, and reading the files the portal returns."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Api

IMPORT = """
mutation($input: ImportConversionRequestsInput!) {
  importConversionRequests(input: $input) {
    importJob { id status dryRun allOrNothing progress { processed total } }
    userErrors { field code message }
  }
}"""
JOB = """query($id: ID!) { node(id: $id) { ... on ImportJob {
  id status dryRun allOrNothing createdCount errorCount errorReportUrl error
  progress { processed total }
  errors(first: 100) { totalCount nodes { row column value code message } } } } }"""
REQUESTS = """{ conversionRequests(first: 100) { nodes {
  kind comment requested { orderId conversionTarget trackingCategory trackingTime orderValue
    currency status commission }
  commission { amount currency } partner { name } } } }"""

Rows = Sequence[Sequence[Any]]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- building files --------------------------------------------------------------------------


def csv_bytes(
    header: Sequence[str],
    rows: Rows,
    *,
    delimiter: str = ",",
    bom: bool = False,
    newline: str = "\n",
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows([["" if v is None else str(v) for v in row] for row in rows])
    return (("\ufeff" if bom else "") + out.getvalue()).encode(encoding)


def xlsx_bytes(
    header: Sequence[Any], rows: Rows, edit: Callable[[Any], None] | None = None
) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    if edit is not None:
        edit(sheet)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_sheet_xml(content: bytes, edit: Any) -> bytes:
    """The workbook with its first sheet's XML changed by `edit(xml) -> xml`."""
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = edit(data)
            target.writestr(item, data)
    return buffer.getvalue()


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def read_xlsx(content: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    return [[c.value for c in row] for row in sheet.iter_rows()]


# -- the API ---------------------------------------------------------------------------------


async def upload(api: Api, token: str, name: str, content: bytes, **options: Any) -> dict[str, Any]:
    """The importConversionRequests payload (top-level errors fail the test)."""
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **options}}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, content, "application/octet-stream")},
        headers=auth(token),
    )
    body = response.json()
    assert body.get("errors") is None, body
    return body["data"]["importConversionRequests"]  # type: ignore[no-any-return]


async def job(api: Api, token: str, job_id: str) -> dict[str, Any] | None:
    return (await api.data(JOB, {"id": job_id}, token=token))["node"]  # type: ignore[no-any-return]


async def finished(api: Api, token: str, started: dict[str, Any]) -> dict[str, Any]:
    """Waits for the queued import and answers the job as its author sees it."""
    assert started["userErrors"] == [], started
    await api.drain_jobs()
    found = await job(api, token, started["importJob"]["id"])
    assert found is not None
    assert found["status"] == "SUCCEEDED", found
    return found


async def run(api: Api, token: str, name: str, content: bytes, **options: Any) -> dict[str, Any]:
    return await finished(api, token, await upload(api, token, name, content, **options))


def cell_errors(found: dict[str, Any]) -> list[tuple[int, str | None, str | None, str]]:
    return [(e["row"], e["column"], e["value"], e["code"]) for e in found["errors"]["nodes"]]


async def requests_of(api: Api, token: str) -> list[dict[str, Any]]:
    nodes = (await api.data(REQUESTS, token=token))["conversionRequests"]["nodes"]
    return sorted(nodes, key=lambda n: str(n["requested"]["orderId"] or ""))


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def download(api: Api, token: str, url: str) -> bytes:
    response = await api.client.get(url, headers=auth(token))
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.content


def marked_cells(report: bytes) -> dict[tuple[int, str], str]:
    """The cells an XLSX error report fills, as (file row, column) → that row's `errors`."""
    sheet = load_workbook(io.BytesIO(report)).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[0] == "row" and header[-1] == "errors", header
    marked: dict[tuple[int, str], str] = {}
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.fill is not None and cell.fill.fill_type == "solid":
                marked[(int(row[0].value), header[cell.column - 1])] = str(row[-1].value)
    return marked


def drop_downs(book: Any) -> dict[str, list[str]]:
    """Column name → the values its drop-down list offers (they live on a hidden sheet)."""
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    found: dict[str, list[str]] = {}
    for validation in sheet.data_validations.dataValidation:
        assert validation.type == "list"
        sheet_name, cells = validation.formula1.split("!")
        assert book[sheet_name].sheet_state == "hidden"
        values = [c.value for row in book[sheet_name][cells.replace("$", "")] for c in row]
        for rng in str(validation.sqref).split():
            found[header[sheet[rng.split(":")[0]].column - 1]] = values
    return found


async def start_import_of(
    engine: AsyncEngine, settings: Any, who: str, content: bytes, queue: Any = None
) -> int:
    """Starts an import of a CSV file through the service, as `who` of the test world (no
    HTTP: for tests that run the job themselves, or with real workers)."""
    from portal.adapters.unit_of_work import UnitOfWork
    from portal.services import imports
    from tests import request_factories as rf

    path = settings.data_dir / f"upload-{who}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    async with UnitOfWork(engine, queue=queue) as uow:
        job_id = await imports.start_import(
            uow,
            await rf.viewer(engine, who),
            settings,
            path,
            "requests.csv",
            imports.ImportOptions(),
            imports.ImportLimits(max_bytes=10**8, max_rows=10**6),
        )
        await uow.commit()
    return job_id
