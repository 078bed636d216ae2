import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.commission import CommissionModel, CommissionPeriod, CommissionRate
from portal.domain.errors import DomainError
from portal.domain.money import Money, round_half_up
from portal.domain.rating import OrderLine, RatingInput, find_rate, rate_conversion

SALE = "SALE_NEW_CUSTOMER"
JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)
MAR = datetime(2024, 3, 1, tzinfo=UTC)


def D(text: str) -> Decimal:
    return Decimal(text)


def rate(
    category: str, percentage: str | None, fixed: str | None = None, target: str = SALE
) -> CommissionRate:
    return CommissionRate(
        target=target,
        category=category,
        percentage=None if percentage is None else D(percentage),
        fixed_amount=None if fixed is None else D(fixed),
    )


def period(
    period_id: int,
    valid_from: datetime,
    valid_to: datetime | None,
    *rates: CommissionRate,
) -> CommissionPeriod:
    return CommissionPeriod(
        id=period_id, model_id=1, valid_from=valid_from, valid_to=valid_to, rates=rates
    )


def model(
    *periods: CommissionPeriod, discount_rating: bool = False, name: str = "Standard 2024"
) -> CommissionModel:
    return CommissionModel(
        id=1, program_id=7, name=name, discount_rating=discount_rating, periods=periods
    )


def order(
    value: str,
    *,
    discount: str = "0",
    category: str = "default",
    currency: str = "EUR",
    at: datetime = JAN + timedelta(days=3),
    basket: tuple[OrderLine, ...] = (),
    target: str = SALE,
) -> RatingInput:
    return RatingInput(
        target=target,
        category=category,
        tracking_time=at,
        currency=currency,
        order_value=D(value),
        discount=D(discount),
        basket=basket,
    )


def one_rate_model(
    percentage: str | None, fixed: str | None = None, discount_rating: bool = False
) -> CommissionModel:
    return model(
        period(1, JAN, None, rate("default", percentage, fixed)),
        discount_rating=discount_rating,
    )


# --- period selection ---------------------------------------------------------------------


TWO_PERIODS = model(
    period(10, JAN, FEB, rate("default", "10")),
    period(11, FEB, MAR, rate("default", "20")),
)


def test_tracking_time_equal_to_valid_from_uses_that_period() -> None:
    rating = rate_conversion(TWO_PERIODS, order("100", at=FEB))
    assert rating.period_id == 11
    assert rating.commission == Money(D("20.00"), "EUR")


def test_tracking_time_just_before_valid_to_uses_the_ending_period() -> None:
    rating = rate_conversion(TWO_PERIODS, order("100", at=FEB - timedelta(microseconds=1)))
    assert rating.period_id == 10
    assert rating.commission.amount == D("10.00")


def test_tracking_time_equal_to_valid_to_is_not_in_the_ending_period() -> None:
    rating = rate_conversion(TWO_PERIODS, order("100", at=FEB))
    assert rating.period_id != 10


def test_tracking_time_equal_to_valid_to_of_the_last_period_has_no_period() -> None:
    with pytest.raises(DomainError) as raised:
        rate_conversion(TWO_PERIODS, order("100", at=MAR))
    assert raised.value.code == "NO_COMMISSION_PERIOD"
    assert raised.value.field == ("trackingTime",)
    assert "Standard 2024" in raised.value.message
    assert MAR.isoformat() in raised.value.message


def test_tracking_time_before_the_first_period_has_no_period() -> None:
    with pytest.raises(DomainError) as raised:
        rate_conversion(TWO_PERIODS, order("100", at=JAN - timedelta(microseconds=1)))
    assert raised.value.code == "NO_COMMISSION_PERIOD"


