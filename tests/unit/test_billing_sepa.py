"""The SEPA credit transfer file of a run (issue 11, documents): pain.001.001.03 parsed back with
ElementTree — count, control sums, debtor, each creditor's IBAN, BIC, amount, end-to-end id and
reference — and validated against the ISO 20022 schema; what SEPA cannot pay is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sepaxml

from portal.adapters.billing_documents.sepa import SCHEMA, render_sepa, sepa_filename
from portal.domain.billing.document import BankAccount, RunSheetRow
from portal.domain.errors import DomainError, ValidationFailed
from tests.billing_documents import run_rows

NS = {"p": f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"}
NETWORK = BankAccount("Netzwerk Süd GmbH", "DE02 1203 0000 0000 2020 51", "byladem1001")


def _eur_rows() -> list[RunSheetRow]:
    eur, tiny, _ = run_rows()
    big = replace(
        eur,
        number="GS-2026-000045",
        partner="Åsa Öberg",
        net=Decimal("999999.99"),
        vat=Decimal("0.00"),
        gross=Decimal("999999.99"),
        account=BankAccount("Åsa Öberg", "AT611904300234573201", "BKAUATWW"),
        payment_reference="Gutschrift GS-2026-000045 / November",
    )
    return [eur, tiny, big]


def _text(node: ElementTree.Element, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None and found.text is not None, path
    return found.text


def test_a_transfer_file_pays_each_confirmed_eur_entry_and_meets_the_schema() -> None:
    body = render_sepa(_eur_rows(), NETWORK, date(2026, 12, 4), message_id="run QmlsbGluZ1J1bjox")
    import xmlschema  # imported late, as sepaxml does: it patches ElementTree when imported

    schema = xmlschema.XMLSchema(Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd")
    schema.validate(body.decode())

    root = ElementTree.fromstring(body)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert header is not None
    assert _text(header, "p:MsgId") == "run QmlsbGluZ1J1bjox"
    assert _text(header, "p:NbOfTxs") == "3"
    total = Decimal("12101.05") + Decimal("0.01") + Decimal("999999.99")
    assert Decimal(_text(header, "p:CtrlSum")) == total
    assert _text(header, "p:InitgPty/p:Nm") == "Netzwerk Sud GmbH"

    (batch,) = root.findall("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert _text(batch, "p:PmtMtd") == "TRF"
    assert _text(batch, "p:ReqdExctnDt") == "2026-12-04"
    assert Decimal(_text(batch, "p:CtrlSum")) == total
    assert _text(batch, "p:DbtrAcct/p:Id/p:IBAN") == "DE02120300000000202051"
    assert _text(batch, "p:DbtrAgt/p:FinInstnId/p:BIC") == "BYLADEM1001"

    transfers = [
        (
            _text(tx, "p:PmtId/p:EndToEndId"),
            _text(tx, "p:Amt/p:InstdAmt"),
            tx.find("p:Amt/p:InstdAmt", NS).get("Ccy"),  # type: ignore[union-attr]
            _text(tx, "p:Cdtr/p:Nm"),
            _text(tx, "p:CdtrAcct/p:Id/p:IBAN"),
            None if tx.find("p:CdtrAgt", NS) is None else _text(tx, "p:CdtrAgt/p:FinInstnId/p:BIC"),
            _text(tx, "p:RmtInf/p:Ustrd"),
        )
        for tx in batch.findall("p:CdtTrfTxInf", NS)
    ]
    assert transfers == [
        (
            "GS-2026-000042",
            "12101.05",
            "EUR",
            "Jurgen Muller",
            "DE89370400440532013000",
            "COBADEFFXXX",
            "GS-2026-000042",
        ),
        (
            "GS-2026-000043",
            "0.01",
            "EUR",
            "Anne Dupont",
            "FR1420041010050500013M02606",
            None,
            "GS-2026-000043",
        ),
        (
            "GS-2026-000045",
            "999999.99",
            "EUR",
            "Asa Oberg",
            "AT611904300234573201",
            "BKAUATWW",
            "Gutschrift GS-2026-000045 / November",
        ),
    ]


def test_non_eur_entries_and_entries_without_iban_are_refused_with_codes() -> None:
    rows = run_rows()  # the third is in JPY and has no bank account
    with pytest.raises(ValidationFailed) as raised:
        render_sepa(rows, NETWORK, date(2026, 12, 4))
    assert {(e.code, e.field) for e in raised.value.errors} == {
        ("SEPA_CURRENCY_NOT_EUR", ("entries", "2", "currency")),
        ("SEPA_IBAN_MISSING", ("entries", "2", "iban")),
    }
    with pytest.raises(ValidationFailed) as raised:
        render_sepa([], NETWORK, date(2026, 12, 4))
    assert [e.code for e in raised.value.errors] == ["SEPA_NO_ENTRIES"]


def test_the_network_needs_an_iban_and_a_malformed_iban_is_a_coded_error() -> None:
    with pytest.raises(DomainError) as raised:
        render_sepa(_eur_rows(), BankAccount("Netzwerk", " "), date(2026, 12, 4))
    assert (raised.value.code, raised.value.field) == (
        "SEPA_DEBTOR_IBAN_MISSING",
        ("debtor", "iban"),
    )
    broken = replace(_eur_rows()[0], account=BankAccount("X", "not an iban!"))
    with pytest.raises(DomainError) as raised:
        render_sepa([broken], NETWORK, date(2026, 12, 4))
    assert raised.value.code == "SEPA_FILE_INVALID"


def test_without_a_message_id_sepaxml_draws_one_and_the_file_name_names_the_run() -> None:
    body = render_sepa(_eur_rows()[:1], NETWORK, date(2026, 12, 4))
    header = ElementTree.fromstring(body).find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert header is not None and _text(header, "p:MsgId")
    assert sepa_filename("QmlsbGluZ1J1bjox") == "billing-run-QmlsbGluZ1J1bjox-sepa.xml"
