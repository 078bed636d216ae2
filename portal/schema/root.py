"""Assembles the schema from queries, mutations, scalars and limits."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from portal.config import Settings
from portal.observability.graphql import ObserveOperation
from portal.resolvers.billing import BillingQueries
from portal.resolvers.cart_mapping import CartMappingQueries
from portal.resolvers.exports import ExportQueries
from portal.resolvers.imports import ImportQueries
from portal.resolvers.order_books import OrderBookQueries
from portal.resolvers.validation import ValidationQueries
from portal.resolvers.webhooks import WebhookQueries
from portal.schema import variable_coercion
from portal.schema.compiled import CompiledReads, Compiler
from portal.schema.documents import PreparedDocuments
from portal.schema.input_conversion import compile_inputs
from portal.schema.limits import QueryCostLimiter, coded_limits
from portal.schema.mutations import Mutation
from portal.schema.nul_characters import RefuseNulCharacters
from portal.schema.queries import Query
from portal.schema.rate_queries import RatesQuery
from portal.schema.request_queries import RequestQueries
from portal.schema.scalars import SCALAR_MAP
from portal.schema.socket_operations import SubscriptionsOnlyOverSockets
from portal.schema.statistics_queries import StatisticsQueries
from portal.schema.subscriptions import Subscription
from portal.schema.token_queries import TokenQueries
from portal.schema.types.access import ApiToken
from portal.schema.types.base import Node


class PortalSchema(strawberry.Schema):
    compiler: Compiler
    """The compiled read path's plans (the CompiledReads extension and the compiled lane)."""
    max_query_cost: int

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Logged once, with an error id, where they are formatted (portal.schema.errors).
        return None


def described(merged: type, description: str) -> type:
    """merge_types drops descriptions; the root types are the first thing GraphiQL shows."""
    merged.__strawberry_definition__.description = description  # type: ignore[attr-defined]
    return merged


def build_schema(settings: Settings | None = None) -> PortalSchema:
    max_depth = settings.max_depth if settings else 12
    max_aliases = settings.max_aliases if settings else 30
    max_tokens = settings.max_tokens if settings else 5000
    max_cost = settings.max_query_cost if settings else 50_000
    # The rule classes are made once per schema: strawberry's limiters make new classes per
    # instance, and ValidationCache keys on the rule classes, so per-request limiter instances
    # would never hit the cache. The rules keep no state between validations.
    limit_rules = coded_limits(
        QueryDepthLimiter(max_depth=max_depth), MaxAliasesLimiter(max_alias_count=max_aliases)
    )
    compiler = Compiler()  # plans per document, shared by the requests of this schema
    extensions: list[Any] = [
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: PreparedDocuments(maxsize=512),  # parse + validation caches, trusted documents
        RefuseNulCharacters,  # before the cost limiter: a refused request is not charged
        SubscriptionsOnlyOverSockets,  # likewise
        lambda: QueryCostLimiter(max_cost=max_cost),
        # After the limits and the cost: it replaces only the execution of what it supports.
        lambda: CompiledReads(compiler),
        ObserveOperation,
    ]
    if settings is not None and not settings.introspection:
        extensions.append(DisableIntrospection)
    built = PortalSchema(
        query=described(
            merge_types(
                "Query",
                (
                    Query,
                    RequestQueries,
                    ExportQueries,
                    RatesQuery,
                    ImportQueries,
                    TokenQueries,
                    CartMappingQueries,
                    BillingQueries,
                    StatisticsQueries,
                    OrderBookQueries,
                    ValidationQueries,
                    WebhookQueries,
                ),
            ),
            "Reads. Every list and object is limited to what the viewer may see.",
        ),
        mutation=described(
            Mutation, "Writes. Every mutation answers with a payload and `userErrors`."
        ),
        subscription=Subscription,
        types=[Node, ApiToken],
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=True, scalar_map=SCALAR_MAP),
    )
    compile_inputs(built)  # input objects converted by compiled code, not per value
    variable_coercion.install()  # and the variables coerced by compiled code
    built.compiler = compiler
    built.max_query_cost = max_cost
    return built


schema = build_schema()
