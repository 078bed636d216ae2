"""The billing dashboard operations of frontend_contract/operations/ (issue 11), run over HTTP
for the roles that use them: a partner's payouts, an admin's billing run review."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.billing_helpers import billing_world, gid, mutate, start_run
from tests.conftest import Api
from tests.contract.test_operations import OPERATION_FILES, operation

PAYOUT_MINIMUM = """
mutation($input: UpdatePartnerBillingInput!) {
  updatePartnerBilling(input: $input) { userErrors { code } }
}"""


def test_the_billing_operations_are_in_the_contract() -> None:
    assert {p.stem for p in OPERATION_FILES} >= {"partnerPayouts", "billingRunReview"}


async def test_a_partner_sees_its_payouts_and_an_admin_reviews_the_run(
    api: Api, engine: AsyncEngine
) -> None:
    w = await billing_world(engine)
    admin = w.tokens["admin"]
    await mutate(
        api, PAYOUT_MINIMUM, admin, partnerId=gid("Partner", w.ids["B"]), payoutMinimum="1000"
    )
    run = await start_run(api, admin)

    payouts = (await api.data(operation("partnerPayouts"), {}, w.tokens["A"]))["payoutEntries"]
    assert payouts["totalCount"] == 1
    (entry,) = payouts["nodes"]
    assert entry["status"] == "PREVIEW" and entry["documentUrl"] is None
    assert Decimal(entry["net"]["amount"]) == sum(
        Decimal(line["amount"]["amount"]) for line in entry["lines"]
    )
    assert (await api.data(operation("partnerPayouts"), {}, w.tokens["B"]))["payoutEntries"][
        "totalCount"
    ] == 0  # carried over: below its payout minimum

    review = await api.data(operation("billingRunReview"), {"id": run["id"]}, admin)
    assert review["node"]["status"] == "SUCCEEDED" and review["node"]["sepaUrl"]
    report = review["node"]["report"]
    assert [c["partner"]["id"] for c in report["carriedOver"]] == [gid("Partner", w.ids["B"])]
    assert review["payoutEntries"]["totalCount"] == 2  # A and C
    assert review["advertiserInvoices"]["totalCount"] == 2
    # Another viewer does not see the run, nor its entries beyond its own.
    other = await api.data(operation("billingRunReview"), {"id": run["id"]}, w.tokens["A"])
    assert other["node"] is None and other["advertiserInvoices"]["totalCount"] == 0
    assert other["payoutEntries"]["totalCount"] == 1
