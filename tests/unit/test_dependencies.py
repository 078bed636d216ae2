"""The declared dependencies (issue 14): the `standard` extra offers uvicorn[standard] at the
very version of the pinned uvicorn, so installing it never moves uvicorn; the pin is the
uvicorn that runs; redis, which portal imports itself, is declared."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _project() -> dict[str, object]:
    with PYPROJECT.open("rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def _pins(requirements: object) -> dict[str, Requirement]:
    assert isinstance(requirements, list)
    return {(parsed := Requirement(text)).name: parsed for text in requirements}


def test_the_standard_extra_is_uvicorn_standard_at_the_pinned_version() -> None:
    project = _project()
    pinned = _pins(project["dependencies"])["uvicorn"]
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict) and "standard" in extras, extras

    offered = _pins(extras["standard"])

    assert list(offered) == ["uvicorn"]
    assert offered["uvicorn"].extras == {"standard"}
    assert str(pinned.specifier).startswith("==")
    assert offered["uvicorn"].specifier == pinned.specifier
    # The pin is the uvicorn installed and run.
    assert pinned.specifier.contains(importlib.metadata.version("uvicorn"))


def test_redis_is_declared() -> None:
    assert "redis" in _pins(_project()["dependencies"])
