"""Issue 14: secrets, tokens, passwords and customer e-mails never reach a log line. Every
record of a run that creates a user with a password, logs in (also wrongly), creates and
revokes a token, records orders with customer e-mails, imports a file and fails internally
with an e-mail in the exception is captured at DEBUG, formatted as in production, and
searched for each of them."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import Settings
from portal.web.auth import SESSION_COOKIE
from tests.api.order_world import RECORD_ORDER, RECORD_ORDERS, T0, build_order_world
from tests.conftest import Api
from tests.import_files import run
from tests.observed import captured_logs

PASSWORD = "Tr0ub4dor&3-horse-staple"
USER_EMAIL = "Grace.Hopper@Partner.example"
CUSTOMERS = ["Jane.Customer@Shop-Mail.example", "j.doe+affiliate@example.org"]
CREATE_USER = """mutation($input: CreateUserInput!) {
  createUser(input: $input) { user { id } userErrors { code } } }"""
LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { csrfToken userErrors { code } } }"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { apiToken { id } secret userErrors { code } } }"""
REVOKE_TOKEN = """mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { apiToken { revokedAt } userErrors { code } } }"""


def _raw(record: logging.LogRecord) -> str:
    """What portal's own code put into a record (before any redaction)."""
    return f"{record.getMessage()} {getattr(record, 'fields', '')}"


async def test_no_secret_or_e_mail_reaches_a_log_line(
    api: Api, engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await build_order_world(engine)
    secrets: list[str] = [PASSWORD, USER_EMAIL, *CUSTOMERS, *world.tokens.values()]
    with captured_logs(level="DEBUG", secrets=(settings.secret_key,)) as logs:
        created = await api.data(
            CREATE_USER,
            {
                "input": {
                    "email": USER_EMAIL,
                    "name": "Grace",
                    "role": "PARTNER",
                    "partnerId": world.partner("A"),
                    "password": PASSWORD,
                }
            },
            token=world.tokens["admin"],
        )
        assert created["createUser"]["userErrors"] == []
        wrong = await api.data(LOGIN, {"input": {"email": USER_EMAIL, "password": PASSWORD + "x"}})
        assert wrong["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
        response = await api.post(LOGIN, {"input": {"email": USER_EMAIL, "password": PASSWORD}})
        csrf = response.json()["data"]["login"]["csrfToken"]
        session = response.cookies[SESSION_COOKIE]
        secrets += [csrf, session]
        api.client.cookies.set(SESSION_COOKIE, session)
        made = (
            await api.post(CREATE_TOKEN, {"input": {"name": "ci"}}, headers={"X-CSRF-Token": csrf})
        ).json()["data"]["createApiToken"]
        secrets.append(made["secret"])
        await api.post(
            REVOKE_TOKEN,
            {"input": {"tokenId": made["apiToken"]["id"]}},
            headers={"X-CSRF-Token": csrf},
        )
        await api.post("{ viewer { user { id } } }", headers={"X-CSRF-Token": "csrf_wrong-guess"})
        api.client.cookies.clear()
        await api.post("{ viewer { user { id } } }", token=made["secret"])  # revoked: 401

        cookie = world.cookie("A", T0 - timedelta(hours=1))
        first = await api.data(
            RECORD_ORDER,
            {"input": world.order("S-1", customerEmail=CUSTOMERS[0], touchpoints=[cookie])},
            token=world.tokens["adv"],
        )
        assert first["recordOrder"]["userErrors"] == []
        batch = [
            world.order("S-2", customerEmail=CUSTOMERS[1].upper(), touchpoints=[cookie]),
            world.order("S-3", customerEmail=CUSTOMERS[0], orderValue="-5"),
        ]
        await api.data(RECORD_ORDERS, {"input": {"orders": batch}}, token=world.tokens["adv"])
        rows = (
            "request_type,program,order_id,conversion_target,tracking_time,order_value,comment\n"
            f"CREATE_NEW,Nordwind DE,S-9,SALE_NEW_CUSTOMER,2026-06-01T10:00:00Z,10,{CUSTOMERS[1]}\n"
            f"CREATE_NEW,Nordwind DE,S-10,SALE_NEW_CUSTOMER,2026-06-01T10:00:00Z,-1,{PASSWORD}\n"
        )
        job = await run(api, world.tokens["A"], "s.csv", rows.encode())
        assert job["status"] == "SUCCEEDED"

        def leaking(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"lookup failed for {CUSTOMERS[0]} with {world.tokens['A']}")

        # Both execution paths build the list's conditions here.
        monkeypatch.setattr("portal.adapters.reader.Reader.conversions_scope", leaking)
        failed = await api.query(
            "{ conversions(first: 1) { nodes { id } } }", token=world.tokens["A"]
        )
        assert failed["errors"][0]["extensions"]["code"] == "INTERNAL"

    text = logs.text
    assert len(logs.requests()) >= 12 and "job finished" in text and "exc" in text
    lowered = text.lower()
    for secret in [*secrets, settings.secret_key]:
        assert secret.lower() not in lowered, f"{secret!r} reached the log"
    own = [r for r in logs.records if r.name.startswith("portal")]
    for record in own:  # and portal's code never relied on the redaction to hide them
        raw = _raw(record).lower()
        for secret in secrets:
            assert secret.lower() not in raw, (record.name, record.getMessage())
    assert "[e-mail]" in text and "ptk_[redacted]" in text  # the internal error, redacted
