"""A bounded fuzz of the HTTP layer of /graphql (issue 10): random methods, Accept and
Content-Type headers, credentials, query strings, JSON and non-JSON bodies and multipart
requests. Whatever arrives, the answer is never a 5xx, and it is GraphiQL's page or a GraphQL
JSON body — `data` and/or `errors`, a code on every error, and no `data` with a 4xx — so a
client's `response.json()` always works.

The documents themselves come from a small pool plus random text without fragment spreads: the
schema-level fuzz (hypothesis-graphql, per role) is the hardening suite's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.adapters.database import create_engine
from portal.config import SOURCE_OPERATIONS_DIR
from portal.schema.documents import document_id
from tests.api.http_helpers import multipart
from tests.conftest import run_in_thread
from tests.factories import build_world
from tests.live_server import live_server

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays deterministic
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
header_text = st.text(alphabet=PRINTABLE, max_size=30).map(str.strip)  # what HTTP can carry
DOCUMENTS = [
    "{ __typename }",
    "{",
    "",
    "{ noSuchField }",
    "query Q($n: String!) { __type(name: $n) { name } }",
    "query A { __typename } query B { __typename }",
    "mutation { logout { ok } }",
    'mutation { createApiToken(input: {name: "fuzz"}) { secret } }',
    "{ viewer { user { email role } } }",
    "{ conversions(first: 2) { nodes { id orderValue { amount } } } }",
    "{ conversions(first: 0) { totalCount } }",
    "subscription { __typename }",
    "{" + " ".join(f"a{i}: __typename" for i in range(40)) + "}",
    "{" + "viewer { user { " * 20 + "}" * 41,
    (SOURCE_OPERATIONS_DIR / "partnerConversions.graphql").read_text(),
]
DOCUMENT_IDS = [document_id(d) for d in DOCUMENTS[-1:]] + ["sha256:" + "a" * 64, "x", "sha256:"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
documents = st.sampled_from(DOCUMENTS) | st.text(alphabet=PRINTABLE.filter(lambda c: c != "."))
variables = st.dictionaries(
    st.sampled_from(["n", "first", "input", "file", "x"]), json_values, max_size=3
)
request_objects = st.fixed_dictionaries(
    {},
    optional={
        "query": documents | json_values,
        "documentId": st.sampled_from(DOCUMENT_IDS) | json_values,
        "operationName": st.sampled_from(["Q", "A", "B", "PartnerConversions"]) | json_values,
        "variables": variables | json_values,
        "extensions": json_values,
    },
)
deep = st.integers(min_value=60, max_value=3000).map(lambda n: "[" * n + "]" * n)
json_bodies = st.one_of(
    request_objects.map(json.dumps),
    json_values.map(json.dumps),
    deep.map(
        lambda d: json.dumps({"query": "{ __typename }"})[:-1] + ', "variables": {"a": ' + d + "}}"
    ),
    deep,
).map(str.encode)
bodies = json_bodies | st.binary(max_size=120)
content_types = (
    st.sampled_from(
        [
            None,
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin-1",
            "application/graphql-response+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=portal-test-boundary",
        ]
    )
    | header_text
)
accepts = (
    st.sampled_from(
        [
            None,
            "*/*",
            "application/json",
            "application/graphql-response+json",
            "application/graphql-response+json, application/json;q=0.9",
            "text/html",
            "text/html,application/xhtml+xml,*/*;q=0.8",
            "application/json;q=0",
        ]
    )
    | header_text
)
credentials = st.sampled_from([None, "admin", "A", "bogus", "malformed"])
query_strings = st.dictionaries(
    st.sampled_from(["query", "documentId", "operationName", "variables", "extensions", "other"]),
    st.sampled_from(DOCUMENTS) | json_values.map(json.dumps) | st.text(max_size=20) | deep,
    max_size=4,
)
multipart_requests = st.fixed_dictionaries(
    {
        "operations": request_objects.map(json.dumps) | st.text(max_size=30) | deep,
        "map": st.sampled_from(['{"0": ["variables.file"]}', "[]", "{}", '{"0": "x"}'])
        | json_values.map(json.dumps)
        | deep,
    }
).flatmap(
    lambda fields: st.tuples(
        st.just({k: v for k, v in fields.items()}),
        st.dictionaries(
            st.sampled_from(["0", "1", "operations"]),
            st.tuples(st.just("f.csv"), st.binary(max_size=40), st.just("text/csv")),
            max_size=2,
        ),
    )
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Any]:
    """A live uvicorn server (real HTTP parsing too) and a client with the world's tokens."""
    directory = tmp_path_factory.mktemp("fuzz")
    database = directory / "portal.db"
    shutil.copyfile(sqlite_template, database)

    async def populate() -> dict[str, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        world = await build_world(engine)
        await engine.dispose()
        return world.tokens

    tokens = run_in_thread(populate())
    with live_server(database, directory / "data") as base, httpx.Client(base_url=base) as http:
        http.tokens = tokens  # type: ignore[attr-defined]
        yield http


def headers_for(client: Any, accept: str | None, who: str | None) -> dict[str, str]:
    headers = {"Accept": accept} if accept is not None else {}
    if who == "malformed":
        headers["Authorization"] = "Basic abc"
    elif who == "bogus":
        headers["Authorization"] = "Bearer ptk_bogus"
    elif who is not None:
        headers["Authorization"] = f"Bearer {client.tokens[who]}"
    return headers


def check(response: Any, method: str) -> None:
    described = f"{method} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, described
    if method == "HEAD":
        return
    if response.headers["content-type"].startswith("text/html"):
        assert method == "GET" and response.status_code == 200, described
        return
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or "errors" in body), described
    for error in body.get("errors") or []:
        assert error["message"] and isinstance(error["extensions"]["code"], str), described
    if response.status_code >= 400:
        assert body["errors"] and "data" not in body, described


@FUZZ
@given(
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]),
    accept=accepts,
    who=credentials,
    body=json_bodies,
)
def test_any_json_body_gets_a_graphql_answer(
    client: Any, content_type: str, accept: str | None, who: str | None, body: bytes
) -> None:
    headers = {**headers_for(client, accept, who), "Content-Type": content_type}
    check(client.post("/graphql", content=body, headers=headers), "POST")


@FUZZ
@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]),
    content_type=content_types,
    accept=accepts,
    who=credentials,
    body=bodies,
)
def test_any_method_content_type_and_bytes_get_a_graphql_answer(
    client: Any,
    method: str,
    content_type: str | None,
    accept: str | None,
    who: str | None,
    body: bytes,
) -> None:
    headers = headers_for(client, accept, who)
    if content_type is not None:
        headers["Content-Type"] = content_type
    check(client.request(method, "/graphql", content=body, headers=headers), method)


@FUZZ
@given(params=query_strings, accept=accepts, who=credentials)
def test_any_query_string_gets_a_graphql_answer(
    client: Any, params: dict[str, str], accept: str | None, who: str | None
) -> None:
    check(client.get("/graphql", params=params, headers=headers_for(client, accept, who)), "GET")


@FUZZ
@given(request=multipart_requests, accept=accepts, who=credentials)
def test_any_multipart_request_gets_a_graphql_answer(
    client: Any,
    request: tuple[dict[str, str], dict[str, tuple[str, bytes, str]]],
    accept: str | None,
    who: str | None,
) -> None:
    fields, files = request
    body, content_type = multipart(fields, files)
    headers = {**headers_for(client, accept, who), "Content-Type": content_type}
    check(client.post("/graphql", content=body, headers=headers), "POST")
