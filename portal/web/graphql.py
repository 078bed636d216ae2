"""The GraphQL endpoint (GraphQL over HTTP).

An HTTP request goes through these steps, each in its own module:

1. media type: `Accept` negotiation (portal.web.media_types); GraphiQL for a browser's GET;
2. authentication (portal.web.auth), before any GraphQL work;
3. request parsing: GET parameters, JSON or multipart body (portal.web.graphql_request);
4. the document: query text or a trusted document id, and the trusted-documents-only policy
   (portal.schema.documents);
5. **the seam**: every hook in `PortalGraphQL.hooks` gets the `PreparedRequest` and may answer
   it completely (e.g. a compiled read path); the first answer wins;
6. strawberry executes it; the result becomes the answer with the status code the media type
   requires (portal.web.graphql_response).

Every refusal on the way is a GraphQL error body with `extensions.code`
(portal.web.error_bodies), never a plain-text answer. WebSockets stay with strawberry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from portal.adapters.token_cache import TokenCache
from portal.config import Settings
from portal.domain.access import Role
from portal.schema.context import Context
from portal.schema.documents import TrustedDocument, TrustedDocuments
from portal.web.auth import RequestAuth, authenticate, authenticate_socket
from portal.web.body_limit import BodyTooLarge
from portal.web.error_bodies import RequestError, bad_request, error_response
from portal.web.faults import unavailable_error
from portal.web.graphiql import GraphiQLPage
from portal.web.graphql_request import GraphQLRequest, read_graphql_request
from portal.web.graphql_response import graphql_response, request_error_result, response_body
from portal.web.media_types import MediaType, accepts_html, negotiate

log = logging.getLogger("portal.web")
ALLOWED_METHODS = "GET, POST"


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A parsed and authenticated GraphQL request, just before strawberry would execute it."""

    http: Request
    graphql: GraphQLRequest
    document: TrustedDocument | None
    """The trusted document it names (by id, or by sending exactly its text), if any."""
    media_type: MediaType
    context: Context

    @property
    def query(self) -> str:
        text = self.document.text if self.document else self.graphql.query
        assert text is not None
        return text

    @property
    def allowed_operations(self) -> frozenset[OperationType]:
        if self.graphql.method == "GET":
            return frozenset({OperationType.QUERY})
        return frozenset({OperationType.QUERY, OperationType.MUTATION})


RequestHook = Callable[[PreparedRequest], Awaitable[Response | None]]
"""Answers a prepared request itself (use `graphql_response` for the body and status), or
returns None to let strawberry execute it."""


