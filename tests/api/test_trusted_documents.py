"""Trusted documents (persisted queries): the operations of frontend_contract/operations/ run by
`documentId` (sha256 of the file's text), skip parsing and validation after their first use,
keep every visibility rule, and with PORTAL_TRUSTED_DOCUMENTS_ONLY=true they are the only
documents a non-admin may run."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql.language.parser import Parser
from sqlalchemy.ext.asyncio import AsyncEngine

import portal.schema.documents
from portal.config import SOURCE_OPERATIONS_DIR, Settings
from portal.schema.documents import TrustedDocuments, TrustedDocumentsError, document_id
from portal.schema.ids import encode_id
from portal.web.app import create_app
from tests.api.http_helpers import ACCEPT_GRAPHQL, coded_error, serve
from tests.factories import World, build_world

PARTNER_CONVERSIONS = (SOURCE_OPERATIONS_DIR / "partnerConversions.graphql").read_text()
LOGIN = (SOURCE_OPERATIONS_DIR / "login.graphql").read_text()
ANY_QUERY = "{ viewer { user { email } } }"


def bearer(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


def test_the_id_is_the_sha256_of_the_source_text() -> None:
    # The example of the GraphQL-over-HTTP persisted documents appendix.
    text = "query ($id: ID!) {\n  user(id: $id) {\n    name\n  }\n}"
    assert document_id(text) == (
        "sha256:7dba4bd717b41f10434822356a93c32b1fb4907b983e854300ad839f84cdcd6e"
    )


def test_every_dashboard_operation_is_a_trusted_document() -> None:
    documents = TrustedDocuments.load(SOURCE_OPERATIONS_DIR)
    files = sorted(SOURCE_OPERATIONS_DIR.glob("*.graphql"))
    assert len(documents) == len(files) >= 3
    for path in files:
        document = documents.get(document_id(path.read_text(encoding="utf-8")))
        assert document is not None and document.name == path.stem


def test_a_broken_document_stops_the_server_from_starting(tmp_path: Path) -> None:
    (tmp_path / "broken.graphql").write_text("query {")
    with pytest.raises(TrustedDocumentsError, match=r"broken\.graphql"):
        TrustedDocuments.load(tmp_path)


def test_trusted_documents_only_needs_documents(tmp_path: Path, settings: Settings) -> None:
    empty = dataclasses.replace(
        settings, trusted_documents_dir=tmp_path, trusted_documents_only=True
    )
    with pytest.raises(TrustedDocumentsError, match="PORTAL_TRUSTED_DOCUMENTS_DIR"):
        create_app(empty, engine=None)


async def test_a_document_id_runs_the_trusted_document_with_the_same_visibility(
    engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(engine)
    trusted = {"documentId": document_id(PARTNER_CONVERSIONS), "variables": {"first": 10}}
    async with serve(settings, engine) as client:
        by_id = await client.post("/graphql", json=trusted, headers=bearer(world, "A"))
        by_text = await client.post(
            "/graphql",
            json={"query": PARTNER_CONVERSIONS, "variables": {"first": 10}},
            headers=bearer(world, "A"),
        )
        other_partner = await client.post("/graphql", json=trusted, headers=bearer(world, "B"))
        anonymous = await client.post("/graphql", json=trusted)
    assert by_id.status_code == 200
    assert by_id.json()["data"] == by_text.json()["data"]
    mine = {n["id"] for n in by_id.json()["data"]["conversions"]["nodes"]}
    assert mine == {encode_id("Conversion", pk) for pk in world.conversions["A"]}
    theirs = {n["id"] for n in other_partner.json()["data"]["conversions"]["nodes"]}
    assert theirs == {encode_id("Conversion", pk) for pk in world.conversions["B"]}
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_trusted_query_runs_over_get(
    sqlite_engine: AsyncEngine, settings: Settings
) -> None:
    world = await build_world(sqlite_engine)
    async with serve(settings, sqlite_engine) as client:
        response = await client.get(
            "/graphql",
            params={"documentId": document_id(PARTNER_CONVERSIONS), "variables": '{"first": 1}'},
            headers={**ACCEPT_GRAPHQL, **bearer(world, "A")},
        )
    assert response.status_code == 200
    assert len(response.json()["data"]["conversions"]["nodes"]) == 1


async def test_a_trusted_mutation_over_get_is_405(
    sqlite_engine: AsyncEngine, settings: Settings
) -> None:
    async with serve(settings, sqlite_engine) as client:
        response = await client.get(
            "/graphql",
            params={"documentId": document_id(LOGIN), "variables": '{"input": {}}'},
            headers=ACCEPT_GRAPHQL,
        )
    coded_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "status", "code", "reason"),
    [
        ({"documentId": "sha256:" + "0" * 64}, 400, "TRUSTED_DOCUMENT_NOT_FOUND", None),
        ({"documentId": "my-own-id"}, 400, "TRUSTED_DOCUMENT_NOT_FOUND", None),
        ({"documentId": "sha256:<script>"}, 400, "BAD_REQUEST", "INVALID_PARAMETER"),
        ({"documentId": ""}, 400, "BAD_REQUEST", "INVALID_PARAMETER"),
        (
            {"documentId": document_id(PARTNER_CONVERSIONS), "query": PARTNER_CONVERSIONS},
            400,
            "BAD_REQUEST",
            "INVALID_PARAMETER",
        ),
    ],
)
async def test_unknown_or_malformed_document_ids_are_coded_errors(
    sqlite_engine: AsyncEngine,
    settings: Settings,
    body: dict[str, Any],
    status: int,
    code: str,
    reason: str | None,
) -> None:
    async with serve(settings, sqlite_engine) as client:
        for accept in ("application/json", "application/graphql-response+json"):
            response = await client.post("/graphql", json=body, headers={"Accept": accept})
            coded_error(response, status, code, reason)


@pytest.fixture
def counted() -> Iterator[dict[str, int]]:
    """Counts parses (graphql-core's parser) and validations of trusted documents."""
    calls = {"parse": 0, "validate": 0}
    parse_document = Parser.parse_document
    validate_document = portal.schema.documents.validate_document

    def counting_parse(self: Parser) -> Any:
        calls["parse"] += 1
        return parse_document(self)

    def counting_validate(*args: Any) -> Any:
        calls["validate"] += 1
        return validate_document(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Parser, "parse_document", counting_parse)
        patch.setattr(portal.schema.documents, "validate_document", counting_validate)
        yield calls


async def test_trusted_documents_skip_parsing_and_are_validated_once(
    sqlite_engine: AsyncEngine, settings: Settings, counted: dict[str, int]
) -> None:
    world = await build_world(sqlite_engine)
    trusted = {"documentId": document_id(PARTNER_CONVERSIONS), "variables": {"first": 2}}
    async with serve(settings, sqlite_engine) as client:
        counted.update(parse=0, validate=0)  # the app parsed its documents when it started
        for _ in range(3):
            response = await client.post("/graphql", json=trusted, headers=bearer(world, "A"))
            assert response.status_code == 200 and "errors" not in response.json()
        assert counted == {"parse": 0, "validate": 1}

        # The same text sent as `query` is recognised as the trusted document.
        response = await client.post(
            "/graphql",
            json={"query": PARTNER_CONVERSIONS, "variables": {"first": 2}},
            headers=bearer(world, "A"),
        )
        assert "errors" not in response.json()
        assert counted == {"parse": 0, "validate": 1}

        # Any other document is parsed (a text no earlier test sent: the parse cache is global).
        await client.post("/graphql", json={"query": f"{{ t{uuid.uuid4().hex}: __typename }}"})
        assert counted["parse"] == 1


@pytest.fixture
async def trusted_only(
    sqlite_engine: AsyncEngine, settings: Settings
) -> Any:  # an httpx.AsyncClient
    async with serve(settings, sqlite_engine, trusted_documents_only=True) as client:
        yield client


@pytest.mark.parametrize("who", ["A", "adv1", None])
async def test_trusted_documents_only_refuses_other_documents_for_non_admins(
    trusted_only: httpx.AsyncClient, sqlite_engine: AsyncEngine, who: str | None
) -> None:
    world = await build_world(sqlite_engine)
    headers = bearer(world, who) if who else {}
    for accept in ("application/json", "application/graphql-response+json"):
        response = await trusted_only.post(
            "/graphql", json={"query": ANY_QUERY}, headers={**headers, "Accept": accept}
        )
        coded_error(response, 403, "TRUSTED_DOCUMENT_REQUIRED")
    # GET too, and before anything is parsed
    response = await trusted_only.get("/graphql", params={"query": "{"}, headers=headers)
    coded_error(response, 403, "TRUSTED_DOCUMENT_REQUIRED")


async def test_trusted_documents_only_runs_trusted_ones_and_anything_for_admins(
    trusted_only: httpx.AsyncClient, sqlite_engine: AsyncEngine
) -> None:
    world = await build_world(sqlite_engine)
    variables = {"first": 1}
    by_id = await trusted_only.post(
        "/graphql",
        json={"documentId": document_id(PARTNER_CONVERSIONS), "variables": variables},
        headers=bearer(world, "A"),
    )
    by_exact_text = await trusted_only.post(
        "/graphql",
        json={"query": PARTNER_CONVERSIONS, "variables": variables},
        headers=bearer(world, "A"),
    )
    admin = await trusted_only.post(
        "/graphql", json={"query": ANY_QUERY}, headers=bearer(world, "admin")
    )
    for response in (by_id, by_exact_text, admin):
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    # An anonymous SPA signs in with the trusted login document.
    login = await trusted_only.post(
        "/graphql",
        json={
            "documentId": document_id(LOGIN),
            "variables": {"input": {"email": "nobody@x.test", "password": "wrong password!"}},
        },
    )
    assert login.json()["data"]["login"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
