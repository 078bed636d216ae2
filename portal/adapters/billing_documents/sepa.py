"""A SEPA credit transfer file (ISO 20022 pain.001.001.03, with `sepaxml`) that pays a run's
confirmed EUR payout entries from the network's account: one transfer per entry, its gross
amount, the entry number as end-to-end id and its payment reference as remittance text.

The entries are checked first (`check_sepa_payable`: EUR only, an IBAN, confirmed, a positive
amount), all problems reported at once as coded `DomainError`s; the file is then validated
against the pain.001 schema sepaxml ships (parsed once per process), so a bank never gets a
file it would reject for its form. Names and texts are transliterated to the SEPA character set
by sepaxml."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import sepaxml  # type: ignore[import-untyped]
from sepaxml import SepaTransfer

from portal.domain.billing.document import (
    SEPA_CURRENCY,
    BankAccount,
    RunSheetRow,
    check_sepa_payable,
)
from portal.domain.errors import DomainError

SCHEMA = "pain.001.001.03"
MEDIA_TYPE = "application/xml"
# SEPA's identifiers (message id, end-to-end id) take at most 35 characters of this set.
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9/\-?:().,'+ ]")


def sepa_id(text: str) -> str:
    return _ID_CHARACTERS.sub("-", text)[:35]


def compact_iban(iban: str) -> str:
    """ "DE89 3704 0044 0532 0130 00" → "DE89370400440532013000" (the form the file holds)."""
    return re.sub(r"\s+", "", iban).upper()


class _Transfer(SepaTransfer):  # type: ignore[misc]
    """sepaxml's transfer with a message id of our choosing (sepaxml draws a random one)."""

    def __init__(self, config: dict[str, Any], message_id: str | None) -> None:
        self._message_id = message_id
        super().__init__(config, schema=SCHEMA)

    def _create_header(self) -> None:
        if self._message_id:
            self.msg_id = self._message_id
        super()._create_header()


def render_sepa(
    rows: Sequence[RunSheetRow],
    debtor: BankAccount,
    execution_date: date,
    *,
    message_id: str | None = None,
) -> bytes:
    """The pain.001 XML paying `rows` (confirmed EUR entries with an IBAN) from `debtor`'s
    account on `execution_date`. Raises `ValidationFailed` naming every entry it cannot pay,
    `DomainError` SEPA_DEBTOR_IBAN_MISSING / SEPA_FILE_INVALID."""
    if not debtor.iban.strip():
        raise DomainError(
            "SEPA_DEBTOR_IBAN_MISSING",
            "the network's account for payouts has no IBAN",
            ("debtor", "iban"),
        )
    check_sepa_payable(rows)
    config: dict[str, Any] = {
        "name": debtor.holder,
        "IBAN": compact_iban(debtor.iban),
        "batch": True,
        "currency": SEPA_CURRENCY,
    }
    if debtor.bic:
        config["BIC"] = debtor.bic.strip().upper()
    transfer = _Transfer(config, sepa_id(message_id) if message_id else None)
    for row in rows:
        assert row.account is not None  # check_sepa_payable refused entries without one
        payment: dict[str, Any] = {
            "name": row.account.holder or row.partner,
            "IBAN": compact_iban(row.account.iban),
            # Cents, exactly: the gross is a final EUR amount (two places at most).
            "amount": int(row.gross.scaleb(2)),
            "execution_date": execution_date,
            "description": row.payment_reference or row.number,
            "endtoend_id": sepa_id(row.number),
        }
        if row.account.bic:
            payment["BIC"] = row.account.bic.strip().upper()
        transfer.add_payment(payment)
    body = bytes(transfer.export(validate=False))
    problem = next(iter(_schema().iter_errors(body.decode())), None)
    if problem is not None:
        raise DomainError(
            "SEPA_FILE_INVALID",
            f"the SEPA file does not meet {SCHEMA}: check the IBANs and BICs of the entries "
            f"({problem.reason} at {problem.path})",
            ("entries",),
        )
    return body


@functools.cache
def _schema() -> Any:
    """The pain.001 schema sepaxml ships, parsed once per process (parsing takes ~0.5 s; sepaxml's
    own `export(validate=True)` parses it on every call). Imported late, as sepaxml does:
    xmlschema patches ElementTree when imported."""
    import xmlschema

    return xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"))


def sepa_filename(run_id: str) -> str:
    return f"billing-run-{run_id}-sepa.xml"
