"""The ASGI application: `create_app()` wires settings, database, queue and routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.adapters.database import create_engine, create_read_engine
from portal.adapters.token_cache import RedisTokenRevocations, TokenCache, register_token_cache
from portal.config import Settings
from portal.heap import freeze_startup_heap
from portal.jobs.runtime import start_queue
from portal.observability import metrics as portal_metrics
from portal.observability import tracing
from portal.observability.logs import configure_logging
from portal.observability.requests import ObserveRequests
from portal.observability.sql import instrument_engine, retire_engine
from portal.resolvers.cart_mapping import CART_MAPPING_FILES_PATH
from portal.resolvers.imports import TEMPLATE_PATH
from portal.resolvers.order_books import ORDER_BOOK_FILES_PATH, TRACKING_DIFFERENCE_FILES_PATH
from portal.resolvers.validation import VALIDATION_TEMPLATE_PATH
from portal.schema import build_schema
from portal.schema.documents import TrustedDocuments
from portal.schema.types.imports import IMPORT_FILES_PATH
from portal.schema.types.jobs import DOWNLOAD_PATH
from portal.web.auth import CSRF_HEADER, authenticate
from portal.web.body_limit import LimitRequestBody
from portal.web.compiled_lane import CompiledLane
from portal.web.compression import compressed
from portal.web.csrf import CSRF_TOKEN_PATH, csrf_token_endpoint
from portal.web.downloads import (
    billing_download,
    cart_mapping_download,
    export_download,
    import_error_report,
    import_result_report,
    order_book_template_download,
    template_download,
    tracking_difference_download,
    validation_template_download,
)
from portal.web.faults import AnswerUnavailable
from portal.web.graphiql import ASSETS_PATH, graphiql_asset
from portal.web.graphql import PortalGraphQL
from portal.web.health import health, ready
from portal.web.metrics import metrics
from portal.web.security_headers import SecurityHeaders
from portal.web.throttles import Throttles


class AuthenticateGraphQL:
    """Authenticates download requests before the handler runs (/graphql does it itself)."""

    def __init__(self, app: ASGIApp, engine: AsyncEngine, tokens: TokenCache) -> None:
        self.app = app
        self.engine = engine
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] != "OPTIONS":
            outcome = await authenticate(Request(scope), self.engine, self.tokens)
            if isinstance(outcome, Response):
                await outcome(scope, receive, send)
                return
            scope["portal.auth"] = outcome
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    queue: Any = None,
    *,
    freeze_heap: bool = False,
) -> Starlette:
    settings = settings or Settings.from_env()
    documents = TrustedDocuments.for_settings(settings)  # first: a broken one stops the start
    owns_engine = engine is None
    engine = engine or create_engine(settings.database_url)
    instrument_engine(engine)
    # This app's own: token ids and secrets belong to its database.
    tokens = TokenCache(settings.token_cache_seconds)
    register_token_cache(engine, tokens)
    schema = build_schema(settings)
    graphql = PortalGraphQL(schema, settings, engine, queue, documents, tokens=tokens)
    lane = CompiledLane(schema)
    graphql.hooks.append(lane)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.engine = engine
        read_engine = create_read_engine(engine)
        instrument_engine(read_engine)
        graphql.read_engine = app.state.read_engine = read_engine
        owns_queue = graphql.queue is None
        if owns_queue:
            graphql.queue = await start_queue(settings, engine)
        app.state.queue = graphql.queue
        relay = None
        revocations = None
        if settings.redis_url:
            from portal.adapters.event_store import register_live_relay
            from portal.adapters.live_events import HUB, RedisRelay
            from portal.jobs.queue import namespace_of

            relay = RedisRelay.connect(settings.redis_url, namespace_of(settings.database_url))
            await relay.listen(HUB)
            register_live_relay(engine, relay)
            # Published even with this instance's cache off (other instances may cache).
            revocations = RedisTokenRevocations.connect(
                settings.redis_url, namespace_of(settings.database_url)
            )
            tokens.publisher = revocations
            if tokens.enabled:
                await revocations.listen(tokens)
        throttles = Throttles.for_settings(settings)
        graphql.cost_bucket = throttles.users
        graphql.address_bucket = throttles.addresses
        graphql.login_attempts = throttles.login_attempts
        if freeze_heap:
            freeze_startup_heap()
        try:
            yield
        finally:
            if owns_queue:
                await graphql.queue.close()
            if relay is not None:
                from portal.adapters.event_store import register_live_relay

                register_live_relay(engine, None)
                await relay.close()
            if revocations is not None:
                tokens.publisher = None
                await revocations.close()
            await throttles.close()
            graphql.read_engine = None
            if read_engine is not engine:
                await read_engine.dispose()
                retire_engine(read_engine)
            if owns_engine:
                await engine.dispose()
            portal_metrics.process_ended()

    async def root(_: Request) -> Response:
        return RedirectResponse("/graphql")

    # Outermost: the request line, the metrics and the span cover everything below.
    middleware = [Middleware(ObserveRequests), Middleware(SecurityHeaders)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_credentials=True,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", CSRF_HEADER],
            )
        )
    # Inside CORS, so its 503 answers carry the CORS headers too.
    middleware.append(Middleware(AnswerUnavailable))
    app = Starlette(
        routes=[
            Route("/", root),
            Route("/health", health),
            Route("/ready", ready(engine, settings)),
            Route("/metrics", metrics(engine, _queue_of, tokens)),
            # Every method reaches the endpoint, which answers 405 as a GraphQL error itself.
            Route("/graphql", compressed(LimitRequestBody(graphql))),
            WebSocketRoute("/graphql", graphql),
            Route(
                ASSETS_PATH + "{path:path}",
                compressed(request_response(graphiql_asset)),
                methods=["GET"],
            ),
            Route(CSRF_TOKEN_PATH, csrf_token_endpoint(engine), methods=["GET"]),
            Route(
                DOWNLOAD_PATH + "{job_id}",
                AuthenticateGraphQL(request_response(export_download(engine)), engine, tokens),
                methods=["GET"],
            ),
            Route(
                IMPORT_FILES_PATH + "{job_id}/errors.{format:str}",
                AuthenticateGraphQL(
                    request_response(import_error_report(engine, settings)), engine, tokens
                ),
                methods=["GET"],
            ),
            Route(
                IMPORT_FILES_PATH + "{job_id}/results.{format:str}",
                AuthenticateGraphQL(
                    request_response(import_result_report(engine, settings)), engine, tokens
                ),
                methods=["GET"],
            ),
            Route(
                "/files/billing/{kind:str}/{id:str}.{ext:str}",
                AuthenticateGraphQL(request_response(billing_download(engine)), engine, tokens),
                methods=["GET"],
            ),
            Route(
                TEMPLATE_PATH + ".{format:str}",
                AuthenticateGraphQL(request_response(template_download(engine)), engine, tokens),
                methods=["GET"],
            ),
            Route(
                ORDER_BOOK_FILES_PATH + "template.{format:str}",
                AuthenticateGraphQL(
                    request_response(order_book_template_download(engine)), engine, tokens
                ),
                methods=["GET"],
            ),
            Route(
                TRACKING_DIFFERENCE_FILES_PATH + "{program_id}/{period}.{format:str}",
                AuthenticateGraphQL(
                    request_response(tracking_difference_download(engine)), engine, tokens
                ),
                methods=["GET"],
            ),
            Route(
                VALIDATION_TEMPLATE_PATH + ".{format:str}",
                AuthenticateGraphQL(
                    request_response(validation_template_download()), engine, tokens
                ),
                methods=["GET"],
            ),
            Route(
                CART_MAPPING_FILES_PATH + "{program_id}.{format:str}",
                AuthenticateGraphQL(
                    request_response(cart_mapping_download(engine)), engine, tokens
                ),
                methods=["GET"],
            ),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.token_cache = tokens
    app.state.compiled_lane = lane
    return app


def _queue_of(request: Request) -> Any:
    """The app's job queue, once its lifespan has started it."""
    return getattr(request.app.state, "queue", None)


def create_served_app() -> Starlette:
    """The app as `portal serve` runs it (uvicorn's factory, in each worker process): logging
    and tracing set up from the environment, its start-up heap frozen."""
    settings = Settings.from_env()
    configure_logging(secrets=[settings.secret_key])
    tracing.configure_from_env()
    return create_app(settings, freeze_heap=True)
