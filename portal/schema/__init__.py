"""The GraphQL layer. `portal.schema:schema` is the schema (exported to
frontend_contract/schema.graphql); it is assembled lazily in portal.schema.root so that
resolvers can import the types without importing the whole schema."""

from __future__ import annotations

from typing import Any

__all__ = ["PortalSchema", "build_schema", "schema"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from portal.schema import root

        return getattr(root, name)
    raise AttributeError(name)
