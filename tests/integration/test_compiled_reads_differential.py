"""The compiled read path (portal.schema.compiled) answers exactly as the general executor.

Every query of frontend_contract/operations/ and a generated corpus of selections (random field
subsets, aliases, `__typename`, inline fragments and named fragments, literals and variables,
filters with own and foreign ids, orderings, page sizes, cursors of other orderings and other
viewers, foreign and unknown ids for `node(id:)`) run against two apps on the same database: one
with the compiled path, one with `compiled_reads=False`. Status, content type and body bytes must
be identical, for every role, on SQLite and PostgreSQL. The compiled app answers every request
twice: an operation it compiled is answered the second time by the compiled lane
(portal.web.compiled_lane), which must answer the same bytes.

`PORTAL_DIFFERENTIAL_EXAMPLES` sets the number of generated operations per role and database
(CI: the default below; `make differential EXAMPLES=2000 SEED=…` runs many more)."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import conversions, programs
from portal.config import Settings
from portal.global_ids import encode_id
from portal.web.app import create_app
from portal.web.compiled_lane import CompiledLane
from tests.api.request_helpers import (
    change_input,
    create_input,
    decide,
    new_order,
    raise_request,
)
from tests.conftest import Api, StatementCounter
from tests.factories import World, build_world

EXAMPLES = int(os.environ.get("PORTAL_DIFFERENTIAL_EXAMPLES", "300"))
OPERATIONS = Path(__file__).parents[2] / "frontend_contract" / "operations"
ROLES = {"PARTNER": "A", "ADVERTISER": "adv1", "ADMIN": "admin"}


@dataclass
class Pair:
    compiled: httpx.AsyncClient
    general: httpx.AsyncClient
    world: World
    paths: dict[str, int]
    lane: CompiledLane

    async def both(
        self, query: str, variables: dict[str, Any] | None, token: str
    ) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        """The compiled app's first and second answer, and the general app's answer. The
        first of a compiled operation comes from the CompiledReads extension, which admits it
        to the compiled lane; the second from the lane (portal.web.compiled_lane)."""
        body = {"query": query, "variables": variables or {}}
        headers = {"Authorization": f"Bearer {token}"}
        compiled = await self.compiled.post("/graphql", json=body, headers=headers)
        served = self.lane.served
        again = await self.compiled.post("/graphql", json=body, headers=headers)
        general = await self.general.post("/graphql", json=body, headers=headers)
        path = compiled.headers.get("portal-execution-path", "none")
        self.paths[path] = self.paths.get(path, 0) + 1
        assert again.headers.get("portal-execution-path", "none") == path
        by_lane = self.lane.served - served
        assert by_lane == (1 if path == "compiled" else 0), (query, variables, path)
        self.paths["lane"] = self.paths.get("lane", 0) + by_lane
        assert general.headers.get("portal-execution-path") in ("general", None)
        return compiled, again, general

    async def same(self, query: str, variables: dict[str, Any] | None, token: str) -> Any:
        compiled, again, general = await self.both(query, variables, token)
        for answer in (compiled, again):
            detail = f"\n{query}\n{variables}\ncompiled: {answer.text}\ngeneral:  {general.text}"
            assert answer.status_code == general.status_code, detail
            assert answer.headers["content-type"] == general.headers["content-type"], detail
            assert answer.content == general.content, detail
        return compiled


async def vary(engine: AsyncEngine, world: World) -> None:
    """Values the generated selections can tell apart: statuses, notes, original amounts,
    sub ids, ties in the sort columns, a conversion whose partner or program the other side may
    not see, and a publicly listed program."""
    a, b = world.conversions["A"], world.conversions["B"]
    t = conversions.c
    async with engine.begin() as conn:
        await conn.execute(update(conversions).where(t.id.in_(a[::3])).values(status="CONFIRMED"))
        await conn.execute(
            update(conversions)
            .where(t.id.in_(b[1::3]))
            .values(status="REJECTED", conversion_note="DUP")
        )
        await conn.execute(
            update(conversions)
            .where(t.id.in_(a[1::2]))
            .values(
                original_order_value=Decimal("123.450000"),
                original_currency="USD",
                exchange_rate=Decimal("0.912345670000"),
                sub_id_1="s1",
                sub_id_4="s4",
                device="mobile",
                commission_model_name=None,
            )
        )
        # ties: the same tracking time and order value (the id breaks them)
        await conn.execute(
            update(conversions)
            .where(t.id.in_(b[:4]))
            .values(tracking_time=world_time(), order_value=Decimal("100.10"))
        )
        # partner C's conversion in program 1 (C has no relationship there): advertiser 1 sees
        # the conversion but not the partner, partner C sees it but not the program
        await conn.execute(
            update(conversions).where(t.id == a[-1]).values(partner_id=world.ids["C"])
        )
        await conn.execute(
            update(programs).where(programs.c.id == world.ids["p2"]).values(publicly_listed=True)
        )


def world_time() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 3, 1, 5, tzinfo=UTC)


@pytest.fixture
async def pair(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Pair]:
    world = await build_world(engine, conversions_per_partner=9)
    await vary(engine, world)
    # A restore rate no request can outrun: both apps report the same throttle status.
    base = replace(settings, rate_limit_restore_rate=10**15)
    compiled_app = create_app(replace(base, compiled_reads=True), engine=engine)
    general_app = create_app(replace(base, compiled_reads=False), engine=engine)
    async with (
        compiled_app.router.lifespan_context(compiled_app),
        general_app.router.lifespan_context(general_app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=compiled_app), base_url="http://portal.test"
        ) as compiled,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=general_app), base_url="http://portal.test"
        ) as general,
    ):
        await raise_requests(Api(general), world)
        failures = Failures()
        logger = logging.getLogger("portal.compiled")
        logger.addHandler(failures)
        try:
            yield Pair(compiled, general, world, {}, compiled_app.state.compiled_lane)
        finally:
            logger.removeHandler(failures)
        # The compiled path falls back to the executor when it fails at run time (its answer
        # is then right); in these tests it must never have failed.
        assert not failures.records, [r.getMessage() for r in failures.records]


class Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def raise_requests(api: Api, world: World) -> None:
    """Conversion requests of both kinds, partners and programs, one rejected (nothing queued:
    a job running between the two paths' answers would change what they read)."""
    p1, p2 = (encode_id("Program", world.ids[k]) for k in ("p1", "p2"))
    made = []
    for index, (who, program) in enumerate([("A", p1), ("A", p1), ("B", p1), ("C", p2)]):
        requested = new_order(f"MISSED-{index}", orderValue=f"{150 + index * 7}.5")
        extra = {"comment": "see the shop's mail"} if index == 1 else {}
        made.append(
            await raise_request(api, world.tokens[who], create_input(program, requested, **extra))
        )
    change = change_input(
        encode_id("Conversion", world.conversions["B"][2]), {"orderValue": "99.99"}
    )
    made.append(await raise_request(api, world.tokens["B"], change))
    rejected = await decide(api, world.tokens["adv1"], made[2]["id"], "REJECT", reason="no")
    assert rejected["userErrors"] == [], rejected


# -- the contract's operations ----------------------------------------------------------------


def contract_variables(name: str, world: World) -> list[dict[str, Any]]:
    p1 = encode_id("Program", world.ids["p1"])
    p2 = encode_id("Program", world.ids["p2"])
    partner = encode_id("Partner", world.ids["A"])
    common = {"from": "2026-01-01", "to": "2026-12-31", "currency": "EUR"}
    return {
        "PartnerConversions": [
            {},
            {"first": 3},
            {"first": 2, "filter": {"programIds": [p1]}},
            {"first": 5, "filter": {"programIds": [p2], "statuses": ["OPEN"]}},
            {"first": 4, "orderBy": {"field": "ORDER_VALUE", "direction": "ASC"}},
            {"filter": {"partnerIds": [partner], "trackedFrom": "2026-03-01T03:00:00+01:00"}},
            {"first": 0},
            {"after": "garbage"},
        ],
        "AdvertiserProgramOverview": [{"id": p1}, {"id": p2, "recentFirst": 3}],
        "ConversionRequestExplorer": [{"createdFrom": "2026-01-01T00:00:00Z"}],
        "AdvertiserDashboard": [common],
        "PartnerDashboard": [common],
    }.get(name, [{}])


def contract_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(OPERATIONS.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        for definition in parse(text).definitions:
            if (
                isinstance(definition, OperationDefinitionNode)
                and definition.operation is OperationType.QUERY
                and definition.name is not None
            ):
                found.append((path.stem, definition.name.value, text))
    return found


async def test_contract_operations_answer_the_same_on_both_paths(pair: Pair) -> None:
    for role in sorted(ROLES):
        token = pair.world.tokens[ROLES[role]]
        for _stem, name, text in contract_queries():
            for variables in contract_variables(name, pair.world):
                response = await pair.same(text, variables, token)
                valid = variables.get("first") != 0 and variables.get("after") is None
                if name in ("PartnerConversions", "ConversionRequestExplorer") and valid:
                    assert response.headers["portal-execution-path"] == "compiled", role
    # the dashboard's list ran compiled; the rest (statistics, overview) through the executor
    assert pair.paths.get("compiled", 0) >= 18
    assert pair.paths.get("general", 0) > 0


# -- a generated corpus -----------------------------------------------------------------------

SCALARS = [
    "id",
    "orderId",
    "conversionTarget",
    "trackingCategory",
    "trackingTime",
    "exchangeRate",
    "commissionModelName",
    "commissionOverridden",
    "status",
    "conversionNote",
    "subIds",
    "device",
    "paid",
    "payoutReserved",
    "createdAt",
    "updatedAt",
    "__typename",
]
MONEY = ["orderValue", "commission", "originalOrderValue"]
PARTNER = ["id", "name", "payoutCurrency", "country", "createdAt", "__typename"]
PROGRAM = [
    "id",
    "name",
    "currency",
    "cookieLifetimeDays",
    "consentMode",
    "followUpPolicy",
    "followUpWindowDays",
    "allowSelfAcceptance",
    "publiclyListed",
    "strictTrackingCategories",
    "createdAt",
    "__typename",
]
ADVERTISER = ["id", "name", "createdAt", "__typename"]
REQUEST_SCALARS = [
    "id",
    "kind",
    "status",
    "comment",
    "commissionModelName",
    "failure",
    "createdAt",
    "updatedAt",
    "processedAt",
    "__typename",
]
REQUESTED = [
    "orderId",
    "conversionTarget",
    "trackingCategory",
    "trackingTime",
    "orderValue",
    "currency",
    "status",
    "commission",
    "subIds",
    "device",
    "conversionNote",
    "__typename",
]
PAGE_INFO = ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]


class Generator:
    """Random GraphQL operations over the compiled types, with the fragments they define."""

    def __init__(self, rng: random.Random, world: World, cursors: list[str]) -> None:
        self.rng = rng
        self.world = world
        self.cursors = cursors
        self.fragments: list[str] = []
        self.aliases = 0

    def key(self, name: str) -> str:
        if self.rng.random() < 0.15 and self.aliases < 20:
            self.aliases += 1
            return f"a{self.aliases}: {name}"
        return name

    def subset(self, names: list[str], at_least: int = 1) -> list[str]:
        chosen = [n for n in names if self.rng.random() < 0.4]
        if len(chosen) < at_least:
            chosen = self.rng.sample(names, at_least)
        self.rng.shuffle(chosen)
        return chosen

    def wrap(self, type_name: str, body: str) -> str:
        """A selection as is, in an inline fragment or in a named fragment."""
        roll = self.rng.random()
        if roll < 0.15:
            return f"... on {type_name} {{ {body} }}"
        if roll < 0.25:
            return f"... {{ {body} }}"
        if roll < 0.4:
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on {type_name} {{ {body} }}")
            return f"...{name}"
        return body

    def conversion(self) -> str:
        parts = [self.key(n) for n in self.subset(SCALARS)]
        for money in MONEY:
            if self.rng.random() < 0.3:
                inner = " ".join(self.subset(["amount", "currency", "__typename"]))
                parts.append(f"{self.key(money)} {{ {inner} }}")
        if self.rng.random() < 0.4:
            inner = self.wrap("Partner", " ".join(self.subset(PARTNER)))
            parts.append(f"{self.key('partner')} {{ {inner} }}")
        if self.rng.random() < 0.4:
            inner = " ".join(self.subset(PROGRAM))
            if self.rng.random() < 0.4:
                inner += f" advertiser {{ {' '.join(self.subset(ADVERTISER))} }}"
            parts.append(f"{self.key('program')} {{ {self.wrap('Program', inner)} }}")
        self.rng.shuffle(parts)
        # the same field twice (merged by GraphQL) now and then
        if self.rng.random() < 0.1:
            parts.append("id")
        return self.wrap("Conversion", " ".join(parts))

    def request(self) -> str:
        parts = [self.key(n) for n in self.subset(REQUEST_SCALARS)]
        if self.rng.random() < 0.5:
            parts.append(f"{self.key('requested')} {{ {' '.join(self.subset(REQUESTED))} }}")
        if self.rng.random() < 0.3:
            inner = " ".join(self.subset(["amount", "currency", "__typename"]))
            parts.append(f"{self.key('commission')} {{ {inner} }}")
        if self.rng.random() < 0.3:
            inner = " ".join(self.subset(["id", "name", "role", "__typename"]))
            parts.append(f"{self.key('createdBy')} {{ {inner} }}")
        if self.rng.random() < 0.3:
            inner = self.wrap("Partner", " ".join(self.subset(PARTNER)))
            parts.append(f"{self.key('partner')} {{ {inner} }}")
        if self.rng.random() < 0.3:
            parts.append(f"{self.key('program')} {{ {' '.join(self.subset(PROGRAM))} }}")
        self.rng.shuffle(parts)
        return self.wrap("ConversionRequest", " ".join(parts))

    def connection(self, safe: bool) -> tuple[str, dict[str, Any], list[str]]:
        if self.rng.random() < 0.3:
            return self.requests(safe)
        rng = self.rng
        parts = []
        if rng.random() < 0.4:
            parts.append(self.key("totalCount"))
        if rng.random() < 0.5:
            parts.append(f"{self.key('pageInfo')} {{ {' '.join(self.subset(PAGE_INFO))} }}")
        if rng.random() < 0.6:
            edge = [p for p in ("cursor", "__typename") if rng.random() < 0.5]
            edge.append(f"node {{ {self.conversion()} }}")
            rng.shuffle(edge)
            parts.append(f"{self.key('edges')} {{ {' '.join(edge)} }}")
        if rng.random() < 0.5 or not parts:
            parts.append(f"{self.key('nodes')} {{ {self.conversion()} }}")
        if rng.random() < 0.1:
            parts.append("__typename")
        rng.shuffle(parts)
        arguments, variables, definitions = self.arguments(safe)
        return f"conversions{arguments} {{ {' '.join(parts)} }}", variables, definitions

    def requests(self, safe: bool) -> tuple[str, dict[str, Any], list[str]]:
        rng, ids = self.rng, self.world.ids
        parts = []
        if rng.random() < 0.4:
            parts.append(self.key("totalCount"))
        if rng.random() < 0.4:
            parts.append(f"{self.key('pageInfo')} {{ {' '.join(self.subset(PAGE_INFO))} }}")
        if rng.random() < 0.5:
            parts.append(f"edges {{ cursor node {{ {self.request()} }} }}")
        if rng.random() < 0.6 or not parts:
            parts.append(f"{self.key('nodes')} {{ {self.request()} }}")
        rng.shuffle(parts)
        given: dict[str, tuple[str, Any]] = {}
        if rng.random() < 0.7:
            given["first"] = ("Int", rng.choice([1, 2, 3, 50] if safe else [1, 2, 3, 50, 0]))
        if rng.random() < 0.3 and self.cursors and not safe:
            given["after"] = ("String", rng.choice(self.cursors))
        filter_: dict[str, Any] = {}
        if rng.random() < 0.3:
            filter_["statuses"] = rng.sample(["INQUIRED", "REJECTED", "ACCEPTED"], 2)
        if rng.random() < 0.2:
            filter_["kinds"] = [rng.choice(["CREATE_NEW", "CHANGE_EXISTING"])]
        if rng.random() < 0.3:
            filter_["programIds"] = [encode_id("Program", ids[rng.choice(["p1", "p2"])])]
        if rng.random() < 0.3:
            filter_["partnerIds"] = [encode_id("Partner", ids[rng.choice("ABC")])]
        if rng.random() < 0.2:
            filter_["createdFrom"] = "2020-01-01T00:00:00Z"
        if rng.random() < 0.1:
            filter_["orderId"] = rng.choice(["MISSED-1", "B-2"])
        if filter_:
            given["filter"] = ("ConversionRequestFilterInput", filter_)
        if rng.random() < 0.5:
            order = {
                "field": rng.choice(["CREATED_AT", "UPDATED_AT", "TRACKING_TIME", "COMMISSION"]),
                "direction": rng.choice(["ASC", "DESC"]),
            }
            given["orderBy"] = ("ConversionRequestOrder", order)
        arguments, variables, definitions = self.render(given)
        return f"conversionRequests{arguments} {{ {' '.join(parts)} }}", variables, definitions

    def arguments(self, safe: bool) -> tuple[str, dict[str, Any], list[str]]:
        """Arguments of `conversions`; `safe` ones are valid: when two root fields of the
        general path both fail, which error it reports depends on timing (graphql-core answers
        the first non-null failure), so an operation with two roots keeps to valid ones."""
        rng, ids = self.rng, self.world.ids
        given: dict[str, tuple[str, Any]] = {}
        if rng.random() < 0.7:
            sizes = [1, 2, 3, 5, 8, 50, 100] if safe else [1, 2, 3, 5, 8, 50, 100, 0, 101]
            given["first"] = ("Int", rng.choice(sizes))
        elif rng.random() < 0.3:
            given["last"] = ("Int", rng.choice([1, 2, 4]))
        if rng.random() < 0.3 and self.cursors and not safe:
            name = "before" if "last" in given or rng.random() < 0.2 else "after"
            given[name] = ("String", rng.choice(self.cursors))
        filter_: dict[str, Any] = {}
        if rng.random() < 0.3:
            filter_["programIds"] = [
                encode_id("Program", ids[k]) for k in rng.sample(["p1", "p2"], rng.randint(1, 2))
            ]
        if rng.random() < 0.3:
            filter_["partnerIds"] = [
                encode_id("Partner", ids[k]) for k in rng.sample(["A", "B", "C"], rng.randint(1, 2))
            ]
        if rng.random() < 0.2:
            filter_["statuses"] = rng.sample(["OPEN", "CONFIRMED", "REJECTED"], rng.randint(1, 2))
        if rng.random() < 0.15:
            filter_["trackedFrom"] = "2026-03-01T02:00:00Z"
        if rng.random() < 0.15:
            filter_["trackedTo"] = "2026-03-01T06:00:00+01:00"
        if rng.random() < 0.1:
            filter_["orderId"] = rng.choice(["A-1", "B-2", "nothing"])
        if rng.random() < 0.05 and not safe:
            filter_["programIds"] = ["not-an-id"]
        if filter_:
            given["filter"] = ("ConversionFilterInput", filter_)
        if rng.random() < 0.4:
            order: dict[str, Any] = {}
            if rng.random() < 0.8:
                order["field"] = rng.choice(
                    ["TRACKING_TIME", "ORDER_VALUE", "COMMISSION", "CREATED_AT"]
                )
            if rng.random() < 0.7:
                order["direction"] = rng.choice(["ASC", "DESC"])
            given["orderBy"] = ("ConversionOrder", order)
        return self.render(given)

    def render(self, given: dict[str, tuple[str, Any]]) -> tuple[str, dict[str, Any], list[str]]:
        rng = self.rng
        if not given:
            return "", {}, []
        as_variables = rng.random() < 0.5
        texts, variables, definitions = [], {}, []
        for name, (type_name, value) in given.items():
            if as_variables:
                var = f"v{len(self.fragments)}_{name}_{rng.randint(0, 10**6)}"
                texts.append(f"{name}: ${var}")
                variables[var] = value
                definitions.append(f"${var}: {type_name}")
            else:
                texts.append(f"{name}: {literal(value)}")
        return f"({', '.join(texts)})", variables, definitions

    def node(self) -> tuple[str, dict[str, Any], list[str]]:
        world = self.world
        candidates = [
            encode_id("Conversion", world.conversions[k][i]) for k in "ABC" for i in (0, 4, 8)
        ] + [
            encode_id("Conversion", 987654),
            encode_id("Program", world.ids["p1"]),
            "bm90IGFuIGlk",
            "***",
        ]
        value = self.rng.choice(candidates)
        field = self.rng.choice(["node", "node", "conversion"])
        body = self.conversion()
        if field == "node":
            body = self.rng.choice(["id ", "__typename ", ""]) + (
                body if body.startswith("...") else f"... on Conversion {{ {body} }}"
            )
            if self.rng.random() < 0.2:
                body += " ... on Program { name }"
        if self.rng.random() < 0.5:
            return f"{self.key(field)}(id: $id) {{ {body} }}", {"id": value}, ["$id: ID!"]
        return f"{self.key(field)}(id: {literal(value)}) {{ {body} }}", {}, []

    def operation(self) -> tuple[str, dict[str, Any]]:
        self.fragments = []
        self.aliases = 0
        roots, variables, definitions = [], {}, []
        count = self.rng.choice([1, 1, 1, 2])
        for index in range(count):
            if self.rng.random() < 0.75:
                text, values, defs = self.connection(safe=count > 1)
            else:
                text, values, defs = self.node()
                if index:  # a second `node` needs its own key
                    text = f"second{index}: {text}" if ":" not in text.split("(")[0] else text
            roots.append(text)
            variables.update(values)
            definitions.extend(d for d in defs if d not in definitions)
        if len(roots) == 2 and roots[0].split("(")[0] == roots[1].split("(")[0]:
            roots[1] = f"other: {roots[1]}" if ":" not in roots[1].split("(")[0] else roots[1]
        header = f"({', '.join(definitions)})" if definitions else ""
        query = f"query Generated{header} {{ {' '.join(roots)} }}"
        return "\n".join([query, *self.fragments]), variables


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if value in ("OPEN", "CONFIRMED", "REJECTED", "TRACKING_TIME", "ORDER_VALUE"):
            return value
        if value in ("COMMISSION", "CREATED_AT", "ASC", "DESC", "UPDATED_AT", "INQUIRED"):
            return value
        if value in ("ACCEPTED", "CREATE_NEW", "CHANGE_EXISTING"):
            return value
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


async def harvest_cursors(pair: Pair) -> list[str]:
    """Cursors of every ordering, as each viewer got them (a cursor of another viewer names
    rows the viewer may not see: it must page the viewer's own rows, never reveal others)."""
    cursors: list[str] = []
    for token_key in ("A", "C", "adv1", "admin"):
        for field in ("TRACKING_TIME", "ORDER_VALUE", "COMMISSION", "CREATED_AT"):
            for direction in ("ASC", "DESC"):
                query = (
                    f"{{ conversions(first: 4, orderBy: {{field: {field}, direction: {direction}}})"
                    " { edges { cursor } } }"
                )
                response = await pair.general.post(
                    "/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {pair.world.tokens[token_key]}"},
                )
                edges = response.json()["data"]["conversions"]["edges"]
                cursors += [e["cursor"] for e in edges[1:3]]
    return cursors


