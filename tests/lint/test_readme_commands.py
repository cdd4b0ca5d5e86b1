"""The README's two commands are the ones that work: CI runs the test command exactly, both
install from the lock, and the documentation's getting-started page shows the same two."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.lint
ROOT = Path(__file__).resolve().parents[2]


def _quick_start_commands(page: Path) -> list[str]:
    quick_start = page.read_text().split("## Quick start", 1)[1]
    return re.findall(r"```sh\n(.+?)\n```", quick_start, flags=re.S)[:2]


def _readme_commands() -> list[str]:
    return _quick_start_commands(ROOT / "README.md")


def test_ci_runs_the_readmes_test_command_exactly():
    _, test = _readme_commands()
    last = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()][-1]
    assert last == test


def test_both_commands_install_the_locked_versions_and_run_a_connect_journey():
    setup_and_run, test = _readme_commands()
    for command in (setup_and_run, test):
        assert re.search(r"pip install uv==\d+\.\d+\.\d+ ", command)  # uv itself at one version
        assert "uv sync --locked" in command
        assert "pip install -e" not in command
    assert "npm ci" in test
    assert "pytest" in test
    assert "examples/connect-journey.json" in setup_and_run  # the live trigger first


def test_the_getting_started_page_shows_the_readmes_two_commands():
    assert _quick_start_commands(ROOT / "docs" / "getting-started.md") == _readme_commands()