def test_period_is_chosen_by_tracking_time_in_any_time_zone() -> None:
    # 2024-02-01T00:30+01:00 is 2024-01-31T23:30Z: still January's period.
    cet = datetime(2024, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    rating = rate_conversion(TWO_PERIODS, order("100", at=cet))
    assert rating.period_id == 10


def test_naive_tracking_time_is_refused() -> None:
    with pytest.raises(ValueError):
        rate_conversion(TWO_PERIODS, order("100", at=datetime(2024, 1, 5)))


# --- rates ----------------------------------------------------------------------------------


def test_find_rate_prefers_the_category_rate_and_falls_back_to_default() -> None:
    p = period(1, JAN, None, rate("default", "5"), rate("shoes", "8"))
    assert find_rate(p, SALE, "shoes") == (rate("shoes", "8"), "shoes")
    assert find_rate(p, SALE, "books") == (rate("default", "5"), "default")


def test_no_rate_for_target_and_category() -> None:
    p = period(1, JAN, None, rate("shoes", "8"), rate("default", "5", target="LEAD"))
    with pytest.raises(DomainError) as raised:
        find_rate(p, SALE, "books")
    assert raised.value.code == "NO_RATE"
    assert raised.value.field == ("conversionTarget",)
    assert SALE in raised.value.message
    assert "books" in raised.value.message


def test_rating_without_a_matching_rate_raises_no_rate() -> None:
    m = model(period(1, JAN, None, rate("shoes", "8")))
    with pytest.raises(DomainError) as raised:
        rate_conversion(m, order("100", category="books"))
    assert raised.value.code == "NO_RATE"
    assert raised.value.field == ("conversionTarget",)


def test_basket_position_without_any_rate_raises_no_rate() -> None:
    m = model(period(1, JAN, None, rate("shoes", "8")))
    basket = (OrderLine("shoes", D("10")), OrderLine("books", D("10")))
    with pytest.raises(DomainError) as raised:
        rate_conversion(m, order("20", category="shoes", basket=basket))
    assert raised.value.code == "NO_RATE"
    assert "books" in raised.value.message


# --- amounts --------------------------------------------------------------------------------


def test_percentage_plus_fixed_amount() -> None:
    rating = rate_conversion(one_rate_model("7.5", "2.50"), order("123.45"))
    # 7.5 % of 123.45 = 9.25875, + 2.50 = 11.75875 → 11.76
    assert rating.commission == Money(D("11.76"), "EUR")
    assert rating.breakdown["exactTotal"] == "11.75875"


def test_fixed_amount_only() -> None:
    rating = rate_conversion(one_rate_model(None, "4.99"), order("1000"))
    assert rating.commission.amount == D("4.99")
    assert rating.lines[0].percentage is None
    assert rating.lines[0].commission == D("0.00")


def test_percentage_only() -> None:
    rating = rate_conversion(one_rate_model("12"), order("80.10"))
    assert rating.commission.amount == D("9.61")  # 9.612


def test_discount_rating_on_rates_the_value_after_discount() -> None:
    rating = rate_conversion(
        one_rate_model("10", discount_rating=True), order("200", discount="50")
    )
    assert rating.commission.amount == D("15.00")
    assert rating.lines[0].rated_base == D("150")
    assert rating.breakdown["discountRating"] is True


def test_discount_rating_off_ignores_the_discount() -> None:
    rating = rate_conversion(
        one_rate_model("10", discount_rating=False), order("200", discount="50")
    )
    assert rating.commission.amount == D("20.00")
    assert rating.lines[0].rated_base == D("200")
    assert rating.breakdown["discountRating"] is False


def test_base_never_falls_below_zero() -> None:
    rating = rate_conversion(
        one_rate_model("10", "1", discount_rating=True), order("20", discount="50")
    )
    assert rating.lines[0].rated_base == D("0")
    assert rating.commission.amount == D("1.00")
    negative = rate_conversion(one_rate_model("10", "1"), order("-20"))
    assert negative.lines[0].rated_base == D("0")
    assert negative.commission.amount == D("1.00")


def test_without_basket_the_conversion_is_one_position() -> None:
    m = model(period(1, JAN, None, rate("default", "5"), rate("shoes", "8", "1")))
    rating = rate_conversion(m, order("50", category="shoes"))
    assert len(rating.lines) == 1
    line = rating.lines[0]
    assert (line.position, line.category, line.order_value) == (1, "shoes", D("50"))
    assert line.percentage == D("8")
    assert line.commission == D("4.00")
    assert rating.commission.amount == D("5.00")
    assert rating.breakdown["basket"] is False


# --- basket ---------------------------------------------------------------------------------


MIXED = model(
    period(
        1,
        JAN,
        None,
        rate("default", "5", "1.00"),
        rate("shoes", "10", "3.00"),
        rate("books", "2"),
    ),
    discount_rating=True,
)


def test_basket_rates_each_position_with_its_own_category_and_falls_back_to_default() -> None:
    basket = (
        OrderLine("shoes", D("100.00"), D("10.00"), product_id="S1", quantity=2),
        OrderLine("books", D("30.00")),
        OrderLine("toys", D("20.00")),  # no rate of its own → default (5 %)
    )
    rating = rate_conversion(MIXED, order("150.00", category="shoes", basket=basket))
    # shoes 10 % of 90 = 9, books 2 % of 30 = 0.6, toys 5 % of 20 = 1, fixed once: 3 (shoes)
    assert [line.commission for line in rating.lines] == [D("9.00"), D("0.60"), D("1.00")]
    assert [line.rated_base for line in rating.lines] == [D("90.00"), D("30.00"), D("20.00")]
    assert [line.percentage for line in rating.lines] == [D("10"), D("2"), D("5")]
    assert [line.position for line in rating.lines] == [1, 2, 3]
    assert rating.commission == Money(D("13.60"), "EUR")
    lines = rating.breakdown["lines"]
    assert isinstance(lines, list)
    assert [line["rateCategory"] for line in lines] == ["shoes", "books", "default"]
    assert [line["category"] for line in lines] == ["shoes", "books", "toys"]
    assert lines[0]["productId"] == "S1"
    assert lines[0]["quantity"] == 2
    assert rating.breakdown["fixedAmount"] == "3.00"
    assert rating.breakdown["fixedRateCategory"] == "shoes"
    assert rating.breakdown["basket"] is True


def test_basket_fixed_amount_comes_from_the_conversion_category_with_fallback() -> None:
    basket = (OrderLine("shoes", D("10")), OrderLine("shoes", D("10")))
    rating = rate_conversion(MIXED, order("20", category="garden", basket=basket))
    # 10 % of 10, twice, + the default category's fixed 1.00 once
    assert rating.commission.amount == D("3.00")
    assert rating.breakdown["fixedRateCategory"] == "default"
    assert rating.breakdown["fixedAmount"] == "1.00"


def test_basket_without_discount_rating_ignores_position_discounts() -> None:
    m = model(period(1, JAN, None, rate("default", "10")), discount_rating=False)
    basket = (OrderLine("default", D("100"), D("40")),)
    rating = rate_conversion(m, order("100", basket=basket))
    assert rating.commission.amount == D("10.00")


def test_basket_total_is_rounded_once_not_per_position() -> None:
    m = one_rate_model("1")
    basket = tuple(OrderLine("default", D("0.40")) for _ in range(3))
    rating = rate_conversion(m, order("1.20", basket=basket))
    # 3 × 0.004 = 0.012 → 0.01 (rounding each to 0.00 first would give 0.00)
    assert rating.commission.amount == D("0.01")
    assert rating.breakdown["exactTotal"] == "0.0120"
    assert [line.commission for line in rating.lines] == [D("0.01"), D("0.00"), D("0.00")]


def test_allocation_gives_the_rounding_difference_to_the_largest_remainder() -> None:
    m = one_rate_model("10", "0.004")
    basket = (
        OrderLine("default", D("0.13")),  # 0.013
        OrderLine("default", D("0.18")),  # 0.018
        OrderLine("default", D("0.16")),  # 0.016
    )
    rating = rate_conversion(m, order("0.47", basket=basket))
    # exact 0.047 + 0.004 = 0.051 → 0.05; fixed rounds to 0.00; lines must sum to 0.05:
    # floors 0.01 each (0.03), the two largest remainders (0.008, 0.006) get a cent each
    assert rating.commission.amount == D("0.05")
    assert [line.commission for line in rating.lines] == [D("0.01"), D("0.02"), D("0.02")]
    assert rating.breakdown["fixedCommission"] == "0.00"


def test_allocation_ties_go_to_the_earlier_position() -> None:
    m = one_rate_model("50")
    basket = (OrderLine("default", D("0.01")), OrderLine("default", D("0.01")))
    rating = rate_conversion(m, order("0.02", basket=basket))
    assert rating.commission.amount == D("0.01")
    assert [line.commission for line in rating.lines] == [D("0.01"), D("0.00")]


def test_allocation_when_the_fixed_amount_rounds_up() -> None:
    m = one_rate_model("10", "0.005")
    basket = (OrderLine("default", D("0.01")), OrderLine("default", D("0.01")))
    rating = rate_conversion(m, order("0.02", basket=basket))
    # exact 0.001 + 0.001 + 0.005 = 0.007 → 0.01; fixed alone → 0.01; lines get 0.00
    assert rating.commission.amount == D("0.01")
    assert rating.breakdown["fixedCommission"] == "0.01"
    assert [line.commission for line in rating.lines] == [D("0.00"), D("0.00")]


# --- currencies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1005", "101"), ("1004.9", "100"), ("1015", "102"), ("25", "3")],
)
def test_jpy_rounds_half_up_to_whole_yen(value: str, expected: str) -> None:
    rating = rate_conversion(one_rate_model("10"), order(value, currency="JPY"))
    assert rating.commission == Money(D(expected), "JPY")
    assert str(rating.commission.amount) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.345", "1.235"), ("12.3449", "1.234"), ("0.005", "0.001"), ("0.0049", "0.000")],
)
def test_kwd_rounds_half_up_to_three_decimals(value: str, expected: str) -> None:
    rating = rate_conversion(one_rate_model("10"), order(value, currency="KWD"))
    assert rating.commission == Money(D(expected), "KWD")
    assert str(rating.commission.amount) == expected