async def test_generated_operations_answer_the_same_on_both_paths(pair: Pair) -> None:
    cursors = await harvest_cursors(pair)
    seed = int(os.environ.get("PORTAL_DIFFERENTIAL_SEED", "13"))
    for role in sorted(ROLES):
        generator = Generator(random.Random(f"{seed}:{role}"), pair.world, cursors)
        token = pair.world.tokens[ROLES[role]]
        before = pair.paths.get("compiled", 0)
        for _ in range(EXAMPLES):
            query, variables = generator.operation()
            await pair.same(query, variables, token)
        # Most of the corpus ran compiled (the rest: invalid arguments, other kinds of node).
        assert pair.paths.get("compiled", 0) - before > EXAMPLES // 2, (role, pair.paths)


# -- visibility on the compiled path ----------------------------------------------------------


async def test_compiled_path_keeps_foreign_rows_out(pair: Pair) -> None:
    """Foreign ids in filters, a cursor of another viewer and `node(id:)` of a foreign object
    read, on the compiled path, exactly as if those rows did not exist."""
    world = pair.world
    token = world.tokens["B"]
    fields = "nodes { id orderId partner { id } program { id } } pageInfo { hasNextPage }"
    foreign_program = encode_id("Program", world.ids["p2"])
    foreign_partner = encode_id("Partner", world.ids["A"])
    response = await pair.same(
        f'{{ conversions(filter: {{programIds: ["{foreign_program}"]}}) {{ totalCount {fields} }} }}',  # noqa: E501
        None,
        token,
    )
    assert response.headers["portal-execution-path"] == "compiled"
    assert response.json()["data"]["conversions"]["totalCount"] == 0
    response = await pair.same(
        f'{{ conversions(filter: {{partnerIds: ["{foreign_partner}"]}}) {{ totalCount {fields} }} }}',  # noqa: E501
        None,
        token,
    )
    assert response.json()["data"]["conversions"] == {
        "totalCount": 0,
        "nodes": [],
        "pageInfo": {"hasNextPage": False},
    }
    # a cursor of partner A's list pages B's own rows only
    first = await pair.general.post(
        "/graphql",
        json={"query": "{ conversions(first: 2) { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {world.tokens['A']}"},
    )
    cursor = first.json()["data"]["conversions"]["edges"][0]["cursor"]
    response = await pair.same(
        "query($c: String) { conversions(after: $c) { totalCount " + fields + " } }",
        {"c": cursor},
        token,
    )
    assert response.headers["portal-execution-path"] == "compiled"
    own = {encode_id("Conversion", i) for i in world.conversions["B"]}
    assert {n["id"] for n in response.json()["data"]["conversions"]["nodes"]} <= own
    # node(id:) of partner A's conversion, and of partner B's own
    for id_, visible in (
        (encode_id("Conversion", world.conversions["A"][0]), False),
        (encode_id("Conversion", world.conversions["B"][0]), True),
    ):
        response = await pair.same(
            "query($id: ID!) { node(id: $id) { id ... on Conversion { orderId } } }",
            {"id": id_},
            token,
        )
        assert response.headers["portal-execution-path"] == "compiled"
        assert (response.json()["data"]["node"] is not None) is visible
    # the explorer: a foreign partner id finds nothing; the own list only the own requests
    explorer = "{ conversionRequests(%s) { totalCount nodes { id partner { id } } } }"
    response = await pair.same(
        explorer % f'filter: {{partnerIds: ["{foreign_partner}"]}}', None, token
    )
    assert response.headers["portal-execution-path"] == "compiled"
    assert response.json()["data"]["conversionRequests"] == {"totalCount": 0, "nodes": []}
    response = await pair.same(explorer % "first: 50", None, token)
    requests = response.json()["data"]["conversionRequests"]
    assert requests["totalCount"] == 2
    assert {n["partner"]["id"] for n in requests["nodes"]} == {encode_id("Partner", world.ids["B"])}
    # the advertiser sees its conversion whose partner is not its partner, without the partner
    response = await pair.same(
        "query($id: ID!) { node(id: $id) { ... on Conversion { partner { id name } } } }",
        {"id": encode_id("Conversion", world.conversions["A"][-1])},
        world.tokens["adv1"],
    )
    assert response.json()["data"]["node"] == {"partner": None}


