"""Shopping-cart mapping: a program's rules that turn a shop's own description of a basket
position (its category path, SKU, brand, sale flag, unit price) into one of the program's
tracking categories (issue 16).

A mapping is effective-dated: each version holds an ordered list of rules and is valid from
its `valid_from` until the next version's. The first rule that matches a position wins; a
position no rule matches gets the program's default category.

Matching (`CompiledMapping`) is compiled once per version: exact category paths and SKUs and
brands are dictionary look-ups, category prefixes a trie over the path's segments, globs are
grouped by their first literal segment. Only the rules a position can possibly match are
checked, in rule order; never every rule per position.

Comparison: a category path is split at ` > `, each segment stripped and compared
case-insensitively (so is a brand); a SKU is compared exactly (stripped). A condition on an
attribute a position does not carry never matches. The unit price is the position's value
divided by its quantity (in the program currency); the range is inclusive at both ends.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from portal.domain.errors import DomainError, ErrorCollector, ValidationFailed

SEPARATOR = " > "
MAX_RULES = 5000
"""The most rules one mapping version may hold."""
MAX_SKUS = 1000
"""The most SKUs one rule may list."""
MAX_TEXT = 500
"""The longest category path, SKU or brand (in characters)."""


class CategoryMatch(enum.Enum):
    """How a rule's shop category compares with a position's: EXACT the whole path; PREFIX the
    path or any path below it (segment by segment: `Fashion > Shoes` matches `Fashion > Shoes >
    Sneakers`, not `Fashion > Shoestring`); GLOB a pattern (see `parse_glob`)."""

    EXACT = "EXACT"
    PREFIX = "PREFIX"
    GLOB = "GLOB"


@dataclass(frozen=True, slots=True)
class MappingRule:
    """One rule: every condition given must hold (at least one is given); it names the
    tracking category the position gets."""

    tracking_category: str
    shop_category: str | None = None
    category_match: CategoryMatch = CategoryMatch.EXACT
    skus: tuple[str, ...] = ()
    brand: str | None = None
    on_sale: bool | None = None
    min_unit_price: Decimal | None = None
    max_unit_price: Decimal | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.shop_category is None
            and not self.skus
            and self.brand is None
            and self.on_sale is None
            and self.min_unit_price is None
            and self.max_unit_price is None
        )


@dataclass(frozen=True, slots=True)
class ShopPosition:
    """What the mapping sees of a basket position: its value (the position's total, in the
    program currency) and quantity give the unit price; the rest is optional."""

    value: Decimal
    shop_category: str | None = None
    sku: str | None = None
    brand: str | None = None
    on_sale: bool | None = None
    quantity: int = 1


# A value never changed once built; not frozen: one is built per basket position checked or
# read, and a frozen dataclass takes 3–8× as long to construct (see rating.RatingInput).
@dataclass(slots=True, unsafe_hash=True)
class ShopAttributes:
    """How the shop describes a basket position (each optional)."""

    shop_category: str | None = None
    sku: str | None = None
    brand: str | None = None
    on_sale: bool | None = None

    def position(self, value: Decimal, quantity: int) -> ShopPosition:
        return ShopPosition(value, self.shop_category, self.sku, self.brand, self.on_sale, quantity)

    @classmethod
    def described(
        cls, shop_category: str | None, sku: str | None, brand: str | None, on_sale: bool | None
    ) -> ShopAttributes | None:
        """The attributes, or None when they describe nothing."""
        if shop_category is None and sku is None and brand is None and on_sale is None:
            return None
        return cls(shop_category, sku, brand, on_sale)


@dataclass(frozen=True, slots=True)
class MappingVersion:
    """A stored version of a program's mapping: valid from `valid_from` (inclusive) until the
    next version's `valid_from` (exclusive)."""

    id: int
    program_id: int
    valid_from: datetime
    rules: tuple[MappingRule, ...]
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """The rule (0-based index into its version's rules) a position matched, and its
    category; `rule` None: no rule matched, the category is the default."""

    version_id: int
    rule: int | None
    category: str


@lru_cache(maxsize=65536)
def split_path(path: str) -> tuple[str, ...]:
    """A category path's segments, stripped and case-folded; empty segments dropped (cached:
    a shop sends the same paths again and again)."""
    return tuple(s for s in (p.strip().casefold() for p in path.split(SEPARATOR.strip())) if s)


