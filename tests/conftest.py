"""Shared test helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EVENTS = Path(__file__).parent / "events"


@pytest.fixture
def load_event() -> Callable[[str], Any]:
    """``load_event(name)``: the JSON document ``tests/events/<name>.json``."""

    def load(name: str) -> Any:
        return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))

    return load
