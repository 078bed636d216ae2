"""Answers are gzip-compressed when the client accepts gzip and the body is large (1 KiB or
more); small answers and clients without gzip get the plain body."""

from __future__ import annotations

import gzip
import json

import httpx
from graphql import get_introspection_query

from portal.web.compression import MINIMUM_SIZE
from portal.web.graphiql import STATIC

LARGE = {"query": get_introspection_query()}  # ~ 100 KB of JSON
SMALL = {"query": "{ __typename }"}


async def raw(
    http_client: httpx.AsyncClient, body: dict[str, str], encoding: str
) -> httpx.Response:
    """The answer with its body as sent (httpx would decompress it)."""
    request = http_client.build_request(
        "POST", "/graphql", json=body, headers={"Accept-Encoding": encoding}
    )
    response = await http_client.send(request, stream=True)
    response._content = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    return response


async def test_a_large_answer_is_gzipped_when_accepted(http_client: httpx.AsyncClient) -> None:
    plain = await raw(http_client, LARGE, "identity")
    zipped = await raw(http_client, LARGE, "gzip, deflate, br")
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert json.loads(gzip.decompress(zipped.content)) == json.loads(plain.content)
    assert len(zipped.content) < len(plain.content) / 4
    assert zipped.headers["content-type"] == plain.headers["content-type"]


async def test_a_small_answer_is_not_compressed(http_client: httpx.AsyncClient) -> None:
    small = await raw(http_client, SMALL, "gzip")
    assert len(small.content) < MINIMUM_SIZE
    assert "content-encoding" not in small.headers
    assert small.json()["data"] == {"__typename": "Query"}


async def test_graphiql_assets_are_gzipped(http_client: httpx.AsyncClient) -> None:
    request = http_client.build_request(
        "GET",
        "/graphiql/vendor/graphiql-3.8.3/graphiql.min.css",
        headers={"Accept-Encoding": "gzip"},
    )
    response = await http_client.send(request, stream=True)
    body = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (STATIC / "vendor/graphiql-3.8.3/graphiql.min.css").read_bytes()
    assert len(body) < len(gzip.decompress(body))  # mostly base64 fonts: compresses little
