"""Trusted documents (persisted queries) and the parse/validate step of every request.

A trusted document is a `.graphql` file of `frontend_contract/operations/` (or of
`PORTAL_TRUSTED_DOCUMENTS_DIR`). Its id is `sha256:` + the lower-case hex SHA-256 of the file's
exact UTF-8 text (GraphQL over HTTP, persisted documents appendix), e.g.
`printf 'sha256:%s' "$(sha256sum partnerConversions.graphql | cut -d' ' -f1)"`.

Trusted documents are parsed once when the server starts and validated once, on first use;
after that a request naming one skips both steps. Any other document goes through an LRU
cache of parse and validation results (the same as strawberry's ParserCache and
ValidationCache), which this extension replaces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from portal.config import Settings

DOCUMENT_ID_PREFIX = "sha256:"


def document_id(text: str) -> str:
    return DOCUMENT_ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


class TrustedDocumentsError(Exception):
    """The trusted documents cannot be loaded (the server refuses to start)."""


@dataclass(eq=False)
class TrustedDocument:
    id: str
    name: str
    text: str
    document: DocumentNode
    validation_errors: list[GraphQLError] | None = field(default=None, repr=False)

    @property
    def operation_names(self) -> list[str]:
        return [
            d.name.value
            for d in self.document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        ]


class TrustedDocuments:
    def __init__(self, documents: Iterable[TrustedDocument] = ()) -> None:
        self._by_id = {d.id: d for d in documents}

    @classmethod
    def load(cls, directory: Path) -> TrustedDocuments:
        documents = []
        for path in sorted(directory.glob("*.graphql")):
            text = path.read_text(encoding="utf-8")
            try:
                parsed = parse(text)
            except GraphQLError as error:
                raise TrustedDocumentsError(f"{path}: {error.message}") from None
            documents.append(TrustedDocument(document_id(text), path.stem, text, parsed))
        return cls(documents)

    @classmethod
    def for_settings(cls, settings: Settings) -> TrustedDocuments:
        directory = settings.trusted_documents_dir
        documents = cls.load(directory) if directory else cls()
        if settings.trusted_documents_only and not documents:
            raise TrustedDocumentsError(
                "PORTAL_TRUSTED_DOCUMENTS_ONLY=true needs trusted documents: set "
                "PORTAL_TRUSTED_DOCUMENTS_DIR to a directory of .graphql files"
            )
        return documents

    def get(self, id_: str) -> TrustedDocument | None:
        return self._by_id.get(id_)

    def matching(self, text: str) -> TrustedDocument | None:
        """The trusted document with exactly this text, if any."""
        return self._by_id.get(document_id(text)) if self._by_id else None

    def by_operation(self, operation_name: str) -> TrustedDocument | None:
        return next((d for d in self._by_id.values() if operation_name in d.operation_names), None)

    def __len__(self) -> int:
        return len(self._by_id)


class PreparedDocuments(SchemaExtension):
    """Parses and validates a request's document: a trusted document's results are kept on the
    document itself, any other document's in an LRU cache keyed by its text."""

    def __init__(self, maxsize: int) -> None:
        self._parse = _parse_cache(maxsize)
        self._validate = _validate_cache(maxsize)

    def _trusted(self) -> TrustedDocument | None:
        return getattr(self.execution_context.context, "trusted_document", None)

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        trusted = self._trusted()
        if trusted is not None:
            ctx.graphql_document = trusted.document
        else:
            ctx.graphql_document = self._parse(ctx.query, **ctx.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        trusted = self._trusted()
        assert ctx.graphql_document is not None
        if trusted is not None:
            if trusted.validation_errors is None:
                trusted.validation_errors = validate_document(
                    ctx.schema._schema, trusted.document, ctx.validation_rules
                )
            errors = trusted.validation_errors
        else:
            errors = self._validate(ctx.schema._schema, ctx.graphql_document, ctx.validation_rules)
        undetermined = _operation_undetermined(ctx)
        ctx.pre_execution_errors = [*errors, undetermined] if undetermined else errors
        yield


def _operation_undetermined(ctx: ExecutionContext) -> GraphQLError | None:
    """GraphQL's GetOperation(): a document with several operations needs `operationName`
    (strawberry would silently run the first one)."""
    assert ctx.graphql_document is not None
    operations = [
        d for d in ctx.graphql_document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    if len(operations) > 1 and getattr(ctx, "_provided_operation_name", None) is None:
        return GraphQLError(
            "the document has several operations: name the one to run in `operationName`"
        )
    return None


@lru_cache
def _parse_cache(maxsize: int) -> Any:
    return lru_cache(maxsize=maxsize)(parse)


@lru_cache
def _validate_cache(maxsize: int) -> Any:
    return lru_cache(maxsize=maxsize)(validate_document)
