"""Calls of the setup mutations for API tests: one query constant per mutation, and a runner
that returns the payload (failing on top-level errors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.adapters.tables import metadata
from portal.schema.ids import encode_id
from tests.conftest import Api

ERRORS = "userErrors { field code message }"
PROGRAM_FIELDS = """id name currency cookieLifetimeDays consentMode followUpPolicy
  followUpWindowDays allowSelfAcceptance publiclyListed"""
RELATIONSHIP_FIELDS = """id status followUpPolicy followUpWindowDays
  partner { id } program { id } commissionModel { id name }"""
MODEL_FIELDS = """id name discountRating
  periods { id validFrom validTo
    rates { conversionTarget trackingCategory percentage fixedAmount } }"""

MUTATIONS = {
    "createProgram": f"program {{ {PROGRAM_FIELDS} }}",
    "updateProgram": f"program {{ {PROGRAM_FIELDS} }}",
    "updatePartner": "partner { id name payoutCurrency country }",
    "createTrackingCategory": "trackingCategory { id key name active }",
    "createConversionTarget": "conversionTarget { id key name active }",
    "createConversionNote": "conversionNote { id code text }",
    "applyToProgram": f"relationship {{ {RELATIONSHIP_FIELDS} }}",
    "setRelationship": f"relationship {{ {RELATIONSHIP_FIELDS} }}",
    "createCommissionModel": f"commissionModel {{ {MODEL_FIELDS} }}",
    "addCommissionPeriod": f"commissionModel {{ {MODEL_FIELDS} }} commissionPeriod {{ id }}",
}


def gid(kind: str, pk: int) -> str:
    return encode_id(kind, pk)


def mutation(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return f"""
    mutation Call($input: {input_type}!) {{
      {name}(input: $input) {{ {MUTATIONS[name]} {ERRORS} }}
    }}"""


async def call(api: Api, name: str, token: str, /, **input: Any) -> dict[str, Any]:
    data = await api.data(mutation(name), {"input": input}, token=token)
    payload: dict[str, Any] = data[name]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[list[str] | None, str]]:
    """The (field, code) pairs of a payload's user errors."""
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


PROGRAM = f"query Program($id: ID!) {{ program(id: $id) {{ {PROGRAM_FIELDS} }} }}"
VOCABULARY = """query Vocabulary($id: ID!) {
  program(id: $id) {
    trackingCategories { key name active }
    conversionTargets { key name active }
    conversionNotes { code text }
  }
}"""
RELATIONSHIPS = f"""query Relationships($program: ID!, $partner: ID!) {{
  relationships(filter: {{ programIds: [$program], partnerIds: [$partner] }}) {{
    nodes {{ {RELATIONSHIP_FIELDS} }}
  }}
}}"""
MODEL = f"""query Model($id: ID!) {{
  node(id: $id) {{ ... on CommissionModel {{ {MODEL_FIELDS} }} }}
}}"""


async def read_relationship(
    api: Api, token: str, program_id: int, partner_id: int
) -> dict[str, Any] | None:
    data = await api.data(
        RELATIONSHIPS,
        {"program": gid("Program", program_id), "partner": gid("Partner", partner_id)},
        token=token,
    )
    nodes: list[dict[str, Any]] = data["relationships"]["nodes"]
    assert len(nodes) <= 1
    return nodes[0] if nodes else None


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    """How many rows every table holds."""
    async with engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in metadata.sorted_tables
        }


SETUP_TABLES = (
    "programs",
    "partners",
    "tracking_categories",
    "conversion_targets",
    "conversion_notes",
    "relationships",
    "commission_models",
    "commission_periods",
    "commission_rates",
    "idempotency_keys",
)


async def setup_rows(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the setup mutations write, in id order."""
    tables = {t.name: t for t in metadata.sorted_tables}
    async with engine.connect() as conn:
        return {
            name: [tuple(r) for r in await conn.execute(select(tables[name]).order_by("id"))]
            for name in SETUP_TABLES
        }