# -- statements -------------------------------------------------------------------------------

DASHBOARD = """
query Dashboard($first: Int!, $after: String) {
  conversions(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id orderId trackingTime status
      orderValue { amount currency } commission { amount currency }
      partner { id name } program { id name currency advertiser { id name } }
    } }
  }
}
"""


async def test_compiled_statements_do_not_grow_with_page_size(
    pair: Pair, engine: AsyncEngine
) -> None:
    statements = StatementCounter(engine)
    try:
        for viewer in ("A", "adv1", "admin"):
            token = pair.world.tokens[viewer]
            await pair.compiled.post(  # the token's first use records it (an UPDATE, once a minute)
                "/graphql",
                json={"query": DASHBOARD, "variables": {"first": 1}},
                headers={"Authorization": f"Bearer {token}"},
            )
            counts = {}
            for first in (1, 5, 100):
                statements.reset()
                response = await pair.compiled.post(
                    "/graphql",
                    json={"query": DASHBOARD, "variables": {"first": first}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.headers["portal-execution-path"] == "compiled"
                page = response.json()["data"]["conversions"]
                assert len(page["edges"]) == min(first, page["totalCount"])
                counts[first] = statements.count
                reads = [s for s in statements.statements if "conversions" in s]
                assert len(reads) == 2, reads  # the page (with its joins) and the count
                # the page + count, nothing per row or per object, none for the (cached) token
                assert statements.count == 2, statements.statements
            assert counts[1] == counts[5] == counts[100], (viewer, counts)
    finally:
        statements.close()
