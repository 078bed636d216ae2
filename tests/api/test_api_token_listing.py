"""Issue 14, tokens: `viewer.apiTokens` lists one's own tokens (name, prefix, created, expires,
last used, revoked) and admins' `apiTokens(userId:)` anyone's, so demo and CLI tokens can be
found and revoked through the API. Nobody else sees a token that is not theirs — not in a
list, not through `node(id:)`, not through its `user`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.unit_of_work import UnitOfWork
from portal.schema.ids import encode_id
from portal.services import access
from tests.conftest import Api, StatementCounter
from tests.factories import build_world

FIELDS = "id name prefix createdAt expiresAt lastUsedAt revokedAt user { email }"
MINE = f"""query($first: Int, $after: String) {{ viewer {{
  apiTokens(first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {FIELDS} }} }} }} }}"""
ALL = f"""query($user: ID, $first: Int) {{
  apiTokens(userId: $user, first: $first) {{ totalCount nodes {{ {FIELDS} }} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { ... on ApiToken { name } } }"
REVOKE = """mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { apiToken { revokedAt } userErrors { code } } }"""
WHO = "{ viewer { user { id } } }"


async def _more_tokens(engine: AsyncEngine, email: str, names: list[str]) -> list[str]:
    async with UnitOfWork(engine) as uow:
        user = await access.find_user_by_email(uow, email)
        assert user is not None
        made = [
            await access.create_api_token(
                uow, user.as_viewer(), name=name, expires_at=uow.now + timedelta(days=7)
            )
            for name in names
        ]
        await uow.commit()
    return [m.secret for m in made]


async def test_a_user_lists_its_own_tokens_with_their_state(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    nightly, spare = await _more_tokens(engine, "a@partner.test", ["nightly sync", "spare"])
    await api.data(WHO, token=nightly)  # used: lastUsedAt set

    listed = (await api.data(MINE, token=world.tokens["A"]))["viewer"]["apiTokens"]
    assert listed["totalCount"] == 3
    names = [t["name"] for t in listed["nodes"]]
    assert names == ["spare", "nightly sync", "tests"]  # newest first
    by_name = {t["name"]: t for t in listed["nodes"]}
    assert by_name["nightly sync"]["prefix"] == nightly[:10]
    assert by_name["nightly sync"]["lastUsedAt"] is not None
    assert by_name["spare"]["lastUsedAt"] is None
    assert by_name["spare"]["expiresAt"] is not None and by_name["tests"]["expiresAt"] is None
    created = datetime.fromisoformat(by_name["spare"]["createdAt"].replace("Z", "+00:00"))
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=5)
    assert {t["user"]["email"] for t in listed["nodes"]} == {"a@partner.test"}
    assert all(spare not in str(t) and nightly not in str(t) for t in listed["nodes"])

    # Found in the list, revoked through the API, shown as revoked.
    revoked = await api.data(
        REVOKE, {"input": {"tokenId": by_name["spare"]["id"]}}, token=world.tokens["A"]
    )
    assert revoked["revokeApiToken"]["userErrors"] == []
    again = (await api.data(MINE, token=world.tokens["A"]))["viewer"]["apiTokens"]["nodes"]
    assert next(t for t in again if t["name"] == "spare")["revokedAt"] is not None
    assert (await api.post(WHO, token=spare)).status_code == 401


async def test_pages_of_tokens(api: Api, engine: AsyncEngine) -> None:
    world = await build_world(engine)
    await _more_tokens(engine, "b@partner.test", [f"t{n}" for n in range(4)])
    first = (await api.data(MINE, {"first": 2}, token=world.tokens["B"]))["viewer"]["apiTokens"]
    assert [t["name"] for t in first["nodes"]] == ["t3", "t2"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.data(
            MINE, {"first": 5, "after": first["pageInfo"]["endCursor"]}, token=world.tokens["B"]
        )
    )["viewer"]["apiTokens"]
    assert [t["name"] for t in rest["nodes"]] == ["t1", "t0", "tests"]


async def test_admins_list_anyones_tokens_others_only_their_own(
    api: Api, engine: AsyncEngine
) -> None:
    world = await build_world(engine)
    await _more_tokens(engine, "b@partner.test", ["b's cron"])
    async with UnitOfWork(engine) as uow:
        b = await access.find_user_by_email(uow, "b@partner.test")
        admin = await access.find_user_by_email(uow, "admin@portal.test")
    assert b is not None and admin is not None
    b_id = encode_id("User", b.id)

    of_b = (await api.data(ALL, {"user": b_id}, token=world.tokens["admin"]))["apiTokens"]
    assert {t["name"] for t in of_b["nodes"]} == {"b's cron", "tests"}
    assert {t["user"]["email"] for t in of_b["nodes"]} == {"b@partner.test"}
    everyone = (await api.data(ALL, {"first": 100}, token=world.tokens["admin"]))["apiTokens"]
    assert everyone["totalCount"] == len(world.tokens) + 1

    # A partner asking for B's tokens gets none, as if B had none; its own list is its own.
    for who in ("A", "adv1"):
        theirs = (await api.data(ALL, {"user": b_id}, token=world.tokens[who]))["apiTokens"]
        assert theirs == {"totalCount": 0, "nodes": []}
        own = (await api.data(ALL, token=world.tokens[who]))["apiTokens"]["nodes"]
        assert [t["name"] for t in own] == ["tests"] and len(own) == 1
    b_token = of_b["nodes"][0]["id"]
    assert (await api.data(NODE, {"id": b_token}, token=world.tokens["A"]))["node"] is None
    assert (await api.data(NODE, {"id": b_token}, token=world.tokens["admin"]))["node"] == {
        "name": of_b["nodes"][0]["name"]
    }
    # Nor can another user revoke it.
    refused = await api.data(REVOKE, {"input": {"tokenId": b_token}}, token=world.tokens["A"])
    assert refused["revokeApiToken"]["userErrors"] == [{"code": "NOT_FOUND"}]

    bad = await api.query(ALL, {"user": encode_id("Partner", 1)}, token=world.tokens["admin"])
    assert bad["errors"][0]["extensions"]["reason"] == "INVALID_ID"
    anonymous = await api.query(ALL)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_statements_do_not_grow_with_the_page(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    world = await build_world(engine)
    await _more_tokens(engine, "admin@portal.test", [f"t{n}" for n in range(6)])
    counts = []
    for first in (2, 12):
        await api.data(WHO, token=world.tokens["admin"])  # last use recorded before counting
        statements.reset()
        await api.data(ALL, {"first": first}, token=world.tokens["admin"])
        counts.append(statements.count)
    assert counts[0] == counts[1] <= 4  # token, page, count, users (one batch)
