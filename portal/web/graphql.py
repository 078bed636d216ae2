"""The GraphQL endpoint: builds the per-request context and formats errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from portal.config import Settings
from portal.observability.graphql import observe_response
from portal.schema.context import Context
from portal.schema.errors import format_error
from portal.web.auth import RequestAuth
from portal.web.faults import mark_unavailable


class PortalGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: Any, settings: Settings, engine: AsyncEngine, queue: Any) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql and settings.introspection else None,
            allow_queries_via_get=True,
            multipart_uploads_enabled=True,
        )
        self.settings = settings
        self.engine = engine
        self.queue = queue
        # Set by the app's lifespan (portal.web.app).
        self.cost_bucket: Any = None
        self.address_bucket: Any = None
        self.login_attempts: Any = None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        auth: RequestAuth = request.scope.get("portal.auth") or RequestAuth(None)
        return Context(
            request=request,  # type: ignore[arg-type]
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            engine=self.engine,
            viewer=auth.authenticated.user.as_viewer() if auth.authenticated else None,
            queue=self.queue,
            cost_bucket=self.cost_bucket,
            address_bucket=self.address_bucket,
            login_attempts=self.login_attempts,
            authenticated_by_cookie=auth.by_cookie,
        )

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:  # type: ignore[override]
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            data["errors"] = [format_error(e) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        observe_response(data)
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        mark_unavailable(response_data, sub_response)
        return super().create_response(response_data, sub_response)