def test_eur_half_cent_rounds_up() -> None:
    rating = rate_conversion(one_rate_model("50"), order("0.05"))  # 0.025
    assert str(rating.commission.amount) == "0.03"


def test_jpy_basket_lines_are_whole_yen_and_sum_to_the_total() -> None:
    m = one_rate_model("3", "10.5")
    basket = (OrderLine("default", D("150")), OrderLine("default", D("250")))
    rating = rate_conversion(m, order("400", currency="JPY", basket=basket))
    # 4.5 + 7.5 + 10.5 = 22.5 → 23; fixed 10.5 → 11; lines 12: floors 4 + 7, one yen to line 1
    assert rating.commission == Money(D("23"), "JPY")
    assert [str(line.commission) for line in rating.lines] == ["5", "7"]
    assert rating.breakdown["fixedCommission"] == "11"


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(DomainError) as raised:
        rate_conversion(one_rate_model("10"), order("10", currency="EURO"))
    assert raised.value.code == "UNKNOWN_CURRENCY"


# --- snapshot -------------------------------------------------------------------------------


def test_breakdown_is_json_serialisable_and_explains_the_amount() -> None:
    basket = (OrderLine("shoes", D("100.00"), D("10.00")), OrderLine("toys", D("20.00")))
    rating = rate_conversion(MIXED, order("120.00", category="shoes", basket=basket))
    text = json.dumps(rating.breakdown)
    assert "Standard 2024" in text
    assert json.loads(text) == {
        "modelId": 1,
        "modelName": "Standard 2024",
        "periodId": 1,
        "validFrom": "2024-01-01T00:00:00+00:00",
        "validTo": None,
        "discountRating": True,
        "target": SALE,
        "category": "shoes",
        "trackingTime": "2024-01-04T00:00:00+00:00",
        "currency": "EUR",
        "orderValue": "120.00",
        "discount": "0",
        "basket": True,
        "lines": [
            {
                "position": 1,
                "category": "shoes",
                "rateCategory": "shoes",
                "productId": None,
                "quantity": 1,
                "orderValue": "100.00",
                "discount": "10.00",
                "base": "90.00",
                "percentage": "10",
                "amount": "9.000",
                "commission": "9.00",
            },
            {
                "position": 2,
                "category": "toys",
                "rateCategory": "default",
                "productId": None,
                "quantity": 1,
                "orderValue": "20.00",
                "discount": "0",
                "base": "20.00",
                "percentage": "5",
                "amount": "1.0000",
                "commission": "1.00",
            },
        ],
        "fixedRateCategory": "shoes",
        "fixedAmount": "3.00",
        "fixedCommission": "3.00",
        "exactTotal": "13.0000",
        "commission": "13.00",
    }


