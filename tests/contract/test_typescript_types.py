"""Issue 14: the dashboards' operations give TypeScript types a frontend team can use. They are
generated with @graphql-codegen (client preset, frontend_contract/codegen.ts) and type-checked,
with a file that uses them as an SPA would, by `tsc --strict` (`make contract-types`).

Needs Node and `frontend_contract/node_modules` (`npm ci` there; `.ci/run` installs them):
skipped without them, failed under CI=true."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CI

CONTRACT = Path(__file__).resolve().parents[2] / "frontend_contract"
BIN = CONTRACT / "node_modules" / ".bin"


def _tools() -> None:
    if shutil.which("node") is None or not (BIN / "graphql-codegen").exists():
        message = (
            "Node and frontend_contract/node_modules are needed: install Node 20, then "
            "`make contract-types` (runs npm ci)"
        )
        if CI:
            pytest.fail(f"{message} (required under CI=true)")
        pytest.skip(message)


def _run(*command: str, cwd: Path = CONTRACT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_codegen_types_of_the_operations_pass_tsc_strict() -> None:
    _tools()
    generated = _run(str(BIN / "graphql-codegen"), "--config", "codegen.ts")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    types = (CONTRACT / "generated" / "graphql.ts").read_text()
    for name in ("RaiseConversionRequestMutation", "DecideConversionRequestsMutationVariables"):
        assert f"export type {name} =" in types
    checked = _run(str(BIN / "tsc"), "--project", "tsconfig.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_tsc_strict_refuses_code_that_misreads_the_types(tmp_path: Path) -> None:
    """The check can fail: a Decimal read as a number, a misspelt field, a missing variable."""
    _tools()
    generated = _run(str(BIN / "graphql-codegen"), "--config", "codegen.ts")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    wrong = tmp_path / "wrong.ts"
    wrong.write_text(
        "import type { RaiseConversionRequestMutation, ExportJobQueryVariables } from "
        f'"{CONTRACT / "generated" / "graphql"}";\n'
        "export function total(r: RaiseConversionRequestMutation): number {\n"
        "  const raised = r.createConversionRequest.conversionRequest!;\n"
        "  const amount: number = raised.commission!.amount;\n"
        "  return amount + raised.commisionModelName.length;\n"
        "}\n"
        "export const variables: ExportJobQueryVariables = {};\n"
    )
    config = json.loads((CONTRACT / "tsconfig.json").read_text())
    config["include"] = [str(wrong)]
    config["compilerOptions"]["typeRoots"] = [str(CONTRACT / "node_modules" / "@types")]
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    checked = _run(str(BIN / "tsc"), "--project", str(tmp_path / "tsconfig.json"), cwd=tmp_path)
    assert checked.returncode != 0
    errors = checked.stdout
    assert "Type 'string' is not assignable to type 'number'" in errors
    assert "commisionModelName" in errors
    assert "Property 'id' is missing" in errors
