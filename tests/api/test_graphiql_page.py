"""GraphiQL is served from the package: the page loads only this server's assets, which are the
pinned npm files (checked against the manifest's SHA-384) shipped with their licences."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import SOURCE_OPERATIONS_DIR, Settings
from portal.schema.documents import document_id
from portal.web.graphiql import STATIC
from tests.api.http_helpers import coded_error, serve

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
MANIFEST = json.loads((STATIC / "vendor" / "manifest.json").read_text())


async def page(http_client: httpx.AsyncClient) -> str:
    response = await http_client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


async def test_the_page_loads_only_assets_of_this_server(http_client: httpx.AsyncClient) -> None:
    html = await page(http_client)
    urls = references(html)
    assert urls, html
    assert not [u for u in urls if "//" in u], "absolute URLs (a CDN) in the page"
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert len(scripts) == 4 and all(s.startswith("/graphiql/") for s in scripts)
    for url in (u for u in urls if u.startswith("/graphiql/")):
        asset = await http_client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "text/css",
            "text/plain",
        )


async def test_vendored_scripts_carry_their_integrity(http_client: httpx.AsyncClient) -> None:
    html = await page(http_client)
    for entry in MANIFEST["files"]:
        url = f"/graphiql/{entry['path']}"
        assert f'"{url}" integrity="{entry["integrity"]}"' in html
        body = (await http_client.get(url)).content
        digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
        assert entry["integrity"] == f"sha384-{digest}"


def test_every_bundled_package_has_its_licence() -> None:
    licences = (STATIC / "vendor" / "THIRD-PARTY-LICENSES.txt").read_text()
    packages = MANIFEST["licensed_packages"]
    assert {"graphiql", "react", "react-dom", "graphql", "codemirror"} <= set(packages)
    for name in packages:
        assert re.search(rf"^{re.escape(name)} \S+ \(", licences, re.MULTILINE), name
    assert licences.count("Permission is hereby granted") >= len(packages) - 5


async def test_the_page_knows_the_trusted_login_document(http_client: httpx.AsyncClient) -> None:
    login = (SOURCE_OPERATIONS_DIR / "login.graphql").read_text()
    assert f'data-login-document-id="{document_id(login)}"' in await page(http_client)


async def test_assets_are_cacheable_and_revalidated_by_etag(http_client: httpx.AsyncClient) -> None:
    vendor = await http_client.get(f"/graphiql/{MANIFEST['files'][0]['path']}")
    assert "immutable" in vendor.headers["cache-control"]
    again = await http_client.get(
        f"/graphiql/{MANIFEST['files'][0]['path']}",
        headers={"If-None-Match": vendor.headers["etag"]},
    )
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    ["nope.js", "index.html", "vendor/manifest.json", "..%2Fgraphiql.py", "../graphiql.py"],
)
async def test_only_the_page_assets_are_served(http_client: httpx.AsyncClient, path: str) -> None:
    response = await http_client.get(f"/graphiql/{path}")
    assert response.status_code == 404
    assert "served entirely from the package" not in response.text


async def test_a_browser_get_with_a_query_runs_it(http_client: httpx.AsyncClient) -> None:
    response = await http_client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": BROWSER_ACCEPT}
    )
    body = response.json()
    assert body["data"] == {"__typename": "Query"}
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["maximumAvailable"]) == (0, 50000)
    # An anonymous caller is charged to its address's bucket (issue 10), and is told so.
    assert cost["throttleStatus"]["maximumAvailable"] == 2000


@pytest.mark.parametrize("switch", [{"graphiql": False}, {"introspection": False}])
async def test_without_graphiql_a_browser_gets_a_graphql_error(
    sqlite_engine: AsyncEngine, settings: Settings, switch: dict[str, bool]
) -> None:
    async with serve(settings, sqlite_engine, **switch) as client:
        response = await client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    coded_error(response, 400, "BAD_REQUEST", "MISSING_QUERY")
