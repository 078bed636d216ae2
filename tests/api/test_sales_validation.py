"""SPEC §9, issue 12: `validateConversions` — one test per outcome code and per bad input, on
SQLite and PostgreSQL (the `engine` fixture), and who may validate what.

The world: program 1 (EUR, advertiser 1) with conversions A-0..A-2 of partner A and B-0..B-2
of partner B (OPEN, 100.00 + i, 5 %); program 2 (JPY, advertiser 2) with C-0..C-2."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import users
from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Role, Viewer
from portal.domain.conversions import ConversionStatus
from portal.schema.ids import encode_id
from portal.services.sales_validation import (
    ValidationLine,
    ValidationOutcome,
    ValidationSource,
    validate_lines,
)
from tests.api.validation_helpers import (
    add_lead,
    codes,
    conversion_gid,
    conversion_row,
    history,
    lock,
    program_gid,
    set_rates,
    snapshot,
    two_periods,
    validate,
)
from tests.conftest import Api, StatementCounter
from tests.factories import build_world


async def test_confirmed(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(
        api, w.tokens["adv1"], program_gid(w), [{"orderId": "A-0", "status": "CONFIRMED"}]
    )

    assert payload["userErrors"] == []
    (result,) = payload["results"]
    assert (result["outcome"], result["status"], result["userErrors"]) == (
        "CONFIRMED",
        "CONFIRMED",
        [],
    )
    assert result["changes"] == [{"field": "status", "from": "OPEN", "to": "CONFIRMED"}]
    assert result["conversion"]["id"] == conversion_gid(w, "A")
    assert result["conversion"]["status"] == "CONFIRMED"
    assert payload["counts"] == [{"outcome": "CONFIRMED", "count": 1}]
    # The change is a revision of source VALIDATION by the validating user.
    found = await history(api, w.tokens["admin"], conversion_gid(w, "A"))
    assert found["history"][-1] == {
        "number": 2,
        "source": "VALIDATION",
        "actorEmail": "adv1@portal.test",
        "changes": [{"field": "status", "from": "OPEN", "to": "CONFIRMED"}],
    }


async def test_rejected_with_a_conversion_note(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [{"orderId": "A-1", "status": "REJECTED", "conversionNote": "RETURNED"}],
    )

    (result,) = payload["results"]
    assert (result["outcome"], result["status"]) == ("REJECTED", "REJECTED")
    assert result["changes"] == [
        {"field": "status", "from": "OPEN", "to": "REJECTED"},
        {"field": "conversionNote", "from": None, "to": "RETURNED"},
    ]
    row = await conversion_row(engine, w.conversions["A"][1])
    assert (row.status, row.conversion_note) == ("REJECTED", "RETURNED")


async def test_value_changed_is_rated_again_with_the_period_of_the_tracking_time(
    api: Api, engine: AsyncEngine
) -> None:
    # given partner A on a model of 5 % until April and 10 % from April, and an order of April
    w = await build_world(engine)
    april = await two_periods(engine, w)

    # when the book says A-0 (March) was 300.00 and APR-1 (April) 150.00
    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [
            {"orderId": "A-0", "status": "CONFIRMED", "orderValue": "300.00"},
            {"orderId": "APR-1", "status": "CONFIRMED", "orderValue": "150.00"},
        ],
    )

    # then each is rated with the period containing its tracking time
    march, april_result = payload["results"]
    assert march["outcome"] == april_result["outcome"] == "VALUE_CHANGED"
    assert march["conversion"]["orderValue"] == {"amount": "300.00", "currency": "EUR"}
    assert march["conversion"]["commission"] == {"amount": "15.00", "currency": "EUR"}
    assert april_result["conversion"]["commission"] == {"amount": "15.00", "currency": "EUR"}
    assert {c["field"] for c in march["changes"]} >= {"orderValue", "commission", "status"}
    row = await conversion_row(engine, april)
    assert (Decimal(row.order_value), row.status) == (Decimal("150.00"), "CONFIRMED")
    found = await history(api, w.tokens["adv1"], conversion_gid(w, "A"))
    assert found["history"][-1]["source"] == "VALIDATION"


async def test_value_changed_in_another_currency_is_converted_at_the_tracking_day(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    await set_rates(engine, date(2026, 3, 1), USD="1.25")

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [{"orderId": "A-0", "status": "CONFIRMED", "orderValue": "250.00", "currency": "USD"}],
    )

    (result,) = payload["results"]
    assert result["outcome"] == "VALUE_CHANGED", result
    assert result["conversion"]["orderValue"] == {"amount": "200.00", "currency": "EUR"}
    assert result["conversion"]["commission"] == {"amount": "10.00", "currency": "EUR"}


async def test_unchanged(api: Api, engine: AsyncEngine) -> None:
    # given A-0 confirmed once
    w = await build_world(engine)
    line = {"orderId": "A-0", "status": "CONFIRMED", "orderValue": "100.00"}
    first = await validate(api, w.tokens["adv1"], program_gid(w), [line])
    assert first["results"][0]["outcome"] == "CONFIRMED"
    before = await snapshot(engine)

    # when the same line comes again
    payload = await validate(api, w.tokens["adv1"], program_gid(w), [line])

    # then nothing changes and no revision is written
    (result,) = payload["results"]
    assert (result["outcome"], result["changes"], result["userErrors"]) == ("UNCHANGED", [], [])
    assert await snapshot(engine) == before
    found = await history(api, w.tokens["adv1"], conversion_gid(w, "A"))
    assert [h["number"] for h in found["history"]] == [1, 2]


async def test_not_found(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [
            {"orderId": "NOPE-1", "status": "CONFIRMED"},
            # C-0 exists, but in program 2
            {"orderId": "C-0", "status": "CONFIRMED"},
            # A-0 exists, but not with this target
            {"orderId": "A-0", "status": "CONFIRMED", "conversionTarget": "LEAD"},
        ],
    )

    assert [r["outcome"] for r in payload["results"]] == ["NOT_FOUND"] * 3
    assert [codes(r) for r in payload["results"]] == [
        [("NOT_FOUND", ["input", "lines", str(i), "orderId"])] for i in range(3)
    ]
    assert [r["conversion"] for r in payload["results"]] == [None] * 3


async def test_ambiguous_until_the_target_names_one(api: Api, engine: AsyncEngine) -> None:
    # given order A-0 has a sale and a lead
    w = await build_world(engine)
    lead = await add_lead(engine, w, "A-0")
    before = await snapshot(engine)

    payload = await validate(
        api, w.tokens["adv1"], program_gid(w), [{"orderId": "A-0", "status": "CONFIRMED"}]
    )

    (result,) = payload["results"]
    assert result["outcome"] == "AMBIGUOUS"
    assert codes(result) == [("AMBIGUOUS", ["input", "lines", "0", "orderId"])]
    assert await snapshot(engine) == before

    # with the target, the line names the lead alone
    named = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [{"orderId": "A-0", "status": "CONFIRMED", "conversionTarget": "LEAD"}],
    )
    assert named["results"][0]["outcome"] == "CONFIRMED"
    assert named["results"][0]["conversion"]["id"] == encode_id("Conversion", lead)


async def test_paid(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await lock(engine, w.conversions["A"][0], reserved=False)
    before = await snapshot(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [{"orderId": "A-0", "status": "REJECTED", "conversionNote": "RETURNED"}],
    )

    (result,) = payload["results"]
    assert result["outcome"] == "PAID"
    assert codes(result) == [("CONVERSION_PAID", ["input", "lines", "0", "orderId"])]
    assert await snapshot(engine) == before


async def test_reserved(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    await lock(engine, w.conversions["A"][0], reserved=True)
    before = await snapshot(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [{"orderId": "A-0", "status": "CONFIRMED", "orderValue": "50.00"}],
    )

    (result,) = payload["results"]
    assert result["outcome"] == "RESERVED"
    assert codes(result) == [("CONVERSION_RESERVED", ["input", "lines", "0", "orderId"])]
    assert await snapshot(engine) == before


async def test_invalid_lines_name_their_fields_and_leave_the_others_alone(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    before = await snapshot(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [
            {"orderId": "A-0", "status": "REJECTED"},  # no note
            {"orderId": "A-1", "status": "REJECTED", "conversionNote": "NO_SUCH_NOTE"},
            {"orderId": "A-2", "status": "CONFIRMED", "orderValue": "-1"},
            {"orderId": "  ", "status": "CONFIRMED"},
            {"orderId": "B-0", "status": "CONFIRMED", "orderValue": "80", "currency": "USD"},
            {"orderId": "B-1", "status": "CONFIRMED"},
            {"orderId": "B-1", "status": "REJECTED", "conversionNote": "RETURNED"},
        ],
    )

    results = payload["results"]
    assert [r["outcome"] for r in results] == [
        "INVALID",
        "INVALID",
        "INVALID",
        "INVALID",
        "INVALID",
        "CONFIRMED",
        "INVALID",
    ]
    assert [codes(r) for r in results] == [
        [("NOTE_REQUIRED", ["input", "lines", "0", "conversionNote"])],
        [("UNKNOWN_CONVERSION_NOTE", ["input", "lines", "1", "conversionNote"])],
        [("NEGATIVE_VALUE", ["input", "lines", "2", "orderValue"])],
        [("BLANK", ["input", "lines", "3", "orderId"])],
        [("MISSING_EXCHANGE_RATE", ["input", "lines", "4", "currency"])],
        [],
        [("DUPLICATE_IN_BATCH", ["input", "lines", "6", "orderId"])],
    ]
    # Only the good line was written.
    after = dict((r[0], r) for r in await snapshot(engine))
    changed = [pk for pk, row in dict((r[0], r) for r in before).items() if after[pk] != row]
    assert changed == [w.conversions["B"][1]]


async def test_a_dry_run_answers_the_outcomes_and_writes_nothing(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    before = await snapshot(engine)

    payload = await validate(
        api,
        w.tokens["adv1"],
        program_gid(w),
        [
            {"orderId": "A-0", "status": "CONFIRMED"},
            {"orderId": "A-1", "status": "CONFIRMED", "orderValue": "500"},
            {"orderId": "A-2", "status": "REJECTED", "conversionNote": "RETURNED"},
        ],
        dry_run=True,
    )

    assert payload["dryRun"] is True
    assert [r["outcome"] for r in payload["results"]] == ["CONFIRMED", "VALUE_CHANGED", "REJECTED"]
    assert payload["results"][1]["changes"][0] == {
        "field": "orderValue",
        "from": "101.00",
        "to": "500.00",
    }
    assert await snapshot(engine) == before
    found = await history(api, w.tokens["adv1"], conversion_gid(w, "A"))
    assert len(found["history"]) == 1


# -- bad input of the whole call: a coded error, nothing written -----------------------------


async def test_more_than_1000_lines_is_refused_and_nothing_is_written(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    before = await snapshot(engine)
    lines = [{"orderId": "A-0", "status": "CONFIRMED"}] * 1001

    payload = await validate(api, w.tokens["adv1"], program_gid(w), lines)

    assert payload["results"] == []
    assert codes(payload) == [("BATCH_TOO_LARGE", ["input", "lines"])]
    assert await snapshot(engine) == before


async def test_no_lines_is_refused(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(api, w.tokens["adv1"], program_gid(w), [])

    assert codes(payload) == [("BATCH_EMPTY", ["input", "lines"])]


async def test_a_foreign_program_is_not_found_and_nothing_is_written(
    api: Api, engine: AsyncEngine
) -> None:
    w = await build_world(engine)
    before = await snapshot(engine)

    payload = await validate(
        api, w.tokens["adv1"], program_gid(w, "p2"), [{"orderId": "C-0", "status": "CONFIRMED"}]
    )

    assert payload["results"] == []
    assert codes(payload) == [("NOT_FOUND", ["input", "programId"])]
    assert await snapshot(engine) == before


async def test_a_malformed_program_id_is_invalid(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(
        api, w.tokens["adv1"], "garbage", [{"orderId": "A-0", "status": "CONFIRMED"}]
    )

    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_ID"]


async def test_partners_are_refused(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)
    before = await snapshot(engine)

    for who in ("A", "C"):
        payload = await validate(
            api, w.tokens[who], program_gid(w), [{"orderId": "A-0", "status": "CONFIRMED"}]
        )
        assert payload["results"] == []
        assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"], who
    assert await snapshot(engine) == before


async def test_admins_validate_any_program(api: Api, engine: AsyncEngine) -> None:
    w = await build_world(engine)

    payload = await validate(
        api, w.tokens["admin"], program_gid(w, "p2"), [{"orderId": "C-1", "status": "CONFIRMED"}]
    )

    assert payload["userErrors"] == []
    assert payload["results"][0]["outcome"] == "CONFIRMED"
    found = await history(api, w.tokens["admin"], conversion_gid(w, "C", 1))
    assert found["history"][-1]["actorEmail"] == "admin@portal.test"


async def test_lines_may_name_the_conversion_by_id(engine: AsyncEngine) -> None:
    """The tracking-difference report rejects conversions it knows by id, through the same
    service (`source=TRACKING_DIFFERENCE`); an id of another program is NOT_FOUND."""
    w = await build_world(engine)
    async with UnitOfWork(engine) as uow:
        user = await uow.conn.scalar(select(users.c.id).where(users.c.email == "adv1@portal.test"))
        viewer = Viewer(user_id=user, role=Role.ADVERTISER, advertiser_id=w.ids["adv1"])
        results = await validate_lines(
            uow,
            viewer,
            w.ids["p1"],
            [
                ValidationLine(
                    "A-1",
                    ConversionStatus.REJECTED,
                    conversion_note="INVALID_ORDER",
                    conversion_id=w.conversions["A"][1],
                ),
                ValidationLine(
                    "C-0", ConversionStatus.CONFIRMED, conversion_id=w.conversions["C"][0]
                ),
            ],
            source=ValidationSource.TRACKING_DIFFERENCE,
        )
        await uow.commit()

    assert [r.outcome for r in results] == [ValidationOutcome.REJECTED, ValidationOutcome.NOT_FOUND]
    assert results[0].revision == 2 and results[1].errors[0].field == ("conversionId",)
    row = await conversion_row(engine, w.conversions["A"][1])
    assert (row.status, row.conversion_note) == ("REJECTED", "INVALID_ORDER")


async def test_every_change_is_a_revision_of_its_own(api: Api, engine: AsyncEngine) -> None:
    # given A-0 confirmed with a new value, then rejected, in two calls of two lines each
    w = await build_world(engine)
    token, program = w.tokens["adv1"], program_gid(w)
    await validate(
        api,
        token,
        program,
        [
            {"orderId": "A-0", "status": "CONFIRMED", "orderValue": "120.00"},
            {"orderId": "A-1", "status": "CONFIRMED"},
        ],
    )
    await validate(
        api,
        token,
        program,
        [
            {"orderId": "A-1", "status": "CONFIRMED"},
            {"orderId": "A-0", "status": "REJECTED", "conversionNote": "RETURNED"},
        ],
    )

    # then A-0's history has the creation and one revision per change, in order
    found = await history(api, token, conversion_gid(w, "A", 0))
    assert [(h["number"], h["source"]) for h in found["history"]] == [
        (1, "TRACKING"),
        (2, "VALIDATION"),
        (3, "VALIDATION"),
    ]
    assert found["history"][1]["changes"] == [
        {"field": "orderValue", "from": "100.00", "to": "120.00"},
        {"field": "commission", "from": "5.00", "to": "6.00"},
        {"field": "status", "from": "OPEN", "to": "CONFIRMED"},
    ]
    assert found["history"][2]["changes"] == [
        {"field": "status", "from": "CONFIRMED", "to": "REJECTED"},
        {"field": "conversionNote", "from": None, "to": "RETURNED"},
    ]
    assert (found["status"], found["orderValue"]["amount"], found["commission"]["amount"]) == (
        "REJECTED",
        "120.00",
        "6.00",
    )
    other = await history(api, token, conversion_gid(w, "A", 1))
    assert [h["number"] for h in other["history"]] == [1, 2]


async def test_the_statement_count_does_not_grow_with_the_lines(
    api: Api, engine: AsyncEngine, statements: StatementCounter
) -> None:
    w = await build_world(engine, conversions_per_partner=40)
    token, program = w.tokens["adv1"], program_gid(w)
    await validate(api, token, program, [{"orderId": "A-39", "status": "CONFIRMED"}])

    counts = {}
    for partner, size in (("A", 4), ("B", 40)):
        lines = [
            {"orderId": f"{partner}-{i}", "status": "CONFIRMED"}
            if i % 2
            else {"orderId": f"{partner}-{i}", "status": "CONFIRMED", "orderValue": "90.00"}
            for i in range(size)
        ]
        statements.reset()
        payload = await validate(api, token, program, lines)
        counts[size] = statements.count
        assert {r["outcome"] for r in payload["results"]} == {"CONFIRMED", "VALUE_CHANGED"}
        assert all(r["conversion"]["status"] == "CONFIRMED" for r in payload["results"])

    assert counts[4] == counts[40], statements.statements
