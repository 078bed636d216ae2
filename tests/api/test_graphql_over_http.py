"""GraphQL over HTTP conformance of /graphql: media types by `Accept`, the status code each media
type requires, no `data` when execution did not start, and every transport error (issue 10,
finding 1: bodies that crashed the server before authentication) as a coded GraphQL error.

These run on SQLite only: nothing here depends on the database but authentication.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import api_tokens
from portal.config import Settings
from tests.api.http_helpers import ACCEPT_GRAPHQL, GRAPHQL_RESPONSE, coded_error, multipart, serve
from tests.factories import World

TYPENAME = {"query": "{ __typename }"}
JSON_CT = {"Content-Type": "application/json"}


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


# -- media types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_the_answer_has_the_accepted_media_type(
    http_client: httpx.AsyncClient, accept: str | None, expected: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = await http_client.post("/graphql", json=TYPENAME, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{expected}; charset=utf-8"
    assert response.json()["data"] == {"__typename": "Query"}


async def test_an_unacceptable_accept_header_is_406(http_client: httpx.AsyncClient) -> None:
    response = await http_client.post("/graphql", json=TYPENAME, headers={"Accept": "text/csv"})
    coded_error(response, 406, "NOT_ACCEPTABLE")
    assert media_type(response) == "application/json"


# -- status codes and the data entry ------------------------------------------------------------

REQUEST_ERRORS = [
    pytest.param({"query": "{"}, "GRAPHQL_PARSE_FAILED", id="parse"),
    pytest.param({"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED", id="validation"),
    pytest.param(
        {"query": "query($n: Int!) { __type(name: $n) { name } }", "variables": {"n": 1}},
        "GRAPHQL_VALIDATION_FAILED",
        id="validation: variable type",
    ),
    pytest.param(
        {"query": "query($n: String!) { __type(name: $n) { name } }", "variables": {"n": None}},
        "GRAPHQL_VALIDATION_FAILED",
        id="variable coercion",
    ),
    pytest.param(
        {"query": "query A { __typename } query B { __typename }"},
        "GRAPHQL_VALIDATION_FAILED",
        id="operation undetermined",
    ),
    pytest.param(
        {"query": "query A { __typename }", "operationName": "B"},
        "GRAPHQL_VALIDATION_FAILED",
        id="unknown operation name",
    ),
    pytest.param(
        {"query": "{" + " ".join(f"a{i}: __typename" for i in range(31)) + "}"},
        "QUERY_TOO_COMPLEX",
        id="alias limit",
    ),
]


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_are_4xx_without_data_under_graphql_response_json(
    http_client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await http_client.post("/graphql", json=body, headers=ACCEPT_GRAPHQL)
    coded_error(response, 400, code)
    assert media_type(response) == GRAPHQL_RESPONSE


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS)
async def test_request_errors_are_200_without_data_under_application_json(
    http_client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await http_client.post("/graphql", json=body, headers={"Accept": "application/json"})
    coded_error(response, 200, code)


async def test_a_field_error_keeps_the_data_entry_and_200(http_client: httpx.AsyncClient) -> None:
    # `viewer` needs credentials: execution ran, so `data` is there (null: viewer is non-null).
    response = await http_client.post(
        "/graphql", json={"query": "{ viewer { user { email } } }"}, headers=ACCEPT_GRAPHQL
    )
    assert response.status_code == 200
    body = response.json()
    assert "data" in body and body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"] == ["viewer"]


async def test_an_empty_bucket_is_429_under_graphql_response_json(
    sqlite_engine: AsyncEngine, settings: Settings, sqlite_world: World
) -> None:
    async with serve(
        settings, sqlite_engine, rate_limit_capacity=4, rate_limit_restore_rate=1
    ) as client:
        query = {"query": "{ conversions(first: 3) { nodes { id partner { name } } } }"}  # 5
        headers = {**ACCEPT_GRAPHQL, "Authorization": f"Bearer {sqlite_world.tokens['A']}"}
        response = await client.post("/graphql", json=query, headers=headers)
    coded_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_a_refused_token_is_401_in_the_accepted_media_type(
    http_client: httpx.AsyncClient, accept: str
) -> None:
    response = await http_client.post(
        "/graphql",
        json=TYPENAME,
        headers={"Accept": accept, "Authorization": "Bearer ptk_unknown"},
    )
    coded_error(response, 401, "UNAUTHENTICATED")
    assert media_type(response) == accept


async def test_unknown_request_properties_are_ignored(http_client: httpx.AsyncClient) -> None:
    response = await http_client.post("/graphql", json={**TYPENAME, "id": 7, "protocol": "x"})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


# -- transport errors ---------------------------------------------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"null", "NOT_AN_OBJECT"),
        (b"123", "NOT_AN_OBJECT"),
        (b'"str"', "NOT_AN_OBJECT"),
        (b"true", "NOT_AN_OBJECT"),
        (b'[{"query": "{ __typename }"}]', "BATCHING_NOT_SUPPORTED"),
        (b'{"query": "\xff\xfe"}', "INVALID_UTF8"),
        (b"\xc3\x28", "INVALID_UTF8"),
        (b'{ "not a JSON', "INVALID_JSON"),
        (b"", "MISSING_QUERY"),
        (b"{}", "MISSING_QUERY"),
        (b'{"qeury": "{ __typename }"}', "MISSING_QUERY"),
        (DEEP, "JSON_TOO_DEEP"),
        (b'{"query": "{ __typename }", "variables": {"a": ' + DEEP + b"}}", "JSON_TOO_DEEP"),
        (
            b'{"query": "{ __typename }", "extensions": ' + b'{"a":' * 70 + b"1" + b"}" * 71,
            "JSON_TOO_DEEP",
        ),
    ],
)
async def test_malformed_bodies_are_400_with_a_code(
    http_client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await http_client.post("/graphql", content=body, headers=JSON_CT)
    coded_error(response, 400, "BAD_REQUEST", reason)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(
            (f, v)
            for f in ("query", "operationName", "documentId")
            for v in ({"o": 1}, 0, False, ["array"])
        ),
        *((f, v) for f in ("variables", "extensions") for v in ("string", 0, False, ["array"])),
    ],
)
async def test_parameters_of_the_wrong_type_are_400(
    http_client: httpx.AsyncClient, field: str, value: Any
) -> None:
    body = {"query": "{ __typename }", field: value}
    if field == "documentId":
        del body["query"]
    response = await http_client.post("/graphql", json=body)
    coded_error(response, 400, "BAD_REQUEST", "INVALID_PARAMETER")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_unsupported_content_types_are_415(
    http_client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await http_client.post("/graphql", content=json.dumps(TYPENAME), headers=headers)
    coded_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("charset", ["latin1", "ISO-8859-1", "utf-16"])
async def test_a_json_body_in_another_charset_is_415_naming_the_charset(
    http_client: httpx.AsyncClient, charset: str
) -> None:
    """The media type is right; the charset is not. The message says so (it used to call
    application/json unsupported and ask for application/json)."""
    response = await http_client.post(
        "/graphql",
        content=json.dumps(TYPENAME),
        headers={"Content-Type": f"application/json; charset={charset}"},
    )

    error = coded_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert charset in error["message"] and "charset" in error["message"], error
    assert "UTF-8" in error["message"], error
    assert "unsupported Content-Type 'application/json'" not in error["message"], error


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def test_other_methods_are_405_with_allow(
    http_client: httpx.AsyncClient, method: str
) -> None:
    response = await http_client.request(method, "/graphql", json=TYPENAME)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    if method != "HEAD":
        coded_error(response, 405, "METHOD_NOT_ALLOWED")


async def test_a_mutation_over_get_is_405_and_does_not_run(
    http_client: httpx.AsyncClient, sqlite_world: World, sqlite_engine: AsyncEngine
) -> None:
    async with sqlite_engine.connect() as conn:
        before = (await conn.execute(select(func.count()).select_from(api_tokens))).scalar()
    response = await http_client.get(
        "/graphql",
        params={"query": 'mutation { createApiToken(input: {name: "via GET"}) { secret } }'},
        headers={**ACCEPT_GRAPHQL, "Authorization": f"Bearer {sqlite_world.tokens['A']}"},
    )
    coded_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"
    async with sqlite_engine.connect() as conn:
        after = (await conn.execute(select(func.count()).select_from(api_tokens))).scalar()
    assert after == before


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "MISSING_QUERY"),
        ({"query": "{ __typename }", "variables": "[" * 5000}, "JSON_TOO_DEEP"),
        ({"query": "{ __typename }", "variables": "{"}, "INVALID_JSON"),
        ({"query": "{ __typename }", "variables": "[1]"}, "INVALID_PARAMETER"),
        ({"query": "{ __typename }", "extensions": "7"}, "INVALID_PARAMETER"),
        ({"query": ["{ __typename }", "{ __typename }"]}, "INVALID_PARAMETER"),
    ],
)
async def test_bad_get_parameters_are_400(
    http_client: httpx.AsyncClient, params: dict[str, Any], reason: str
) -> None:
    response = await http_client.get("/graphql", params=params, headers=ACCEPT_GRAPHQL)
    coded_error(response, 400, "BAD_REQUEST", reason)


async def test_get_runs_queries_with_json_variables(http_client: httpx.AsyncClient) -> None:
    response = await http_client.get(
        "/graphql",
        params={
            "query": "query Type($name: String!) { __type(name: $name) { name } }",
            "variables": json.dumps({"name": "Query"}),
            "operationName": "Type",
            "extensions": "",
        },
        headers=ACCEPT_GRAPHQL,
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"__type": {"name": "Query"}}


# -- multipart ----------------------------------------------------------------------------------

UPLOAD = (
    "mutation($file: Upload!) { importExchangeRates(input: {file: $file}) { userErrors { code } } }"
)
OPERATIONS = json.dumps({"query": UPLOAD, "variables": {"file": None}})
FILE = {"0": ("rates.csv", b"Date,USD\n2026-01-02,1.1\n", "text/csv")}


@pytest.mark.parametrize(
    ("fields", "files", "reason"),
    [
        ({"operations": OPERATIONS, "map": "[]"}, FILE, "INVALID_MULTIPART"),
        ({"operations": "[]", "map": '{"0": ["variables.file"]}'}, FILE, "BATCHING_NOT_SUPPORTED"),
        ({"operations": "null", "map": "{}"}, None, "NOT_AN_OBJECT"),
        ({"operations": "{", "map": "{}"}, None, "INVALID_JSON"),
        ({"operations": "[" * 5000, "map": "{}"}, None, "JSON_TOO_DEEP"),
        ({"operations": OPERATIONS, "map": "[" * 5000}, FILE, "JSON_TOO_DEEP"),
        ({"map": '{"0": ["variables.file"]}'}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": '{"1": ["variables.file"]}'}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": "{}"}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": '{"0": "variables.file"}'}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": '{"0": []}'}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": '{"0": ["query"]}'}, FILE, "INVALID_MULTIPART"),
        ({"operations": OPERATIONS, "map": '{"0": ["variables.nope"]}'}, FILE, "INVALID_MULTIPART"),
        (
            {"operations": OPERATIONS, "map": '{"0": ["variables.file.x.y"]}'},
            FILE,
            "INVALID_MULTIPART",
        ),
        (
            {
                "operations": json.dumps({"query": UPLOAD, "variables": {"file": "not null"}}),
                "map": '{"0": ["variables.file"]}',
            },
            FILE,
            "INVALID_MULTIPART",
        ),
    ],
)
async def test_malformed_multipart_requests_are_400(
    http_client: httpx.AsyncClient,
    sqlite_world: World,
    fields: dict[str, str],
    files: dict[str, Any] | None,
    reason: str,
) -> None:
    body, content_type = multipart(fields, files or {})
    response = await http_client.post(
        "/graphql",
        content=body,
        headers={
            "Content-Type": content_type,
            "Authorization": f"Bearer {sqlite_world.tokens['admin']}",
        },
    )
    coded_error(response, 400, "BAD_REQUEST", reason)


async def test_a_broken_multipart_body_is_400(http_client: httpx.AsyncClient) -> None:
    for body, content_type in [
        (b"--x\r\nContent-Disposition: form-data\r\n\r\nbody\r\n--x--\r\n", "boundary=x"),
        (b"garbage", "boundary=x"),
        (b"--x\r\n", ""),
    ]:
        response = await http_client.post(
            "/graphql",
            content=body,
            headers={"Content-Type": f"multipart/form-data; {content_type}"},
        )
        coded_error(response, 400, "BAD_REQUEST", "INVALID_MULTIPART")


async def test_a_well_formed_upload_still_runs(
    http_client: httpx.AsyncClient, sqlite_world: World
) -> None:
    response = await http_client.post(
        "/graphql",
        data={"operations": OPERATIONS, "map": '{"0": ["variables.file"]}'},
        files=FILE,
        headers={"Authorization": f"Bearer {sqlite_world.tokens['admin']}"},
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
