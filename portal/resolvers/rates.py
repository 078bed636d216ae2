"""The `importExchangeRates` mutation: an ECB rate file sent as a GraphQL multipart upload."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from portal.adapters import ecb
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.errors import DomainError
from portal.resolvers.support import MUTATION_INPUT, Info, run_in_uow, user_error_type
from portal.schema.scalars import CurrencyCode
from portal.services.rates import ImportedRates, import_exchange_rates, require_rate_importer

_FILE = ("file",)

ImportExchangeRatesErrorCode, ImportExchangeRatesUserError = user_error_type(
    "ImportExchangeRates",
    [
        "EMPTY_FILE",
        "FILE_TOO_LARGE",
        "UNKNOWN_CURRENCY",
        "INVALID_RATE_FILE",
        "INVALID_EXCHANGE_RATE",
        "CONFLICTING_EXCHANGE_RATE",
    ],
)


@strawberry.input(description="An ECB euro reference rate file to import.")
class ImportExchangeRatesInput:
    file: Upload = strawberry.field(
        description="The file, sent per the GraphQL multipart request spec: the ECB XML "
        "(eurofxref-daily.xml, eurofxref-hist.xml, …) or CSV (eurofxref.csv, "
        "eurofxref-hist.csv) format, told by the content; at most 32 MiB."
    )


@strawberry.type(description="What an import of reference rates stored.")
class ImportExchangeRatesPayload:
    imported_count: int | None = strawberry.field(
        description="Rates in the file (rates of skipped currencies not counted); importing "
        "the same file again answers the same count and stores no duplicate."
    )
    changed_count: int | None = strawberry.field(
        description="Rates that were new or differed from the stored ones (0 on a re-import)."
    )
    first_day: date | None = strawberry.field(description="The earliest day in the file.")
    last_day: date | None = strawberry.field(description="The latest day in the file.")
    currencies: list[CurrencyCode] | None = strawberry.field(
        description="The currencies with rates in the file, A–Z."
    )
    skipped_currencies: list[str] | None = strawberry.field(
        description="Codes in the file that are no ISO 4217 currency in use (withdrawn ones "
        "such as CYP in the historic files); their rates were not imported."
    )
    user_errors: list[ImportExchangeRatesUserError] = strawberry.field(  # type: ignore[valid-type]
        description="Problems; when there is one, nothing was stored."
    )

    @classmethod
    def of(cls, imported: ImportedRates | None, errors: list[object]) -> ImportExchangeRatesPayload:
        if imported is None:
            return cls(
                imported_count=None,
                changed_count=None,
                first_day=None,
                last_day=None,
                currencies=None,
                skipped_currencies=None,
                user_errors=errors,
            )
        return cls(
            imported_count=imported.count,
            changed_count=imported.changed_count,
            first_day=imported.first_day,
            last_day=imported.last_day,
            currencies=[CurrencyCode(c) for c in imported.currencies],
            skipped_currencies=list(imported.skipped_currencies),
            user_errors=errors,
        )


async def read_upload(upload: object) -> tuple[bytes, str | None]:
    """The content of an upload, reading at most one byte more than a rate file may have, so
    that a huge upload is refused without being read into memory."""
    if not isinstance(upload, UploadFile):
        raise DomainError(
            "INVALID_RATE_FILE",
            "send the file as an upload (GraphQL multipart request), not as a value",
            _FILE,
        )
    limit = ecb.MAX_FILE_BYTES  # read at call time: tests lower it
    content = await upload.read(limit + 1)
    if len(content) > limit:
        name = f"{upload.filename}, " if upload.filename else ""
        raise DomainError(
            "FILE_TOO_LARGE",
            f"{name}the file has more than {limit} bytes, at most {limit} are accepted",
            _FILE,
        )
    return content, upload.filename


@strawberry.type
class RatesMutations:
    @strawberry.mutation(
        description="Import the ECB euro reference rates from a file (admins). Rates of a "
        "currency and day already stored are replaced when they differ; a file with any problem "
        "stores nothing."
    )
    async def import_exchange_rates(
        self, info: Info, input: Annotated[ImportExchangeRatesInput, MUTATION_INPUT]
    ) -> ImportExchangeRatesPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ImportedRates:
            require_rate_importer(viewer)
            content, filename = await read_upload(input.file)
            return await import_exchange_rates(uow, viewer, content, filename)

        try:
            imported, errors = await run_in_uow(
                info, ImportExchangeRatesUserError, ImportExchangeRatesErrorCode, use_case
            )
        finally:
            # strawberry's view never closes the parsed form: release the spooled temporary
            # file now rather than at garbage collection (a ResourceWarning).
            if isinstance(input.file, UploadFile):
                await input.file.close()
        return ImportExchangeRatesPayload.of(imported, errors)
