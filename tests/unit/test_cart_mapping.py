"""Cart-mapping rules (issue 16): each matcher, rule order, validation, and the compiled matcher
against a naive first-match scan."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.cart_mapping import (
    MAX_RULES,
    CategoryMatch,
    CompiledMapping,
    MappingRule,
    MappingVersion,
    ShopAttributes,
    ShopPosition,
    first_match,
    glob_matches,
    glob_regex,
    parse_glob,
    rule_matches,
    split_path,
    validate_rules,
    version_at,
)
from portal.domain.errors import DomainError, ValidationFailed

CATEGORIES = {"default": True, "shoes": True, "electronics": True, "sale": True, "old": False}


def pos(
    category: str | None = None,
    sku: str | None = None,
    brand: str | None = None,
    on_sale: bool | None = None,
    price: str = "10",
) -> ShopPosition:
    return ShopPosition(Decimal(price), category, sku, brand, on_sale)


def test_unit_price_is_the_value_per_piece() -> None:
    rule = MappingRule("sale", max_unit_price=Decimal("5"))
    assert rule_matches(rule, ShopPosition(Decimal("15"), quantity=3))
    assert not rule_matches(rule, ShopPosition(Decimal("15.01"), quantity=3))


def compiled(*rules: MappingRule) -> CompiledMapping:
    return CompiledMapping(7, rules, "default")


def test_exact_category_matches_the_whole_path_only_ignoring_case_and_spaces() -> None:
    rule = MappingRule("shoes", "Fashion > Shoes")
    assert rule_matches(rule, pos("fashion >  SHOES "))
    assert not rule_matches(rule, pos("Fashion > Shoes > Sneakers"))
    assert not rule_matches(rule, pos("Fashion"))
    assert not rule_matches(rule, pos(None))


def test_prefix_matches_by_segments() -> None:
    rule = MappingRule("shoes", "Fashion > Shoes", CategoryMatch.PREFIX)
    assert rule_matches(rule, pos("Fashion > Shoes"))
    assert rule_matches(rule, pos("Fashion > Shoes > Sneakers > Kids"))
    assert not rule_matches(rule, pos("Fashion > Shoestring"))
    assert not rule_matches(rule, pos("Fashion"))


def test_glob_wildcards_within_and_across_segments() -> None:
    star = MappingRule("shoes", "Fashion > *shoes", CategoryMatch.GLOB)
    assert rule_matches(star, pos("Fashion > Running Shoes"))
    assert not rule_matches(star, pos("Fashion > Shoes > Sneakers"))
    deep = MappingRule("shoes", "** > Sneakers", CategoryMatch.GLOB)
    assert rule_matches(deep, pos("Sneakers"))
    assert rule_matches(deep, pos("Fashion > Shoes > Sneakers"))
    assert not rule_matches(deep, pos("Fashion > Sneakers > Kids"))
    one = MappingRule("shoes", "Gift?ards", CategoryMatch.GLOB)
    assert rule_matches(one, pos("GiftCards"))
    assert not rule_matches(one, pos("Gift Cards x"))


def test_the_compiled_matcher_checks_a_glob_against_each_path_it_is_indexed_under() -> None:
    """A glob is found by its first segment; the rest of it must still hold, for each path
    (the matcher keeps its decision per path)."""
    rules = [
        MappingRule("shoes", "Fashion > Sh*", CategoryMatch.GLOB),
        MappingRule("sale", on_sale=True),
    ]
    mapping = CompiledMapping(1, rules, "default")
    for _ in range(2):  # the second time from what the matcher kept
        assert mapping.match_index(pos("Fashion > Shoes")) == 0
        assert mapping.match_index(pos("Fashion > Books")) is None
        on_sale = ShopPosition(Decimal(10), "Fashion > Books", on_sale=True)
        assert mapping.match_index(on_sale) == 1


@pytest.mark.parametrize("category", [" > ", ">", " >> ", "  "])
def test_a_category_of_separators_alone_is_matched_like_the_naive_scan(category: str) -> None:
    rules = [
        MappingRule("shoes", "** > Sneakers", CategoryMatch.GLOB),
        # A glob of one wildcard segment needs a segment: it matches no such category.
        MappingRule("sale", "*", CategoryMatch.GLOB),
        MappingRule("sale", "* > **", CategoryMatch.GLOB),
        MappingRule("sale", "** > *", CategoryMatch.GLOB),
        MappingRule("sale", "**", CategoryMatch.GLOB),
        MappingRule("shoes", "Fashion", CategoryMatch.PREFIX),
        MappingRule("electronics", brand="Acme"),
    ]
    mapping = CompiledMapping(1, rules, "default")
    for position in (pos(category), pos(category, brand="acme")):
        assert mapping.match_index(position) == first_match(rules, position)
        shop = ShopAttributes(position.shop_category, position.sku, position.brand)
        assert mapping.match_shop(shop, position.value, 1).rule == first_match(rules, position)
    assert mapping.match_index(pos(category)) == (None if not category.strip() else 4)


@pytest.mark.parametrize("glob", ["Fashion", "Fa**shion > *", "Shoes > [ab]*", " > ", "a{b,c}*"])
def test_invalid_globs(glob: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_glob(glob)
    assert raised.value.code == "INVALID_GLOB"


def test_sku_brand_sale_and_price_conditions() -> None:
    assert rule_matches(MappingRule("sale", skus=("A-1", "B-2")), pos(sku="B-2"))
    assert not rule_matches(MappingRule("sale", skus=("A-1",)), pos(sku="a-1"))  # exact
    assert rule_matches(MappingRule("sale", brand="ACME"), pos(brand=" acme"))
    assert not rule_matches(MappingRule("sale", brand="ACME"), pos())
    assert rule_matches(MappingRule("sale", on_sale=True), pos(on_sale=True))
    assert not rule_matches(MappingRule("sale", on_sale=False), pos(on_sale=None))
    ranged = MappingRule("sale", min_unit_price=Decimal("5"), max_unit_price=Decimal("10.00"))
    assert rule_matches(ranged, pos(price="5"))
    assert rule_matches(ranged, pos(price="10"))
    assert not rule_matches(ranged, pos(price="10.01"))
    assert not rule_matches(ranged, pos(price="4.99"))


def test_all_conditions_of_a_rule_must_hold() -> None:
    rule = MappingRule("sale", "Fashion", CategoryMatch.PREFIX, brand="ACME", on_sale=True)
    assert rule_matches(rule, pos("Fashion > Shoes", brand="Acme", on_sale=True))
    assert not rule_matches(rule, pos("Fashion > Shoes", brand="Acme", on_sale=False))
    assert not rule_matches(rule, pos("Electronics", brand="Acme", on_sale=True))


def test_first_match_wins_by_rule_order_not_by_specificity() -> None:
    rules = (
        MappingRule("sale", on_sale=True),
        MappingRule("shoes", "Fashion > Shoes", CategoryMatch.PREFIX),
        MappingRule("electronics", "Fashion > Shoes > Sneakers"),
    )
    mapping = compiled(*rules)
    sneaker = pos("Fashion > Shoes > Sneakers", on_sale=True)
    assert mapping.match(sneaker).rule == 0
    assert mapping.match(sneaker).category == "sale"
    assert mapping.match(pos("Fashion > Shoes > Sneakers")).rule == 1
    reordered = compiled(rules[2], rules[1], rules[0])
    assert reordered.match(sneaker).category == "electronics"


def test_no_match_gives_the_default_category() -> None:
    match = compiled(MappingRule("shoes", "Shoes")).match(pos("Books"))
    assert (match.version_id, match.rule, match.category) == (7, None, "default")


def test_compiled_matcher_only_checks_candidate_rules() -> None:
    rules = [MappingRule("shoes", f"Category {i}") for i in range(MAX_RULES)]
    mapping = compiled(*rules)
    assert mapping.unindexed == []
    assert mapping.match(pos("category 4321")).rule == 4321


def test_version_in_effect() -> None:
    v1 = MappingVersion(1, 1, datetime(2026, 1, 1, tzinfo=UTC), ())
    v2 = MappingVersion(2, 1, datetime(2026, 3, 1, tzinfo=UTC), ())
    assert version_at([v2, v1], datetime(2025, 12, 31, tzinfo=UTC)) is None
    assert version_at([v2, v1], datetime(2026, 2, 28, tzinfo=UTC)) is v1
    assert version_at([v2, v1], datetime(2026, 3, 1, tzinfo=UTC)) is v2


def codes(rules: list[MappingRule]) -> list[tuple[str, tuple[str, ...]]]:
    with pytest.raises(ValidationFailed) as failed:
        validate_rules(rules, CATEGORIES)
    return [(e.code, e.field) for e in failed.value.errors]


def test_validation_names_each_field() -> None:
    assert codes(
        [
            MappingRule("shoes"),
            MappingRule("nope", "A"),
            MappingRule("old", "A"),
            MappingRule("shoes", "Fashion", CategoryMatch.GLOB),
            MappingRule("shoes", min_unit_price=Decimal(9), max_unit_price=Decimal(1)),
            MappingRule("shoes", min_unit_price=Decimal(-1)),
        ]
    ) == [
        ("EMPTY_RULE", ("rules", "0")),
        ("UNKNOWN_CATEGORY", ("rules", "1", "trackingCategory")),
        ("INACTIVE_CATEGORY", ("rules", "2", "trackingCategory")),
        ("INVALID_GLOB", ("rules", "3", "shopCategory")),
        ("INVALID_PRICE_RANGE", ("rules", "4", "minUnitPrice")),
        ("NEGATIVE_VALUE", ("rules", "5", "minUnitPrice")),
    ]


def test_rule_limit() -> None:
    ok = [MappingRule("shoes", f"C{i}") for i in range(MAX_RULES)]
    assert len(validate_rules(ok, CATEGORIES)) == MAX_RULES
    assert codes([*ok, MappingRule("shoes", "X")]) == [("TOO_MANY_RULES", ("rules",))]


def test_validation_cleans_rules() -> None:
    (rule,) = validate_rules([MappingRule(" shoes ", " A > B ", skus=(" x", "x", ""))], CATEGORIES)
    assert rule == MappingRule("shoes", "A > B", skus=("x",))


# --- property: compiled == naive -------------------------------------------------------------

SEGMENTS = st.sampled_from(["Fashion", "Shoes", "Sneakers", "Books", "Kids", "TV"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map(" > ".join)
GLOBS = st.lists(
    st.sampled_from(["*", "**", "Sh*", "?V", "Fashion", "Shoes", "*s"]), min_size=1, max_size=3
).map(" > ".join)
SKUS = st.sampled_from(["A", "B", "C", "D"])
BRANDS = st.sampled_from(["Acme", "acme", "Zed"])
PRICES = st.integers(min_value=0, max_value=20).map(Decimal)


@st.composite
def rules(draw: st.DrawFn) -> MappingRule:
    kind = draw(st.sampled_from(CategoryMatch))
    category = draw(st.none() | (GLOBS if kind is CategoryMatch.GLOB else PATHS))
    low = draw(st.none() | PRICES)
    high = draw(st.none() | PRICES)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return MappingRule(
        draw(st.sampled_from(["shoes", "electronics", "sale"])),
        category,
        kind,
        tuple(draw(st.lists(SKUS, max_size=2))),
        draw(st.none() | BRANDS),
        draw(st.none() | st.booleans()),
        low,
        high,
    )


def _valid_glob(rule: MappingRule) -> bool:
    if rule.category_match is not CategoryMatch.GLOB or rule.shop_category is None:
        return True
    try:
        parse_glob(rule.shop_category)
    except DomainError:
        return False
    return True


positions = st.builds(
    ShopPosition,
    PRICES,
    st.none() | PATHS | st.sampled_from([" > ", ">", "  "]),  # and paths of no segment
    st.none() | SKUS,
    st.none() | BRANDS,
    st.none() | st.booleans(),
    st.integers(0, 4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(rules(), max_size=25), st.lists(positions, min_size=1, max_size=10))
def test_compiled_matcher_equals_a_naive_first_match_scan(
    drawn: list[MappingRule], shop_positions: list[ShopPosition]
) -> None:
    valid = [r for r in drawn if _valid_glob(r)]
    mapping = CompiledMapping(1, valid, "default")
    for position in shop_positions:
        expected = first_match(valid, position)
        assert mapping.match_index(position) == expected
        shop = ShopAttributes(
            position.shop_category, position.sku, position.brand, position.on_sale
        )
        match = mapping.match_shop(shop, position.value, position.quantity)
        assert match == mapping.match(position)
        assert match.rule == expected


@settings(max_examples=500, deadline=None)
@given(GLOBS, PATHS)
def test_a_compiled_glob_decides_as_the_segment_matcher(glob: str, path: str) -> None:
    try:
        parsed = parse_glob(glob)
    except DomainError:
        return
    split = split_path(path)
    assert (glob_regex(parsed).fullmatch("\x1f".join(split)) is not None) == glob_matches(
        parsed, split
    )


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("** > b", "a > x > b", True),
        ("a > ** > b", "a > b", True),
        ("a > ** > b", "a > x > y > b", True),
        ("a > ** > b", "ab", False),
        ("** > **", "a", True),
        ("a > **", "a", True),
        ("a > **", "b > a", False),
    ],
)
def test_double_star_globs(glob: str, path: str, matches: bool) -> None:
    parsed = parse_glob(glob)
    assert glob_matches(parsed, split_path(path)) is matches
    assert (glob_regex(parsed).fullmatch("\x1f".join(split_path(path))) is not None) is matches