def _norm(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = text.strip()
    return cleaned or None


# --- globs ------------------------------------------------------------------------------------

_RESERVED = set("[]{}")


def parse_glob(pattern: str) -> tuple[str, ...]:
    """A glob's segments (split and folded like a path). Within a segment `*` matches any run of
    characters and `?` one character; a segment that is just `**` matches any number of
    segments (none included). Invalid (INVALID_GLOB): no segment, a `**` next to other text in
    a segment, the reserved characters `[ ] { }`, or no wildcard at all (use EXACT)."""
    segments = split_path(pattern)
    if not segments:
        raise DomainError("INVALID_GLOB", "the glob has no segment", ())
    if any(c in _RESERVED for c in pattern):
        raise DomainError("INVALID_GLOB", "the characters [ ] { } are reserved in a glob", ())
    wild = False
    for segment in segments:
        if "**" in segment and segment != "**":
            raise DomainError(
                "INVALID_GLOB",
                f"`**` must be a segment of its own, not part of {segment!r}",
                (),
            )
        wild = wild or "*" in segment or "?" in segment
    if not wild:
        raise DomainError(
            "INVALID_GLOB", "the glob has no wildcard (* or ?): match it EXACT instead", ()
        )
    return segments


@lru_cache(maxsize=4096)
def _segment_regex(segment: str) -> re.Pattern[str]:
    parts = ["." if c == "?" else ".*" if c == "*" else re.escape(c) for c in segment]
    return re.compile("".join(parts), re.DOTALL)


def glob_matches(glob: Sequence[str], path: Sequence[str]) -> bool:
    """Whether a parsed glob matches a split path."""
    if not glob:
        return not path
    head = glob[0]
    if head == "**":
        return any(glob_matches(glob[1:], path[i:]) for i in range(len(path) + 1))
    if not path or not _segment_regex(head).fullmatch(path[0]):
        return False
    return glob_matches(glob[1:], path[1:])


_SEP = "\x1f"  # joins a split path into one string for a glob's regular expression


def glob_regex(glob: Sequence[str]) -> re.Pattern[str]:
    """A parsed glob as one regular expression over a split path of at least one segment joined
    with `_SEP` (what `glob_matches` decides segment by segment, in one match; a path of no
    segment joins to "", which `*` would match)."""
    tokens = [t for i, t in enumerate(glob) if not (t == "**" and i > 0 and glob[i - 1] == "**")]
    if tokens == ["**"]:
        return re.compile(f"[^{_SEP}]*(?:{_SEP}[^{_SEP}]*)*", re.DOTALL)
    pieces: list[str] = []
    for index, token in enumerate(tokens):
        if token == "**":
            # Leading: any whole segments before the next; else: any segments after the last.
            pieces.append(f"(?:[^{_SEP}]*{_SEP})*" if index == 0 else f"(?:{_SEP}[^{_SEP}]*)*")
            continue
        if index > 0 and not (index == 1 and tokens[0] == "**"):
            pieces.append(_SEP)
        pieces.append(
            "".join(
                f"[^{_SEP}]" if c == "?" else f"[^{_SEP}]*" if c == "*" else re.escape(c)
                for c in token
            )
        )
    return re.compile("".join(pieces), re.DOTALL)


def _is_literal(segment: str) -> bool:
    return "*" not in segment and "?" not in segment


# --- one rule, naively -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A rule with its texts in the form they are compared in."""

    rule: MappingRule
    path: tuple[str, ...] | None
    skus: frozenset[str]
    brand: str | None
    glob: re.Pattern[str] | None = None  # compiled: a GLOB rule's regular expression


def _prepare(rule: MappingRule, compiled: bool = False) -> _Prepared:
    path = None
    if rule.shop_category is not None:
        path = (
            parse_glob(rule.shop_category)
            if rule.category_match is CategoryMatch.GLOB
            else split_path(rule.shop_category)
        )
    brand = _norm(rule.brand)
    glob = None
    if compiled and path is not None and rule.category_match is CategoryMatch.GLOB:
        glob = glob_regex(path)
    return _Prepared(
        rule,
        path,
        frozenset(s for s in (_norm(x) for x in rule.skus) if s),
        brand.casefold() if brand else None,
        glob,
    )


@dataclass(slots=True)
class _Seen:
    """A position in the form it is compared in."""

    path: tuple[str, ...] | None
    sku: str | None
    brand: str | None
    on_sale: bool | None
    value: Decimal
    quantity: int

    @classmethod
    def of(
        cls, p: ShopPosition | ShopAttributes, value: Decimal | None = None, quantity: int = 1
    ) -> _Seen:
        """`p` a ShopPosition, or ShopAttributes with the position's `value` and `quantity`."""
        if isinstance(p, ShopPosition):
            value, quantity = p.value, p.quantity
        assert value is not None
        category = p.shop_category
        path = None if category is None else _seen_path(category)
        return cls.with_path(path, p.sku, p.brand, p.on_sale, value, quantity)

    @classmethod
    def with_path(
        cls,
        path: tuple[str, ...] | None,
        sku: str | None,
        brand: str | None,
        on_sale: bool | None,
        value: Decimal,
        quantity: int,
    ) -> _Seen:
        """A position whose category path is split already."""
        return cls(
            path,
            None if sku is None else (sku.strip() or None),
            None if brand is None else _seen_brand(brand),
            on_sale,
            value,
            quantity if quantity > 1 else 1,
        )


@lru_cache(maxsize=65536)
def _seen_path(category: str) -> tuple[str, ...] | None:
    return split_path(category) if category.strip() else None


@lru_cache(maxsize=65536)
def _seen_brand(brand: str) -> str | None:
    return brand.strip().casefold() or None


def _holds(r: _Prepared, s: _Seen) -> bool:
    return _path_holds(r, s.path) and _rest_holds(r, s)


def _path_holds(r: _Prepared, path: tuple[str, ...] | None) -> bool:
    """Whether the rule's shop-category condition (if any) holds for `path`."""
    if r.path is None:
        return True
    if path is None:
        return False
    kind = r.rule.category_match
    if kind is CategoryMatch.EXACT:
        return path == r.path
    if kind is CategoryMatch.PREFIX:
        return path[: len(r.path)] == r.path
    if r.glob is not None and path:  # a path of no segment is "" joined: the regex would err
        return r.glob.fullmatch(_SEP.join(path)) is not None
    return glob_matches(r.path, path)


def _no_rest(rule: MappingRule) -> bool:
    """Whether the rule has no condition of its own besides category, SKU and brand."""
    return rule.on_sale is None and rule.min_unit_price is None and rule.max_unit_price is None


def _rest_holds(r: _Prepared, s: _Seen) -> bool:
    """Whether the rule's other conditions (SKU, brand, sale flag, unit price) hold for `s`."""
    rule = r.rule
    if r.skus and s.sku not in r.skus:
        return False
    if r.brand is not None and s.brand != r.brand:
        return False
    if rule.on_sale is not None and s.on_sale is not rule.on_sale:
        return False
    # The unit price is value / quantity; compared exactly as value against price × quantity.
    if rule.min_unit_price is not None and s.value < rule.min_unit_price * s.quantity:
        return False
    return rule.max_unit_price is None or s.value <= rule.max_unit_price * s.quantity


def rule_matches(rule: MappingRule, position: ShopPosition) -> bool:
    """Whether `rule` matches `position` (every condition it gives holds)."""
    return _holds(_prepare(rule), _Seen.of(position))


def first_match(rules: Sequence[MappingRule], position: ShopPosition) -> int | None:
    """The index of the first rule that matches, by a scan over every rule (the reference the
    compiled matcher is tested against)."""
    for index, rule in enumerate(rules):
        if rule_matches(rule, position):
            return index
    return None


# --- compiled ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Trie:
    rules: list[int] = field(default_factory=list)
    children: dict[str, _Trie] = field(default_factory=dict)


_MEMO_SIZE = 50_000
# A path's candidate rules: those with further conditions, in rule order, up to the first that
# needs nothing but the path; and that one (see CompiledMapping._path_candidates).
_Candidates = tuple[list[int], int | None]


class CompiledMapping:
    """A version's rules compiled for matching: each rule is indexed under its most selective
    condition (exact path; prefix trie; a glob's first literal segment, or any path for a glob
    that starts with a wildcard; SKUs; brand); rules with only a sale flag or a price range are
    checked for every position (`unindexed`)."""

    def __init__(self, version_id: int, rules: Sequence[MappingRule], default: str) -> None:
        self.version_id = version_id
        self.default = default
        self.rules = tuple(rules)
        self._prepared = [_prepare(r, compiled=True) for r in rules]
        self._exact: dict[tuple[str, ...], list[int]] = {}
        self._trie = _Trie()
        self._globs: dict[str, list[int]] = {}
        self._skus: dict[str, list[int]] = {}
        self._brands: dict[str, list[int]] = {}
        self._any_path: list[int] = []  # globs that start with a wildcard
        self.unindexed: list[int] = []  # no category, SKU or brand condition
        for index, prepared in enumerate(self._prepared):
            self._index(index, prepared)
        self.uses_price = any(
            r.min_unit_price is not None or r.max_unit_price is not None for r in self.rules
        )
        # Rules whose only condition is their category path: such a candidate always holds.
        self._path_only = [
            p.path is not None and not p.skus and p.brand is None and _no_rest(p.rule)
            for p in self._prepared
        ]
        self._by_path: dict[tuple[str, ...], _Candidates] = {}
        self._by_text: dict[str, tuple[tuple[str, ...] | None, _Candidates | None]] = {}
        # Matches are values: one per rule, shared by every position that matches it.
        self._matches = [
            Match(version_id, index, rule.tracking_category) for index, rule in enumerate(rules)
        ]
        self._no_match = Match(version_id, None, default)

    def _index(self, index: int, p: _Prepared) -> None:
        kind = p.rule.category_match
        if p.path is not None and kind is CategoryMatch.EXACT:
            self._exact.setdefault(p.path, []).append(index)
        elif p.path is not None and kind is CategoryMatch.PREFIX:
            node = self._trie
            for segment in p.path:
                node = node.children.setdefault(segment, _Trie())
            node.rules.append(index)
        elif p.path is not None and _is_literal(p.path[0]):
            self._globs.setdefault(p.path[0], []).append(index)
        elif p.skus:
            for sku in p.skus:
                self._skus.setdefault(sku, []).append(index)
        elif p.brand is not None:
            self._brands.setdefault(p.brand, []).append(index)
        elif p.path is not None:  # a glob that starts with a wildcard
            self._any_path.append(index)
        else:  # a sale flag, a price range
            self.unindexed.append(index)

    def _path_candidates(self, path: tuple[str, ...]) -> _Candidates:
        """The rules indexed under a path (exact, prefixes of it, globs of its first segment)
        whose category condition holds for it, in rule order, as the ones with further
        conditions up to the first without (`_path_only`), and that one (None: none): a rule
        after it can never come first. Worked out once per path (a shop sends the same paths
        again and again), so a glob's expression runs once per path, not once per position."""
        found = self._by_path.get(path)
        if found is not None:
            return found
        indexed = list(self._exact.get(path, ()))
        node = self._trie
        indexed.extend(node.rules)
        for segment in path:
            child = node.children.get(segment)
            if child is None:
                break
            node = child
            indexed.extend(node.rules)
        if path:
            indexed.extend(self._globs.get(path[0], ()))
        indexed.extend(self._any_path)
        prepared, path_only = self._prepared, self._path_only
        checked: list[int] = []
        first_holding = None
        for index in sorted(i for i in indexed if _path_holds(prepared[i], path)):
            if path_only[index]:
                first_holding = index
                break
            checked.append(index)
        found = (checked, first_holding)
        if len(self._by_path) >= _MEMO_SIZE:
            self._by_path.clear()
        self._by_path[path] = found
        return found

    def _text_candidates(self, text: str) -> tuple[tuple[str, ...] | None, _Candidates | None]:
        """A shop category as sent: its split path and `_path_candidates` (remembered by the
        text, so a position whose category was seen before costs one lookup)."""
        found = self._by_text.get(text)
        if found is None:
            path = _seen_path(text)
            found = (path, None if path is None else self._path_candidates(path))
            if len(self._by_text) >= _MEMO_SIZE:
                self._by_text.clear()
            self._by_text[text] = found
        return found

    def match_index(self, position: ShopPosition) -> int | None:
        """The index of the first rule (in rule order) that matches `position`."""
        return self._first(_Seen.of(position))

    def _first(self, seen: _Seen, candidates: _Candidates | None = None) -> int | None:
        """Each group of candidates (unindexed; by path; by SKU; by brand) is in rule order, so
        a group is checked only up to its first holding rule, and only below the best index so
        far. `candidates`: the path's, when the caller has them already."""
        prepared = self._prepared
        best: int | None = None
        for index in self.unindexed:  # no category condition
            if _rest_holds(prepared[index], seen):
                best = index
                break
        path = seen.path
        if path is not None:  # the category condition holds already
            checked, first_holding = candidates or self._path_candidates(path)
            for index in checked:
                if best is not None and index >= best:
                    break
                if _rest_holds(prepared[index], seen):
                    best = index
                    break
            else:  # none of them holds: the first that needs nothing more comes first
                if first_holding is not None and (best is None or first_holding < best):
                    best = first_holding
        if seen.sku is not None and (group := self._skus.get(seen.sku)):
            best = _first_holding(group, prepared, seen, best)
        if seen.brand is not None and (group := self._brands.get(seen.brand)):
            best = _first_holding(group, prepared, seen, best)
        return best

    def match_values(self, value: Decimal, quantity: int) -> Match:
        """The match of a position the shop described by nothing but its value."""
        return self.match(ShopPosition(value, quantity=quantity))

    def match(self, position: ShopPosition) -> Match:
        return self._match(_Seen.of(position))

    def match_shop(self, shop: ShopAttributes, value: Decimal, quantity: int) -> Match:
        """`match` of the position `shop` describes (what recording and rating call: no
        ShopPosition is built per position)."""
        text = shop.shop_category
        path, candidates = (None, None) if text is None else self._text_candidates(text)
        seen = _Seen.with_path(path, shop.sku, shop.brand, shop.on_sale, value, quantity)
        index = self._first(seen, candidates)
        return self._no_match if index is None else self._matches[index]

    def _match(self, seen: _Seen) -> Match:
        index = self._first(seen)
        return self._no_match if index is None else self._matches[index]


def _first_holding(
    group: list[int], prepared: list[_Prepared], seen: _Seen, best: int | None
) -> int | None:
    """The first rule of `group` (in rule order) before `best` that holds for `seen`, else
    `best`."""
    for index in group:
        if best is not None and index >= best:
            break
        if _holds(prepared[index], seen):
            return index
    return best


def version_at(versions: Sequence[MappingVersion], instant: datetime) -> MappingVersion | None:
    """The version in effect at `instant`: the latest whose `valid_from` is not after it."""
    best: MappingVersion | None = None
    for version in versions:
        if version.valid_from <= instant and (best is None or version.valid_from > best.valid_from):
            best = version
    return best


@dataclass(frozen=True, slots=True)
class ProgramMappings:
    """A program's mapping history, compiled, latest `valid_from` first: the version in effect
    at an instant is the latest one whose `valid_from` is not after it. Empty: no mapping."""

    versions: tuple[tuple[datetime, CompiledMapping], ...]

    def at(self, instant: datetime) -> tuple[datetime, CompiledMapping] | None:
        for valid_from, compiled in self.versions:
            if valid_from <= instant:
                return valid_from, compiled
        return None


NO_MAPPINGS = ProgramMappings(())


# --- validation -------------------------------------------------------------------------------


def validate_rules(
    rules: Sequence[MappingRule], categories: Mapping[str, bool], field: tuple[str, ...] = ()
) -> tuple[MappingRule, ...]:
    """The rules, cleaned (texts stripped, SKUs de-duplicated in order), or ValidationFailed
    naming every offending field (`rules.<i>.<field>`). `categories`: the program's tracking
    category keys → active. Codes: TOO_MANY_RULES (past `MAX_RULES`), EMPTY_RULE (no
    condition), INVALID_GLOB, UNKNOWN_CATEGORY, INACTIVE_CATEGORY, INVALID_PRICE_RANGE (min >
    max), NEGATIVE_VALUE / INVALID_AMOUNT (a price), TOO_LONG, TOO_MANY_SKUS, BLANK."""
    errors = ErrorCollector()
    base = (*field, "rules")
    if len(rules) > MAX_RULES:
        errors.add(
            "TOO_MANY_RULES",
            f"a mapping version has at most {MAX_RULES} rules, not {len(rules)}",
            base,
        )
        errors.raise_if_any()
    cleaned: list[MappingRule] = []
    for index, rule in enumerate(rules):
        cleaned.append(_validate_rule(errors, rule, categories, (*base, str(index))))
    errors.raise_if_any()
    return tuple(cleaned)


def _validate_rule(
    errors: ErrorCollector,
    rule: MappingRule,
    categories: Mapping[str, bool],
    at: tuple[str, ...],
) -> MappingRule:
    key = rule.tracking_category.strip()
    if not key:
        errors.add("BLANK", "a rule names a tracking category", (*at, "trackingCategory"))
    elif key not in categories:
        errors.add(
            "UNKNOWN_CATEGORY",
            f"the program has no tracking category {key!r}",
            (*at, "trackingCategory"),
        )
    elif not categories[key]:
        errors.add(
            "INACTIVE_CATEGORY",
            f"the tracking category {key!r} is inactive",
            (*at, "trackingCategory"),
        )
    shop_category = _norm(rule.shop_category)
    if shop_category is not None:
        if len(shop_category) > MAX_TEXT:
            errors.add("TOO_LONG", f"at most {MAX_TEXT} characters", (*at, "shopCategory"))
        elif rule.category_match is CategoryMatch.GLOB:
            try:
                parse_glob(shop_category)
            except DomainError as error:
                errors.add(error.code, error.message, (*at, "shopCategory"))
        elif not split_path(shop_category):
            errors.add("BLANK", "the category path has no segment", (*at, "shopCategory"))
    skus: list[str] = []
    for sku in rule.skus:
        s = _norm(sku)
        if s is not None and s not in skus:
            skus.append(s)
    if len(skus) > MAX_SKUS:
        errors.add("TOO_MANY_SKUS", f"a rule lists at most {MAX_SKUS} SKUs", (*at, "skus"))
    if any(len(s) > MAX_TEXT for s in skus):
        errors.add("TOO_LONG", f"a SKU has at most {MAX_TEXT} characters", (*at, "skus"))
    brand = _norm(rule.brand)
    if brand is not None and len(brand) > MAX_TEXT:
        errors.add("TOO_LONG", f"at most {MAX_TEXT} characters", (*at, "brand"))
    low, high = rule.min_unit_price, rule.max_unit_price
    prices_valid = True
    for name, value in (("minUnitPrice", low), ("maxUnitPrice", high)):
        if value is None:
            continue
        if not value.is_finite():
            errors.add("INVALID_AMOUNT", "the price is not a finite number", (*at, name))
            prices_valid = False
        elif value < 0:
            errors.add("NEGATIVE_VALUE", "a price must not be negative", (*at, name))
            prices_valid = False
    if prices_valid and low is not None and high is not None and low > high:
        errors.add(
            "INVALID_PRICE_RANGE",
            f"the minimum unit price {low} exceeds the maximum {high}",
            (*at, "minUnitPrice"),
        )
    result = MappingRule(
        tracking_category=key,
        shop_category=shop_category,
        category_match=rule.category_match,
        skus=tuple(skus),
        brand=brand,
        on_sale=rule.on_sale,
        min_unit_price=low,
        max_unit_price=high,
    )
    if result.is_empty:
        errors.add(
            "EMPTY_RULE",
            "a rule needs at least one condition (shop category, SKU, brand, onSale or a price)",
            at,
        )
    return result


def check_valid_from(valid_from: datetime, field: tuple[str, ...] = ()) -> None:
    """INVALID_DATETIME when `valid_from` has no UTC offset. (Whether it lies in a paid period
    is the CONVERSION_PAID rule of `conversions.check_conversion_may_change`, applied by the
    service to the paid conversions it finds.)"""
    if valid_from.tzinfo is None or valid_from.utcoffset() is None:
        raise ValidationFailed(
            [DomainError("INVALID_DATETIME", "validFrom needs a UTC offset", (*field, "validFrom"))]
        )
