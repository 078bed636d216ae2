"""The per-request context: the viewer, its scoped reader, and fresh data loaders."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from portal.adapters.reader import Reader
from portal.config import Settings
from portal.domain.access import Viewer
from portal.schema.documents import TrustedDocument
from portal.schema.errors import Unauthenticated

if TYPE_CHECKING:
    from portal.schema.limits import Charge

T = TypeVar("T")

MAX_BATCH = 500


class Loaders:
    """One loader per (kind of object) and per (kind of child list), created per request so no
    cache outlives it or crosses users. Each batch runs in its own connection."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._loaders: dict[str, DataLoader] = {}

    def _loader(
        self,
        name: str,
        batch: Callable[[Sequence[Any]], Awaitable[list[Any]]],
        key: Callable[[Any], Any] | None = None,
    ) -> DataLoader:
        loader = self._loaders.get(name)
        if loader is None:
            loader = DataLoader(batch_load_fn=batch, max_batch_size=MAX_BATCH, get_cache_key=key)
            self._loaders[name] = loader
        return loader

    def node(self, kind: str) -> DataLoader:
        async def batch(ids: Sequence[int]) -> list[Any]:
            return await self._reader.get_many(kind, ids)

        return self._loader(kind, batch)

    def vocabulary(self, kind: str) -> DataLoader:
        async def batch(ids: Sequence[int]) -> list[Any]:
            return await self._reader.program_vocabulary(kind, ids)

        return self._loader(f"vocabulary:{kind}", batch)

    def batched(
        self, name: str, batch: Callable[[Sequence[int]], Awaitable[list[Any]]]
    ) -> DataLoader:
        """A loader of another read model (requests, actors) under a unique name."""
        return self._loader(name, batch)

    def batched_by(
        self,
        name: str,
        batch: Callable[[Sequence[Any]], Awaitable[list[Any]]],
        key: Callable[[Any], Any],
    ) -> DataLoader:
        """A loader whose keys are objects (e.g. requests), cached by `key` of each."""
        return self._loader(name, batch, key)

    def program_models(self) -> DataLoader:
        return self._loader("program_models", self._reader.program_commission_models)

    def history(self) -> DataLoader:
        return self._loader("history", self._reader.conversion_history)

    async def load(self, kind: str, pk: int | None) -> Any:
        return None if pk is None else await self.node(kind).load(pk)

    async def load_as(self, kind: str, pk: int | None, make: Callable[[Any], T]) -> T | None:
        """The node of `kind` with `pk` as a GraphQL object (`make`, e.g. `Partner.from_domain`);
        None when there is no such node or the viewer may not see it."""
        found = await self.load(kind, pk)
        return make(found) if found else None

    def clear_all(self) -> None:
        self._loaders.clear()


RECHECK_SECONDS = 1.0
"""How long a WebSocket's credentials count as checked."""


@dataclass
class Context:
    request: Request
    response: Response | None
    settings: Settings
    engine: AsyncEngine
    viewer: Viewer | None
    queue: Any
    read_engine: AsyncEngine | None = None  # the compiled path's (create_read_engine)
    authenticated_by_cookie: bool = False
    cost_bucket: Any = None  # query-cost budgets of users (portal.adapters.throttle)
    address_bucket: Any = None  # … of anonymous requests, per client address
    login_attempts: Any = None  # portal.adapters.login_attempts
    trusted_document: TrustedDocument | None = None
    variables_nul_free: bool = False  # GraphQLRequest.variables_nul_free: no NUL walk needed
    # Set by the compiled lane (portal.web.compiled_lane) when it charged the request's cost
    # and then handed the request to strawberry: charged once, not tried twice.
    charge: Charge | None = None
    compiled_failed: bool = False
    connection_params: Any = None  # a WebSocket's connection_init payload (strawberry sets it)
    open_subscriptions: int = 0  # on a WebSocket: its running subscriptions
    # On a WebSocket: whether its credentials still hold (set when it connects).
    signed_in_again: Callable[[], Awaitable[bool]] | None = None
    _signed_in_checked_at: float = field(default=float("-inf"), repr=False)
    _reader: Reader | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def client_address(self) -> str:
        """The client's address as the server sees it (behind a proxy, uvicorn's
        --forwarded-allow-ips makes it the client's, from X-Forwarded-For)."""
        client = self.request.client
        return client.host if client else "unknown"

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise Unauthenticated("Authenticate with a bearer token or a session (login).")
        return self.viewer

    async def require_still_signed_in(self) -> None:
        """On a WebSocket, before a subscription sends anything more: its token must not have
        been revoked nor its session ended since it connected (checked at most once a
        second; a token through the app's token cache, so within the revocation bound of
        `PORTAL_TOKEN_CACHE_SECONDS`)."""
        if self.signed_in_again is None:
            return
        now = time.monotonic()
        if now - self._signed_in_checked_at < RECHECK_SECONDS:
            return
        if not await self.signed_in_again():
            raise Unauthenticated("the token was revoked or the session ended: sign in again")
        self._signed_in_checked_at = now

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = Reader(self.engine, self.require_viewer())
        return self._reader

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.reader)
        return self._loaders
