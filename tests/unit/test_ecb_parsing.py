from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import portal
from portal.adapters.ecb import ParsedRates, parse_ecb_csv, parse_ecb_file, parse_ecb_xml
from portal.domain.errors import DomainError
from portal.domain.exchange_rates import RateTable, ReferenceRate

DEMO = Path(portal.__file__).parent / "demo"
SAMPLE_XML = (DEMO / "eurofxref-sample.xml").read_bytes()
SAMPLE_CSV = (DEMO / "eurofxref-hist-sample.csv").read_bytes()
SAMPLE_CURRENCIES = {"USD", "JPY", "CZK", "DKK", "GBP", "PLN", "SEK", "CHF"}

DAILY_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" \
xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='2026-11-20'>
\t\t\t<Cube currency='USD' rate='1.0823'/>
\t\t\t<Cube currency='JPY' rate='163.12'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
"""

DAILY_CSV = (
    b"Date, USD, JPY, CZK, DKK, GBP, HUF, PLN, RON, SEK, CHF, \n"
    b"20 November 2026, 1.0823, 163.12, 25.134, 7.4591, 0.85120, 389.15, 4.2987, 5.0840,"
    b" 11.4530, 0.9412, \n"
)


def eur(currency: str, day: date, rate: str) -> ReferenceRate:
    return ReferenceRate("EUR", currency, day, Decimal(rate))


def rate_of(parsed: ParsedRates, currency: str, day: date) -> Decimal | None:
    found = [r.rate for r in parsed.rates if r.currency == currency and r.day == day]
    assert len(found) <= 1
    return found[0] if found else None


def refused(content: bytes, filename: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as raised:
        parse_ecb_file(content, filename)
    return raised.value


# --- the sample files ------------------------------------------------------------------------


def test_both_sample_files_parse_to_the_same_rates() -> None:
    from_xml = parse_ecb_file(SAMPLE_XML, "eurofxref-sample.xml")
    from_csv = parse_ecb_file(SAMPLE_CSV, "eurofxref-hist-sample.csv")
    assert from_xml == from_csv
    assert from_xml.skipped_currencies == ()
    assert len(from_xml.rates) == 15 * 8 - 1  # 15 business days, 8 currencies, one N/A
    assert {r.currency for r in from_xml.rates} == SAMPLE_CURRENCIES
    assert {r.base for r in from_xml.rates} == {"EUR"}


def test_the_sample_rates_are_read_right() -> None:
    parsed = parse_ecb_file(SAMPLE_CSV)
    assert rate_of(parsed, "USD", date(2026, 11, 20)) == Decimal("1.0823")
    assert rate_of(parsed, "JPY", date(2026, 11, 20)) == Decimal("163.12")
    assert rate_of(parsed, "GBP", date(2026, 11, 20)) == Decimal("0.85120")
    days = sorted({r.day for r in parsed.rates})
    assert days[0] == date(2026, 11, 2)
    assert days[-1] == date(2026, 11, 20)
    assert all(day.weekday() < 5 for day in days)


def test_the_sample_na_cell_gives_no_rate() -> None:
    parsed = parse_ecb_file(SAMPLE_CSV)
    assert b"N/A" in SAMPLE_CSV
    assert rate_of(parsed, "CZK", date(2026, 11, 11)) is None
    assert rate_of(parsed, "CZK", date(2026, 11, 10)) is not None


def test_sample_rates_feed_a_rate_table_that_falls_back_over_the_weekend() -> None:
    table = RateTable("EUR", parse_ecb_file(SAMPLE_XML).rates)
    assert table.rate_on("USD", date(2026, 11, 23)) == (Decimal("1.0823"), date(2026, 11, 20))
    # The N/A day falls back to the day before.
    assert table.rate_on("CZK", date(2026, 11, 11))[1] == date(2026, 11, 10)


# --- XML -------------------------------------------------------------------------------------


def test_the_daily_xml() -> None:
    parsed = parse_ecb_file(DAILY_XML, "eurofxref-daily.xml")
    assert parsed.rates == [
        eur("JPY", date(2026, 11, 20), "163.12"),
        eur("USD", date(2026, 11, 20), "1.0823"),
    ]


def test_the_format_is_told_by_the_content_not_the_name() -> None:
    assert parse_ecb_file(DAILY_XML, "rates.csv") == parse_ecb_xml(DAILY_XML)
    assert parse_ecb_file(DAILY_CSV, "rates.xml") == parse_ecb_csv(DAILY_CSV)


def test_xml_with_a_byte_order_mark_and_crlf() -> None:
    content = b"\xef\xbb\xbf" + DAILY_XML.replace(b"\n", b"\r\n")
    assert parse_ecb_file(content) == parse_ecb_file(DAILY_XML)


def test_xml_withdrawn_currency_is_skipped_and_reported() -> None:
    content = DAILY_XML.replace(b"currency='JPY'", b"currency='CYP'")
    parsed = parse_ecb_file(content)
    assert parsed.rates == [eur("USD", date(2026, 11, 20), "1.0823")]
    assert parsed.skipped_currencies == ("CYP",)


@pytest.mark.parametrize(
    ("old", "new", "code", "where"),
    [
        (b"rate='1.0823'", b"rate='abc'", "INVALID_RATE_FILE", "line 9"),
        (b"rate='1.0823'", b"rate='-1.0823'", "INVALID_RATE_FILE", "line 9"),
        (b"rate='1.0823'", b"rate='0'", "INVALID_RATE_FILE", "line 9"),
        (b"rate='1.0823'", b"rate='1e400'", "INVALID_RATE_FILE", "line 9"),
        (b"rate='1.0823'", b"rate=''", "INVALID_RATE_FILE", "line 9"),
        (b"currency='USD'", b"currency='usd'", "UNKNOWN_CURRENCY", "line 9"),
        (b"currency='USD'", b"currency='EUR'", "INVALID_RATE_FILE", "line 9"),
        (b"currency='USD' ", b"", "INVALID_RATE_FILE", "line 9"),
        (b"time='2026-11-20'", b"time='2026-11-31'", "INVALID_RATE_FILE", "line 8"),
        (b"time='2026-11-20'", b"time='yesterday'", "INVALID_RATE_FILE", "line 8"),
        (b"</Cube>\n\t</Cube>", b"</Cube>", "INVALID_RATE_FILE", "line 12"),
        (b"<gesmes:Envelope", b"<Envelope", "INVALID_RATE_FILE", ""),
    ],
)
def test_xml_errors_are_coded_and_located(old: bytes, new: bytes, code: str, where: str) -> None:
    content = DAILY_XML.replace(old, new, 1)
    assert content != DAILY_XML
    error = refused(content, "eurofxref-daily.xml")
    assert error.code == code
    assert error.message.startswith("eurofxref-daily.xml, ")
    assert where in error.message
    assert error.field == ("file",)


def test_xml_two_different_rates_for_one_day_are_refused() -> None:
    content = DAILY_XML.replace(
        b"<Cube currency='JPY' rate='163.12'/>", b"<Cube currency='USD' rate='1.0824'/>"
    )
    error = refused(content)
    assert error.code == "INVALID_RATE_FILE"
    assert "USD" in error.message


@pytest.mark.parametrize(
    "content",
    [
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n<lolz>&lol2;</lolz>',
        b'<?xml version="1.0"?><!doctype x SYSTEM "file:///etc/passwd"><x/>',
        b"\xef\xbb\xbf<!DocType x><x/>",
        DAILY_XML.replace(b"<gesmes:Envelope", b'<!ENTITY e "x"><gesmes:Envelope'),
    ],
)
def test_xml_declarations_are_refused(content: bytes) -> None:
    error = refused(content)
    assert error.code == "INVALID_RATE_FILE"
    assert "DOCTYPE" in error.message


def test_other_xml_is_not_a_rate_file() -> None:
    error = refused(b"<html><body>Reference rates</body></html>")
    assert error.code == "INVALID_RATE_FILE"
    assert "Envelope" in error.message


def test_an_envelope_without_rates_is_empty() -> None:
    content = DAILY_XML.replace(b"currency='JPY'", b"currency='CYP'").replace(
        b"currency='USD'", b"currency='ROL'"
    )
    assert refused(content).code == "EMPTY_FILE"


# --- CSV -------------------------------------------------------------------------------------


def test_the_daily_csv_with_long_dates_and_spaces() -> None:
    parsed = parse_ecb_file(DAILY_CSV, "eurofxref.csv")
    assert parsed.skipped_currencies == ()
    assert {r.day for r in parsed.rates} == {date(2026, 11, 20)}
    assert len(parsed.rates) == 10
    assert rate_of(parsed, "USD", date(2026, 11, 20)) == Decimal("1.0823")
    assert rate_of(parsed, "HUF", date(2026, 11, 20)) == Decimal("389.15")
    assert rate_of(parsed, "CHF", date(2026, 11, 20)) == Decimal("0.9412")


@pytest.mark.parametrize(
    ("text", "day"),
    [("1 March 2024", date(2024, 3, 1)), ("04 january 1999", date(1999, 1, 4))],
)
def test_long_dates(text: str, day: date) -> None:
    parsed = parse_ecb_file(b"Date, USD\n" + text.encode() + b", 1.1\n")
    assert parsed.rates == [eur("USD", day, "1.1")]


def test_csv_with_a_byte_order_mark_and_crlf() -> None:
    content = b"\xef\xbb\xbf" + SAMPLE_CSV.replace(b"\n", b"\r\n")
    assert parse_ecb_file(content) == parse_ecb_file(SAMPLE_CSV)
    daily = b"\xef\xbb\xbf" + DAILY_CSV.replace(b"\n", b"\r\n")
    assert parse_ecb_file(daily) == parse_ecb_file(DAILY_CSV)


def test_csv_without_the_trailing_column_and_with_blank_lines() -> None:
    content = b"Date,USD,JPY\n\n2026-11-20,1.0823,163.12\n\n"
    assert parse_ecb_file(content).rates == [
        eur("JPY", date(2026, 11, 20), "163.12"),
        eur("USD", date(2026, 11, 20), "1.0823"),
    ]


def test_csv_na_and_empty_cells_are_skipped() -> None:
    content = b"Date,USD,JPY,GBP,\n2026-11-20,N/A,163.12,,\n2026-11-19,1.0811,n/a,0.8506,\n"
    parsed = parse_ecb_file(content)
    assert parsed.rates == [
        eur("GBP", date(2026, 11, 19), "0.8506"),
        eur("USD", date(2026, 11, 19), "1.0811"),
        eur("JPY", date(2026, 11, 20), "163.12"),
    ]


def test_csv_withdrawn_currency_columns_are_skipped_and_reported() -> None:
    content = (
        b"Date,USD,JPY,BGN,CYP,CZK,ROL,\n"
        b"2026-11-20,1.0823,163.12,N/A,N/A,25.134,N/A,\n"
        b"1999-01-04,1.1789,133.73,N/A,0.58231,35.107,1.3111,\n"
    )
    parsed = parse_ecb_file(content, "eurofxref-hist.csv")
    assert parsed.skipped_currencies == ("CYP", "ROL")
    assert {r.currency for r in parsed.rates} == {"USD", "JPY", "CZK"}
    assert len(parsed.rates) == 6


@pytest.mark.parametrize(
    ("content", "code", "where"),
    [
        (b"Date,USD,\n2026-11-20,abc,\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD,JPY\n2026-11-20,1.08,-163\n", "INVALID_RATE_FILE", "line 2, column 3 (JPY)"),
        (b"Date,USD\n2026-11-20,0\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD\n2026-11-20,0.000\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD\n2026-11-20,1_000\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD\n2026-11-20,1e3\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD\n2026-11-20,1.0000001\n", "INVALID_RATE_FILE", "line 2, column 2 (USD)"),
        (b"Date,USD\n2026-11-20,99999999999999999\n", "INVALID_RATE_FILE", "line 2"),
        (b"Date,USD\n2026-02-30,1.08\n", "INVALID_RATE_FILE", "line 2, column 1"),
        (b"Date,USD\n20 Brumaire 2026,1.08\n", "INVALID_RATE_FILE", "line 2, column 1"),
        (b"Date,USD\n20261120,1.08\n", "INVALID_RATE_FILE", "line 2, column 1"),
        (b"Date,US Dollar\n2026-11-20,1.08\n", "UNKNOWN_CURRENCY", "line 1, column 2"),
        (b"Date,USD,,JPY\n2026-11-20,1.08,,163\n", "UNKNOWN_CURRENCY", "line 1, column 3"),
        (b"Date,EUR\n2026-11-20,1\n", "INVALID_RATE_FILE", "line 1, column 2"),
        (b"Date,USD,USD\n2026-11-20,1.08,1.08\n", "INVALID_RATE_FILE", "line 1, column 3"),
        (b"Date,USD,JPY\n2026-11-20,1.08\n", "INVALID_RATE_FILE", "line 2"),
        (b"Date,USD\n2026-11-20,1.08,163.12\n", "INVALID_RATE_FILE", "line 2"),
        (b"Date,USD\n2026-11-20,1.08\n2026-11-20,1.09\n", "INVALID_RATE_FILE", "line 3"),
        (b"\n\nCurrency,USD\n2026-11-20,1.08\n", "INVALID_RATE_FILE", "line 3"),
        (b'Date,USD\n2026-11-20,"1.08\n', "INVALID_RATE_FILE", "line"),
        (b"Date,USD,\n", "EMPTY_FILE", ""),
        (b"Date,USD,CYP\n2026-11-20,N/A,0.58\n", "EMPTY_FILE", ""),
    ],
)
def test_csv_errors_are_coded_and_located(content: bytes, code: str, where: str) -> None:
    error = refused(content, "rates.csv")
    assert error.code == code
    assert error.message.startswith("rates.csv, ")
    assert where in error.message
    assert error.field == ("file",)


def test_csv_the_same_rate_twice_is_accepted() -> None:
    content = b"Date,USD\n2026-11-20,1.08\n2026-11-20,1.080\n"
    assert parse_ecb_file(content).rates == [eur("USD", date(2026, 11, 20), "1.08")]


# --- garbage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "EMPTY_FILE"),
        (b"\xef\xbb\xbf", "EMPTY_FILE"),
        (b" \r\n\t\n", "EMPTY_FILE"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "INVALID_RATE_FILE"),
        (bytes(range(256)), "INVALID_RATE_FILE"),
        (b"Date,USD\n2026-11-20,1.08\x00\n", "INVALID_RATE_FILE"),
        ("Date,USD\n2026-11-20,1.08\n".encode("utf-16"), "INVALID_RATE_FILE"),
        (
            b"<gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01'><Cube>",
            "INVALID_RATE_FILE",
        ),
        (b"<<<>>>", "INVALID_RATE_FILE"),
        (b'{"rates": {"USD": 1.08}}', "INVALID_RATE_FILE"),
        (b"PK\x03\x04 a zip file", "INVALID_RATE_FILE"),
    ],
)
def test_garbage_is_a_coded_error(content: bytes, code: str) -> None:
    assert refused(content).code == code


def test_broken_xml_tells_line_and_column() -> None:
    error = refused(DAILY_XML.replace(b"</gesmes:Envelope>", b"</gesmes:Envelop>"))
    assert error.code == "INVALID_RATE_FILE"
    assert "line 13, column 3" in error.message


def test_a_file_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("portal.adapters.ecb.MAX_FILE_BYTES", 100)
    assert refused(SAMPLE_CSV).code == "FILE_TOO_LARGE"


def _parses_or_refuses(content: bytes) -> None:
    try:
        parsed = parse_ecb_file(content)
    except DomainError as error:
        assert error.code in {
            "EMPTY_FILE",
            "FILE_TOO_LARGE",
            "INVALID_RATE_FILE",
            "UNKNOWN_CURRENCY",
        }
    else:
        assert all(r.rate > 0 for r in parsed.rates)


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_give_a_coded_error(content: bytes) -> None:
    _parses_or_refuses(content)


@settings(deadline=None, max_examples=200)
@given(
    st.sampled_from([SAMPLE_XML, SAMPLE_CSV, DAILY_XML, DAILY_CSV]),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=40),
    st.binary(max_size=8),
)
def test_damaged_files_parse_or_give_a_coded_error(
    original: bytes, at: int, cut: int, insert: bytes
) -> None:
    at %= len(original)
    _parses_or_refuses(original[:at] + insert + original[at + cut :])


def test_the_xml_reader_itself_also_stops_at_a_declaration() -> None:
    # Second line of defence behind the check of the raw bytes.
    from portal.adapters.ecb import _XmlReader

    with pytest.raises(DomainError) as raised:
        _XmlReader("").parse(b'<!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>')
    assert raised.value.code == "INVALID_RATE_FILE"
    assert "line 1" in raised.value.message
