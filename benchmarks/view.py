"""Benchmark the execution view: its size and build time for real 50-endpoint executions.

Two batches run on the embedded engine: a plain one (every endpoint delivered) and a worst case
(every sendable endpoint's provider answers 503 twice before accepting, so each send is retried
twice; every fifth never sends a receipt and times out, every seventh bounces). For each, the view
is built from the execution (DescribeExecution, GetExecutionHistory, the definition, the ledger)
the way ``run --view`` does; the build (model + page) is timed over --repeats runs.

Prints human-readable figures, then as its last line one JSON object.
Run: python -m benchmarks.view [--repeats 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.batch import batch

from journey_activity.triggers.pinpoint import batch_id_for
from journey_activity_local.stack import LocalEnvironment, LocalOptions
from journey_activity_local.view.model import build_model
from journey_activity_local.view.page import render_page
from journey_activity_local.view.sources import load_execution


def worst_case_behaviours(event: dict[str, Any]) -> dict[str, str]:
    behaviours = {}
    for index, item in enumerate(event["Endpoints"].values()):
        behaviours[item["Address"]] = "never" if index % 5 == 4 else "bounce" if index % 7 == 6 else "flaky:2"
    return behaviours


def measure(name: str, event: dict[str, Any], behaviours: dict[str, str], repeats: int) -> dict[str, Any]:
    options = LocalOptions(receipt_delay=0.05, behaviours=behaviours, deadline_seconds=2, receipt_timeout_seconds=8,
                           receipt_heartbeat_seconds=6)
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        local.invoke(event)
        arn = local.execution_arn(batch_id_for(event))
        local.wait_for_execution(arn, timeout=120)
        records = local.ledger_records(batch_id_for(event))
        data = load_execution(local.client("stepfunctions"), arn)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        page = render_page(build_model(data.events, data.definition, records, data.execution))
        seconds.append(time.perf_counter() - started)
    view = build_model(data.events, data.definition, records, data.execution)
    figures = {
        "endpoints": len(view.endpoints),
        "history_events": len(data.events),
        "retries": sum(state.retried for state in view.states),
        "by_status": view.summary["by_status"],
        "page_bytes": len(page.encode()),
        "build_ms_median": round(statistics.median(seconds) * 1000, 2),
        "build_ms_max": round(max(seconds) * 1000, 2),
    }
    print(f"{name}: {figures}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    plain = batch(1)
    worst = batch(2)
    result = {"plain_50": measure("50 endpoints, all delivered", plain, {}, args.repeats),
              "worst_50": measure("50 endpoints with retries, timeouts and bounces", worst,
                                  worst_case_behaviours(worst), args.repeats)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
