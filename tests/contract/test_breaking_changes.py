"""Issue 14, the breaking-change gate: the exported schema is compared with the schema of the
last release (frontend_contract/released/schema.graphql); a breaking change fails the build
unless CHANGELOG.md's `[Unreleased]` has a `Breaking` entry naming it. Dangerous changes are
reported only."""

from __future__ import annotations

import pytest
from graphql import build_schema

from tests.contract.schema_changes import (
    CHANGELOG,
    CURRENT,
    RELEASED,
    SchemaChange,
    announced_breaking,
    schema_changes,
    unannounced,
)

RELEASED_SDL = """
type Query {
  conversions(first: Int): [Conversion!]!
  program(id: ID!): Program
}
type Conversion { id: ID! paid: Boolean! status: Status! }
type Program { id: ID! name: String! }
enum Status { OPEN CONFIRMED REJECTED }
union Result = Conversion | Program
input Filter { status: Status }
"""
CHANGED_SDL = """
type Query {
  conversions(first: Int, after: String): [Conversion!]!
  program(id: ID!, version: Int!): Program
}
type Conversion { id: ID! status: Status! }
type Program { id: ID! name: String }
enum Status { OPEN CONFIRMED REJECTED PAID }
union Result = Conversion
input Filter { status: Status partnerId: ID! }
"""
CHANGELOG_TEXT = """# Changelog
## [Unreleased]
### Added
- `Conversion.paid` is mentioned here, which does not count.
### Breaking
#### Billing
- `Conversion.paid` is gone: read `payoutEntry`.
- `Query.program(version:)` is required.
## [0.1.0] - 2026-11-01
### Breaking
- `Result` lost a member.
"""


def test_the_current_schema_has_no_unannounced_breaking_change() -> None:
    changes = schema_changes(RELEASED.read_text(), CURRENT.read_text())
    missing = unannounced(changes, CHANGELOG.read_text())
    assert missing == [], (
        "breaking schema changes against the last release that CHANGELOG.md does not announce "
        "(add a `Breaking` entry under [Unreleased] naming each, or keep the old field and "
        "deprecate it):\n" + "\n".join(f"  {c}" for c in missing)
    )


def test_the_released_schema_is_a_schema() -> None:
    assert build_schema(RELEASED.read_text()).query_type is not None


def test_breaking_and_dangerous_changes_are_found_and_named() -> None:
    changes = {c.coordinate: c for c in schema_changes(RELEASED_SDL, CHANGED_SDL)}
    breaking = {k for k, c in changes.items() if c.breaking}
    dangerous = {k for k, c in changes.items() if not c.breaking}
    assert breaking == {
        "Conversion.paid",  # field removed
        "Query.program(version:)",  # required argument added
        "Result",  # a member removed from the union
        "Filter.partnerId",  # required input field added
        "Program.name",  # may be null now: clients that relied on a value break
    }
    assert dangerous == {"Status.PAID", "Query.conversions(after:)"}


def test_a_breaking_change_passes_only_with_a_breaking_entry_of_the_unreleased_version() -> None:
    changes = schema_changes(RELEASED_SDL, CHANGED_SDL)
    missing = [c.coordinate for c in unannounced(changes, CHANGELOG_TEXT)]
    # Named under Breaking: passes. Named under Added, or under an older release: fails.
    assert missing == ["Program.name", "Result", "Filter.partnerId"]
    assert "`Conversion.paid` is gone" in announced_breaking(CHANGELOG_TEXT)
    assert "lost a member" not in announced_breaking(CHANGELOG_TEXT)


@pytest.mark.parametrize(
    "changelog",
    [
        "# Changelog\n## [0.1.0]\n### Breaking\n- `Conversion.paid`\n",
        "# Changelog\n## [Unreleased]\n### Breaking\n- Conversion.paid was removed\n",
    ],
    ids=["no unreleased version", "not in backticks"],
)
def test_an_entry_must_be_unreleased_and_name_the_coordinate(changelog: str) -> None:
    change = SchemaChange("FIELD_REMOVED", "Field Conversion.paid was removed.", True)
    assert unannounced([change], changelog) == [change]
