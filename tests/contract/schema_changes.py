"""The breaking-change gate of the schema contract.

`frontend_contract/released/schema.graphql` is the schema of the last release. The current
export is compared with it by graphql-core (`find_breaking_changes`,
`find_dangerous_changes`). A breaking change is allowed only when CHANGELOG.md announces it:
a `Breaking` section of `[Unreleased]` names its schema coordinate in backticks, e.g.
`` `Query.conversions` ``, `` `Conversion.paid` ``, `` `ConversionStatus.PAID` ``,
`` `Query.conversions(first:)` `` or `` `@oneOf` ``. Dangerous changes (an enum value or an
optional argument added …) are reported, not refused.

`python -m tests.contract.schema_changes` (`make contract-diff`) prints every change."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from graphql import build_schema, find_breaking_changes, find_dangerous_changes

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "frontend_contract" / "released" / "schema.graphql"
CURRENT = ROOT / "frontend_contract" / "schema.graphql"
CHANGELOG = ROOT / "CHANGELOG.md"

# A schema coordinate: Type.field, Type.field(arg:), Enum.VALUE, @directive, @directive(arg:).
_COORDINATE = re.compile(
    r"@?[_A-Za-z]\w*\.[_A-Za-z]\w*(?:\([_A-Za-z]\w*:\))?|@[_A-Za-z]\w*(?:\([_A-Za-z]\w*:\))?"
)
_UNION = re.compile(r"from union type ([_A-Za-z]\w*)")


@dataclass(frozen=True, slots=True)
class SchemaChange:
    kind: str
    description: str
    breaking: bool

    @property
    def coordinate(self) -> str:
        """What a CHANGELOG entry names: the changed field, argument, enum value, input field
        or directive; the type for changes of a whole type (the union for a member removed)."""
        union = _UNION.search(self.description)
        if union:
            return union.group(1)
        found = _COORDINATE.search(self.description)
        if found:
            return found.group(0)
        return self.description.split()[0]

    def __str__(self) -> str:
        return f"{self.kind}: {self.description} (name it as `{self.coordinate}`)"


def schema_changes(released_sdl: str, current_sdl: str) -> list[SchemaChange]:
    old, new = build_schema(released_sdl), build_schema(current_sdl)
    breaking = [
        SchemaChange(c.type.name, c.description, True) for c in find_breaking_changes(old, new)
    ]
    dangerous = [
        SchemaChange(c.type.name, c.description, False) for c in find_dangerous_changes(old, new)
    ]
    return breaking + dangerous


def announced_breaking(changelog: str) -> str:
    """The text of the `### Breaking` sections of `## [Unreleased]` (their `####`
    subsections included)."""
    unreleased = re.search(r"^## \[Unreleased\][^\n]*\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    if unreleased is None:
        return ""
    sections = re.findall(
        r"^### Breaking[^\n]*\n(.*?)(?=^### |\Z)", unreleased.group(1), re.M | re.S
    )
    return "\n".join(sections)


def unannounced(changes: list[SchemaChange], changelog: str) -> list[SchemaChange]:
    """The breaking changes no `Breaking` entry of the unreleased version names."""
    text = announced_breaking(changelog)
    return [c for c in changes if c.breaking and f"`{c.coordinate}`" not in text]


def main() -> int:
    changes = schema_changes(RELEASED.read_text(), CURRENT.read_text())
    missing = unannounced(changes, CHANGELOG.read_text())
    for change in changes:
        mark = "BREAKING" if change.breaking else "dangerous"
        note = "  <- not announced in CHANGELOG (Breaking)" if change in missing else ""
        print(f"{mark:9} {change}{note}")
    print(
        f"{sum(c.breaking for c in changes)} breaking ({len(missing)} not announced), "
        f"{sum(not c.breaking for c in changes)} dangerous, against {RELEASED.relative_to(ROOT)}"
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
