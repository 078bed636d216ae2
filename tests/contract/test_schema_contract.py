"""API.md: `frontend_contract/schema.graphql` is the schema as the code exports it, committed, and
checked to match the code. Frontend teams generate their types from that file, so a schema change
that is not exported (and noted in CHANGELOG.md) must fail the build."""

from __future__ import annotations

import difflib
from pathlib import Path

import strawberry.cli  # noqa: F401  (importing it registers `export-schema`)
from strawberry.cli.app import app as strawberry_cli
from strawberry.printer import print_schema
from typer.testing import CliRunner

import portal.schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "frontend_contract" / "schema.graphql"
HOW_TO_FIX = (
    "run `make schema` to export it again, review the diff, and note the change in CHANGELOG.md "
    "(Added / Deprecated / Breaking) for the frontend teams"
)


def exported_sdl() -> str:
    """The text `strawberry export-schema portal.schema:schema --output …` writes."""
    return print_schema(portal.schema.schema) + "\n"


def test_committed_schema_is_what_the_code_exports() -> None:
    assert CONTRACT.exists(), f"{CONTRACT.relative_to(ROOT)} is missing: {HOW_TO_FIX}"
    committed = CONTRACT.read_text(encoding="utf-8")
    exported = exported_sdl()
    if committed != exported:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    exported.splitlines(keepends=True),
                    fromfile="frontend_contract/schema.graphql (committed)",
                    tofile="portal.schema:schema (code)",
                )
            )[:80]
        )
        raise AssertionError(
            f"frontend_contract/schema.graphql differs from the schema of the code: {HOW_TO_FIX}."
            f"\n\n{diff}"
        )


def test_make_schema_writes_the_text_this_check_compares(tmp_path: Path) -> None:
    # `make schema` runs strawberry's CLI; this test compares print_schema's text. Both must
    # agree, or `make schema` could never make the check above pass.
    output = tmp_path / "schema.graphql"
    result = CliRunner().invoke(
        strawberry_cli,
        ["export-schema", "portal.schema:schema", "--app-dir", str(ROOT), "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == exported_sdl()