def _only_plain_json(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_only_plain_json(v) for v in value)
    return value is None or type(value) in (str, int, bool)


def test_breakdown_holds_only_plain_json_values() -> None:
    rating = rate_conversion(one_rate_model(None, "2"), order("10"))
    assert _only_plain_json(rating.breakdown)
    assert rating.breakdown["fixedAmount"] == "2"
    assert rating.breakdown["lines"][0]["percentage"] is None  # type: ignore[index]


def test_a_later_model_change_does_not_change_an_existing_rating() -> None:
    before = model(period(1, JAN, None, rate("default", "10", "1")), name="Spring")
    rating = rate_conversion(before, order("100"))
    snapshot = copy.deepcopy(rating.breakdown)
    lines = rating.lines

    after = model(period(1, JAN, None, rate("default", "25", "5")), name="Spring (revised)")
    rerated = rate_conversion(after, order("100"))

    assert rerated.commission.amount == D("30.00")
    assert rating.commission == Money(D("11.00"), "EUR")
    assert rating.model_name == "Spring"
    assert rating.lines == lines
    assert rating.lines[0].percentage == D("10")
    assert rating.breakdown == snapshot
    assert rating.breakdown["modelName"] == "Spring"
    assert rating.breakdown["fixedAmount"] == "1"
    assert rating.breakdown["commission"] == "11.00"