class PortalGraphQL(GraphQL[Context, None]):
    def __init__(
        self,
        schema: Any,
        settings: Settings,
        engine: AsyncEngine,
        queue: Any,
        documents: TrustedDocuments | None = None,
        tokens: TokenCache | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide=None, allow_queries_via_get=True)
        self.settings = settings
        self.engine = engine
        self.queue = queue
        self.tokens = tokens
        # Set by the app's lifespan (portal.web.app).
        self.read_engine: AsyncEngine | None = None
        self.cost_bucket: Any = None
        self.address_bucket: Any = None
        self.login_attempts: Any = None
        self.documents = documents or TrustedDocuments()
        self.hooks: list[RequestHook] = []
        login = self.documents.by_operation("Login")
        logout = self.documents.by_operation("Logout")
        self.graphiql = (
            GraphiQLPage(login.id if login else None, logout.id if logout else None)
            if settings.graphiql and settings.introspection
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = negotiate(request.headers.get("accept"))
        try:
            response = await self._answer(request, media_type)
        except RequestError as error:
            response = error_response(error, media_type)
        except (ClientDisconnect, BodyTooLarge):  # answered by the server / LimitRequestBody
            raise
        except Exception as error:
            if (unavailable := unavailable_error(error)) is not None:
                await error_response(unavailable, media_type)(scope, receive, send)
                return
            error_id = uuid.uuid4().hex[:12]
            log.exception("unexpected error %s in the HTTP layer", error_id)
            response = error_response(
                RequestError(500, "INTERNAL", f"Internal error (id {error_id}).", reason=None),
                media_type,
            )
            response.headers["x-error-id"] = error_id
        await response(scope, receive, send)

    async def _answer(self, request: Request, media_type: MediaType | None) -> Response:
        if request.method not in ("GET", "POST"):
            raise RequestError(
                405,
                "METHOD_NOT_ALLOWED",
                f"use GET (queries) or POST, not {request.method}",
                headers={"Allow": ALLOWED_METHODS},
            )
        if self.graphiql and self._wants_graphiql(request):
            return self.graphiql.response()
        if media_type is None:
            raise RequestError(
                406,
                "NOT_ACCEPTABLE",
                "accept application/graphql-response+json or application/json",
            )
        auth = await authenticate(request, self.engine, self.tokens)
        if isinstance(auth, Response):
            auth.headers["content-type"] = media_type.content_type
            return auth
        request.scope["portal.auth"] = auth
        async with read_graphql_request(request, uploads=True) as parsed:
            document = self._trusted_document(parsed, auth)
            sub_response = await self.get_sub_response(request)
            context = await self.get_context(request, sub_response)
            context.trusted_document = document
            context.variables_nul_free = parsed.variables_nul_free
            prepared = PreparedRequest(request, parsed, document, media_type, context)
            for hook in self.hooks:
                answer = await hook(prepared)
                if answer is not None:
                    return answer
            result = await self._execute(prepared)
            return graphql_response(result, media_type, sub_response)

    @staticmethod
    def _wants_graphiql(request: Request) -> bool:
        params = request.query_params
        return (
            request.method == "GET"
            and "query" not in params
            and "documentId" not in params
            and accepts_html(request.headers.get("accept"))
        )

    def _trusted_document(
        self, parsed: GraphQLRequest, auth: RequestAuth
    ) -> TrustedDocument | None:
        if parsed.document_id is not None:
            document = self.documents.get(parsed.document_id)
            if document is None:
                raise RequestError(
                    400,
                    "TRUSTED_DOCUMENT_NOT_FOUND",
                    f"no trusted document has the id {parsed.document_id}",
                )
            return document
        assert parsed.query is not None
        document = self.documents.matching(parsed.query)
        if document is None and self.settings.trusted_documents_only and not _is_admin(auth):
            raise RequestError(
                403,
                "TRUSTED_DOCUMENT_REQUIRED",
                "this server runs only trusted documents: send a `documentId` "
                "(see frontend_contract/operations)",
            )
        return document

    async def _execute(self, prepared: PreparedRequest) -> ExecutionResult:
        try:
            return await self.schema.execute(
                prepared.query,
                variable_values=prepared.graphql.variables,
                context_value=prepared.context,
                operation_name=prepared.graphql.operation_name,
                allowed_operation_types=prepared.allowed_operations,
                operation_extensions=prepared.graphql.extensions,
            )
        except InvalidOperationTypeError as error:
            if prepared.graphql.method == "GET" and error.operation_type is OperationType.MUTATION:
                raise RequestError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "mutations need POST; GET runs queries only",
                    headers={"Allow": "POST"},
                ) from None
            raise bad_request(
                "UNSUPPORTED_OPERATION",
                f"{error.operation_type.value} operations are not served over HTTP",
            ) from None
        except CannotGetOperationTypeError as error:
            message = (
                f"the document has no operation named {error.operation_name!r}"
                if error.operation_name
                else "the document has several operations (or none): name one in `operationName`"
            )
            return request_error_result(
                GraphQLError(message, extensions={"code": "GRAPHQL_VALIDATION_FAILED"})
            )
        except MissingQueryError:
            raise bad_request("MISSING_QUERY", "the `query` is empty") from None

    async def process_result(
        self, request: Request | WebSocket, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # Only strawberry's WebSocket protocols still call this; HTTP answers are built above.
        body, _ = response_body(result)
        return body  # type: ignore[return-value]

    async def on_ws_connect(self, context: Context) -> None:
        """A WebSocket authenticates in its connection_init payload (`authenticate_socket`:
        `{"token": …}`, or the session cookie with `{"csrfToken": …}`); without valid
        credentials it is closed (4403 Forbidden, graphql-transport-ws)."""
        from strawberry.exceptions import ConnectionRejectionError

        cookies, params = context.request.cookies, context.connection_params
        auth = await authenticate_socket(cookies, params, self.engine, self.tokens)
        if auth is None or auth.authenticated is None:
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"})
        user_id = auth.authenticated.user.id
        context.viewer = auth.authenticated.user.as_viewer()
        context.authenticated_by_cookie = auth.by_cookie

        async def signed_in_again() -> bool:
            again = await authenticate_socket(cookies, params, self.engine, self.tokens)
            return (
                again is not None
                and again.authenticated is not None
                and (again.authenticated.user.id == user_id)
            )

        context.signed_in_again = signed_in_again

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        auth: RequestAuth = request.scope.get("portal.auth") or RequestAuth(None)
        return Context(
            request=request,  # type: ignore[arg-type]
            response=response if isinstance(response, Response) else None,
            settings=self.settings,
            engine=self.engine,
            read_engine=self.read_engine,
            viewer=auth.authenticated.user.as_viewer() if auth.authenticated else None,
            queue=self.queue,
            cost_bucket=self.cost_bucket,
            address_bucket=self.address_bucket,
            login_attempts=self.login_attempts,
            authenticated_by_cookie=auth.by_cookie,
        )


def _is_admin(auth: RequestAuth) -> bool:
    return auth.authenticated is not None and auth.authenticated.user.role is Role.ADMIN
