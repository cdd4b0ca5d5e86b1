"""A small soak run with injected faults: every endpoint ends with exactly the outcome its
fault calls for, nothing is sent twice, nothing crashes (benchmarks/soak.py runs the large one)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_a_small_soak_run_loses_nothing_and_sends_nothing_twice():
    soak = load_soak()
    # Seed 4 draws every fault kind and a batch invoked twice concurrently within two batches.
    planned, _ = soak.plan(2, 4)
    assert {fault for batch in planned for fault in batch.faults.values()} >= set(soak.FAULTS)
    assert any(batch.twice for batch in planned)
    figures = soak.soak(batches=2, seed=4, parallel=2)
    assert figures["endpoints"] == 100
    zeros = (figures["lost"], figures["duplicate_sends"], figures["wrong_status"], figures["unhandled_errors"])
    assert zeros == (0, 0, 0, 0), json.dumps(figures, indent=1)
    assert figures["send_requests"] > figures["accepted_sends"]  # faults made the sender retry