def test_breakdowns_of_two_ratings_share_no_mutable_state() -> None:
    m = one_rate_model("10")
    first = rate_conversion(m, order("100"))
    second = rate_conversion(m, order("100"))
    first.breakdown["lines"].append("tampered")  # type: ignore[attr-defined]
    assert len(second.breakdown["lines"]) == 1  # type: ignore[arg-type]


# --- property: allocation always adds up ---------------------------------------------------

CURRENCY_UNITS = {"EUR": D("0.01"), "JPY": D("1"), "KWD": D("0.001")}
amounts = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False)
percentages = st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=4))
categories = st.sampled_from(["default", "shoes", "books", "toys"])


@given(
    currency=st.sampled_from(sorted(CURRENCY_UNITS)),
    discount_rating=st.booleans(),
    default_pct=percentages,
    shoes_pct=percentages,
    fixed=st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=6)),
    conversion_category=categories,
    lines=st.lists(st.tuples(categories, amounts, amounts), min_size=1, max_size=12),
)
def test_rounded_lines_plus_fixed_always_sum_to_the_total(
    currency: str,
    discount_rating: bool,
    default_pct: Decimal | None,
    shoes_pct: Decimal | None,
    fixed: Decimal | None,
    conversion_category: str,
    lines: list[tuple[str, Decimal, Decimal]],
) -> None:
    m = model(
        period(
            1,
            JAN,
            None,
            CommissionRate(SALE, "default", default_pct, fixed),
            CommissionRate(SALE, "shoes", shoes_pct, fixed),
        ),
        discount_rating=discount_rating,
    )
    basket = tuple(OrderLine(category, value, discount) for category, value, discount in lines)
    total_value = sum((value for _, value, _ in lines), Decimal(0))
    rating = rate_conversion(
        m, order(str(total_value), category=conversion_category, currency=currency, basket=basket)
    )
    unit = CURRENCY_UNITS[currency]
    fixed_amount = fixed if fixed is not None else Decimal(0)

    def expected_amount(category: str, value: Decimal, discount: Decimal) -> Decimal:
        pct = shoes_pct if category == "shoes" else default_pct
        base = max(value - discount, Decimal(0)) if discount_rating else value
        return (pct or Decimal(0)) * base / 100

    exact_lines = [expected_amount(*line) for line in lines]
    exact_total = sum(exact_lines, Decimal(0)) + fixed_amount
    assert rating.commission.amount == round_half_up(exact_total, currency)
    assert D(str(rating.breakdown["exactTotal"])) == exact_total
    rounded_fixed = round_half_up(fixed_amount, currency)
    assert sum((line.commission for line in rating.lines), Decimal(0)) + rounded_fixed == (
        rating.commission.amount
    )
    for line, exact in zip(rating.lines, exact_lines, strict=True):
        assert line.commission % unit == 0
        assert abs(line.commission - exact) < unit
        assert line.commission >= 0


def test_a_converted_order_value_of_many_digits_is_rounded_once_at_the_end() -> None:
    """An order value converted at a cross rate has far more than the 28 digits of Python's
    default decimal context; no step may round it (discount rating: value − discount)."""
    with localcontext() as ctx:
        ctx.prec = 100
        value = D("7352041.80") * D("21.42274881516587677725118483412322")
        expected = round_half_up(value * D("0.125"), "EUR")
    model = CommissionModel(1, 1, "m", True, (period(1, JAN, None, rate("default", "12.5")),))
    rating = rate_conversion(
        model, RatingInput(SALE, "default", FEB, "EUR", value, discount=D("0"))
    )
    assert len(str(value).replace(".", "")) > 28
    assert rating.commission == Money(expected, "EUR") == Money(D("19687618.09"), "EUR")
