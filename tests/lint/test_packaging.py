"""What ``sam build`` packages (functions/requirements.txt) allows exactly what the package
declares (pyproject.toml): an older library than the code needs would build and then fail."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]
# Lambda's Python runtime ships boto3; the function package does not carry its own.
FROM_THE_RUNTIME = frozenset({"boto3"})


def _requirements(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[requirement.name.lower()] = str(requirement.specifier)
    return found


def test_the_function_package_requires_what_the_project_declares():
    declared = _requirements(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    packaged = _requirements((ROOT / "functions" / "requirements.txt").read_text().splitlines())
    expected = {name: spec for name, spec in declared.items() if name not in FROM_THE_RUNTIME}
    assert packaged == expected
