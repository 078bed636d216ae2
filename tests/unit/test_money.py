import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.errors import DomainError
from portal.domain.money import Money, parse_decimal, round_half_up


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("2.345", "EUR", "2.35"),
        ("2.344999", "EUR", "2.34"),
        ("-2.345", "EUR", "-2.35"),
        ("1234.5", "JPY", "1235"),
        ("1234.4999", "JPY", "1234"),
        ("1.23450", "KWD", "1.235"),
        ("1.23449", "KWD", "1.234"),
        ("0.00005", "CLF", "0.0001"),
    ],
)
def test_rounds_half_up_to_the_minor_unit(amount: str, currency: str, expected: str) -> None:
    assert str(round_half_up(Decimal(amount), currency)) == expected


def test_money_refuses_unknown_currency_with_a_code() -> None:
    with pytest.raises(DomainError) as raised:
        Money(Decimal(1), "EURO")
    assert raised.value.code == "UNKNOWN_CURRENCY"


def test_money_never_holds_a_float() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "EUR")  # type: ignore[arg-type]


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(ValueError):
        Money(Decimal(1), "EUR") + Money(Decimal(1), "USD")


def test_rounding_happens_once_not_per_step() -> None:
    third = Money(Decimal(1), "EUR").times(Decimal(1) / Decimal(3))
    assert (third + third + third).rounded().amount == Decimal("1.00")
    assert third.rounded().amount * 3 == Decimal("0.99")


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "NaN",
        "Infinity",
        "1e20",
        "1e2",
        "1E2",
        ".5",
        "5.",
        "0.0000001",
        "",
        1.5,
        True,
        "\u0661\u0660",
        "\uff15",
    ],
)
def test_parse_decimal_refuses_what_is_not_an_exact_bounded_amount(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_decimal(raw)  # type: ignore[arg-type]


def test_parse_decimal_accepts_strings_and_integers() -> None:
    assert parse_decimal(" 12.50 ") == Decimal("12.50")
    assert parse_decimal(7) == Decimal(7)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("5.100000", "EUR", "5.10"),
        ("5", "EUR", "5.00"),
        ("5.123400", "EUR", "5.1234"),
        ("100.000000", "JPY", "100"),
        ("1.5", "KWD", "1.500"),
    ],
)
def test_canonical_keeps_the_minor_unit_and_drops_only_padding(
    amount: str, currency: str, expected: str
) -> None:
    from portal.domain.money import canonical

    assert str(canonical(Decimal(amount), currency)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5.0000", "5"), ("2.5000", "2.5"), ("100", "100"), ("0.0001", "0.0001")],
)
def test_without_padding(value: str, expected: str) -> None:
    from portal.domain.money import without_padding

    assert format(without_padding(Decimal(value)), "f") == expected


@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.as_tuple().exponent) <= 12 and len(d.as_tuple().digits) <= 22  # type: ignore[arg-type]
    ),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD", "CLF"]),
)
def test_canonical_text_is_the_text_of_canonical(amount: Decimal, currency: str) -> None:
    """The compiled read path's amount text (`canonical_text`) equals the general path's
    (`canonical`, then the Decimal scalar's `format(…, "f")`), negative zero included."""
    from portal.domain.money import canonical, canonical_text

    assert canonical_text(amount, currency) == format(canonical(amount, currency), "f")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("5.100000", "EUR", "5.10"),
        ("5.123456", "EUR", "5.123456"),
        ("-0.000000", "EUR", "-0.00"),
        ("1E+2", "EUR", "100.00"),
        ("5.000000", "JPY", "5"),
        ("5.5", "JPY", "5.5"),
        ("7", "KWD", "7.000"),
    ],
)
def test_canonical_text_examples(amount: str, currency: str, expected: str) -> None:
    from portal.domain.money import canonical_text

    assert canonical_text(Decimal(amount), currency) == expected


def _parsed_in_full(raw: str) -> Decimal:
    """`parse_decimal` of a string, every check made on the parsed value (no shortcut)."""
    text = raw.strip()
    if not re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", text, re.ASCII):
        raise ValueError(raw)
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if abs(value) >= Decimal("1e15") or (isinstance(exponent, int) and exponent < -6):
        raise ValueError(raw)
    return value


@settings(max_examples=3000, deadline=None)
@given(
    st.from_regex(r"\A ?-?0{0,3}[0-9]{0,17}(\.[0-9]{0,8}0{0,3})? ?\Z")
    | st.sampled_from(["999999999999999.999999", "1000000000000000", "0001000000000000000"])
)
def test_parse_decimal_of_a_string_is_the_full_check(raw: str) -> None:
    try:
        expected: Decimal | None = _parsed_in_full(raw)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            parse_decimal(raw)
    else:
        got = parse_decimal(raw)
        assert got == expected and str(got) == str(expected)
