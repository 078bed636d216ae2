"""The compiled path keeps prepared statements per (plan, viewer, variables), bounded over all
plans (portal.schema.compiled.Compiler.prepare)."""

from __future__ import annotations

from typing import Any

from graphql import parse

from portal.domain.access import Role, Viewer
from portal.schema.compiled import (
    ADMITTED_TEXT_CHARS,
    PREPARED_KEY_BYTES,
    Admitted,
    Compiler,
    declared_values,
)

ADVERTISER = Viewer(user_id=2, role=Role.ADVERTISER, advertiser_id=1)
PARTNER = Viewer(user_id=3, role=Role.PARTNER, partner_id=1)


class CountingPlan:
    """Stands in for a Plan: counts how often its statements are built."""

    def __init__(self, answer: Any = "statements") -> None:
        self.built = 0
        self.answer = answer
        self.operation = parse(
            "query Page($first: Int, $after: String, $ids: [ID!]) { __typename }"
        ).definitions[0]

    def prepare(self, schema: Any, viewer: Any, engine: Any, variables: Any) -> Any:
        self.built += 1
        return None if self.answer is None else [self.answer, viewer, dict(variables)]


def test_the_same_viewer_and_variables_reuse_the_statements() -> None:
    compiler = Compiler()
    plan = CountingPlan()
    first = compiler.prepare(plan, None, ADVERTISER, None, {"first": 50, "after": None})
    again = compiler.prepare(plan, None, ADVERTISER, None, {"after": None, "first": 50})
    assert again is first and plan.built == 1  # key order does not matter


def test_another_viewer_or_other_variables_get_statements_of_their_own() -> None:
    compiler = Compiler()
    plan = CountingPlan()
    mine = compiler.prepare(plan, None, ADVERTISER, None, {"first": 50})
    theirs = compiler.prepare(plan, None, PARTNER, None, {"first": 50})
    other_page = compiler.prepare(plan, None, ADVERTISER, None, {"first": 10})
    assert plan.built == 3
    assert mine[1] is ADVERTISER and theirs[1] is PARTNER and other_page[2] == {"first": 10}


def test_a_fallback_is_not_kept_and_the_cache_is_bounded_over_all_plans() -> None:
    compiler = Compiler(prepared=3)
    failing = CountingPlan(answer=None)
    for _ in range(2):
        assert compiler.prepare(failing, None, ADVERTISER, None, {}) is None
    assert failing.built == 2  # arguments the general path must report: never kept
    plans = [CountingPlan() for _ in range(4)]
    for plan in plans:
        compiler.prepare(plan, None, ADVERTISER, None, {"first": 1})
    assert len(compiler._prepared) == 3
    compiler.prepare(plans[0], None, ADVERTISER, None, {"first": 1})  # the oldest: evicted
    assert plans[0].built == 2 and plans[3].built == 1


def test_only_declared_variables_key_the_statements_and_big_ones_are_not_kept() -> None:
    """What a client adds beyond the operation's variables, or sends in bulk, cannot fill the
    memory: undeclared values do not make entries, and values past PREPARED_KEY_BYTES are
    prepared every time."""
    compiler = Compiler()
    plan = CountingPlan()
    for junk in range(5):
        compiler.prepare(
            plan, None, ADVERTISER, None, {"first": 5, "junk": "x" * 10_000 + str(junk)}
        )
    assert plan.built == 1 and len(compiler._prepared) == 1
    many = [f"UHJvZ3JhbTo{i}" for i in range(PREPARED_KEY_BYTES // 10)]
    for _ in range(2):
        compiler.prepare(plan, None, ADVERTISER, None, {"first": 5, "ids": many})
    assert plan.built == 3 and len(compiler._prepared) == 1


def test_admitted_operations_are_kept_per_text_and_name_and_bounded() -> None:
    """The compiled lane's memory (`Compiler.admit`): the same text under another operation
    name is another entry, and the least recently used is
    forgotten beyond the bound."""
    compiler = Compiler(size=2)
    document = parse("query A { __typename } query B { __typename }")
    plan: Any = CountingPlan()
    compiler.admit("q", "A", Admitted(document, plan, "A"))
    assert compiler.admitted("q", "A") is not None
    assert compiler.admitted("q", "B") is None and compiler.admitted("q", None) is None
    compiler.admit("q", "B", Admitted(document, plan, "B"))
    compiler.admitted("q", "A")  # used: now the most recent
    compiler.admit("r", None, Admitted(document, plan, None))
    assert compiler.admitted("q", "B") is None  # the least recently used
    assert compiler.admitted("q", "A") is not None and compiler.admitted("r", None) is not None


def test_the_lane_keeps_costs_per_operation_and_declared_values_bounded() -> None:
    """`Compiler.keep_cost`/`known_cost`: undeclared variables do not matter, values too big
    to keep are not kept, and the costs share one bound over all operations."""
    compiler = Compiler(prepared=2)
    plan: Any = CountingPlan()
    mine = Admitted(parse("{ __typename }"), plan, None)
    other = Admitted(parse("{ __typename }"), plan, None)
    fifty = declared_values(plan.operation, {"first": 50, "junk": 1})
    assert fifty == declared_values(plan.operation, {"first": 50})
    assert compiler.known_cost(mine, fifty) is None
    compiler.keep_cost(mine, fifty, 7)
    assert compiler.known_cost(mine, fifty) == 7
    assert compiler.known_cost(other, fifty) is None  # another operation
    big = declared_values(plan.operation, {"ids": ["x" * 100] * (PREPARED_KEY_BYTES // 100)})
    assert big is None
    compiler.keep_cost(mine, big, 9)
    assert compiler.known_cost(mine, big) is None
    compiler.keep_cost(other, fifty, 8)
    compiler.known_cost(mine, fifty)  # used: now the most recent
    compiler.keep_cost(mine, declared_values(plan.operation, {"first": 10}), 3)
    assert compiler.known_cost(other, fifty) is None  # the least recently used
    assert compiler.known_cost(mine, fifty) == 7


def test_long_documents_are_not_admitted() -> None:
    compiler = Compiler()
    plan: Any = CountingPlan()
    document = parse("{ __typename }")
    long = "{ __typename }" + " " * ADMITTED_TEXT_CHARS
    compiler.admit(long, None, Admitted(document, plan, None))
    assert compiler.admitted(long, None) is None
