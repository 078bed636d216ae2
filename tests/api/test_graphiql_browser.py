"""GraphiQL in a real browser (Debian's Chromium driven by playwright), with the network blocked
except for the portal server itself: the page must work from the package's own assets.

An admin sets the Authorization header, runs a query, sees the result and reads a field's
description in the docs explorer. Then a partner signs in with the session bar (cookie session)
and runs a mutation, which carries the X-CSRF-Token header; after a reload the page gets the
token back from GET /csrf-token and mutates again; signing out deletes the cookie. No CSP
violation, no script error, no request leaves the server.

Skipped without Chromium outside CI; under CI=true it fails. Screenshot:
bench/out/graphiql-browser.png (a CI artefact, git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portal.adapters.database import create_engine
from tests.conftest import unavailable
from tests.factories import World, add_partner_login, build_world
from tests.live_server import live_server

CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "bench" / "out" / "graphiql-browser.png"
PARTNER_EMAIL = "graphiql@partner.test"
PASSWORD = "correct horse battery"
CONVERSIONS_DESCRIPTION = "Conversions, newest tracking time first by default."
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
VISIBLE_TOOL_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
MUTATION = (
    "mutation CreateToken {\n"
    '  createApiToken(input: {name: "from GraphiQL"}) {\n'
    "    apiToken { name } secret userErrors { code }\n"
    "  }\n"
    "}\n"
)


@dataclass
class Served:
    base: str
    world: World


@pytest.fixture
async def served(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Served]:
    if not shutil.which(CHROMIUM):
        unavailable(f"Chromium ({CHROMIUM}; apt-get install -y chromium)")
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    world = await build_world(engine)
    await add_partner_login(engine, world, PARTNER_EMAIL, PASSWORD)
    await engine.dispose()
    with live_server(database, tmp_path / "data") as base:
        yield Served(base, world)


async def test_graphiql_works_offline_with_a_token_and_with_a_cookie_session(
    served: Served,
) -> None:
    from playwright.async_api import Page, Request, async_playwright, expect

    problems: list[str] = []
    blocked: list[str] = []
    graphql_posts: list[Request] = []

    async def set_editor(page: Page, selector: str, text: str) -> None:
        await page.locator(selector).click()
        await page.keyboard.press("Control+A")
        # insert_text bypasses CodeMirror's auto-closing of brackets and quotes
        await page.keyboard.insert_text(text)
        await page.wait_for_timeout(400)  # GraphiQL reads the operation name after 100 ms

    async def execute(page: Page) -> None:
        await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()

        async def only_portal(route):  # type: ignore[no-untyped-def]
            if route.request.url.startswith(served.base):
                await route.continue_()
            else:
                blocked.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_portal)
        page = await context.new_page()
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

        def on_request(request: Request) -> None:
            if request.method == "POST" and "/graphql" in request.url:
                graphql_posts.append(request)

        page.on("request", on_request)
        try:
            await page.goto(f"{served.base}/graphql")
            await expect(page.locator(QUERY_EDITOR)).to_be_visible(timeout=20_000)

            # 1. A bearer token in the Headers tab, a query, its result.
            await page.get_by_role("button", name="Headers").click()
            await set_editor(
                page,
                VISIBLE_TOOL_EDITOR,
                f'{{"Authorization": "Bearer {served.world.tokens["admin"]}"}}',
            )
            await set_editor(page, QUERY_EDITOR, "query Viewer { viewer { user { email role } } }")
            await execute(page)
            result = page.locator(".graphiql-response")
            await expect(result).to_contain_text('"role": "ADMIN"')
            assert graphql_posts[-1].headers["authorization"].startswith("Bearer ptk_")

            # 2. The docs explorer shows the schema's descriptions.
            await page.get_by_role("button", name="Show Documentation Explorer").click()
            docs = page.locator(".graphiql-doc-explorer")
            await docs.get_by_role("link", name="Query").first.click()
            await docs.get_by_role("link", name="conversions", exact=True).first.click()
            await expect(docs).to_contain_text(CONVERSIONS_DESCRIPTION)

            # 3. A cookie session from the session bar; the mutation sends its CSRF token.
            await page.get_by_role("button", name="Headers").click()
            await set_editor(page, VISIBLE_TOOL_EDITOR, "{}")
            await page.get_by_placeholder("e-mail").fill(PARTNER_EMAIL)
            await page.get_by_placeholder("password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.locator("#portal-session-state")).to_contain_text(
                f"Signed in as {PARTNER_EMAIL} (PARTNER)"
            )
            await expect(page.get_by_role("button", name="Sign in")).to_be_hidden()
            cookies = {c["name"]: c for c in await context.cookies()}
            assert cookies["portal_session"]["httpOnly"] is True
            await set_editor(page, QUERY_EDITOR, MUTATION)
            await execute(page)
            await expect(result).to_contain_text('"name": "from GraphiQL"')
            await expect(result).to_contain_text('"secret": "ptk_')
            mutation = graphql_posts[-1]
            assert "authorization" not in mutation.headers
            assert mutation.headers["x-csrf-token"].startswith("csrf_")

            # 4. After a reload the page gets the session's token back and can mutate again.
            await page.reload()
            await expect(page.locator("#portal-session-state")).to_contain_text(
                f"Signed in as {PARTNER_EMAIL}"
            )
            await set_editor(page, QUERY_EDITOR, MUTATION.replace("from GraphiQL", "after reload"))
            await execute(page)
            await expect(page.locator(".graphiql-response")).to_contain_text(
                '"name": "after reload"'
            )
            assert graphql_posts[-1].headers["x-csrf-token"] == mutation.headers["x-csrf-token"]

            # 5. Signing out ends the session and deletes the cookie.
            await page.get_by_role("button", name="Sign out").click()
            await expect(page.locator("#portal-session-state")).to_contain_text("Not signed in")
            assert "portal_session" not in {c["name"] for c in await context.cookies()}
        finally:
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            await browser.close()

    assert blocked == [], "the page tried to load something from outside the server"
    assert problems == [], problems
