"""Benchmark one 50-endpoint batch on the embedded engine.

Prints human-readable figures, then as its last line one JSON object:
- transitions_per_endpoint: StateEntered events of one 50-endpoint execution / 50
  (Standard workflows are billed per state transition);
- seconds_per_batch: invoker call to response, 50 endpoints, a provider stand-in with
  100 ms latency and immediate receipts (median of --runs batches);
- naive_seconds_per_batch: a plain sequential loop sending the same 50 messages through the
  same stand-in with the same HTTP provider adapter, measured in the same run;
- invoker_import_ratio: time to import the invoker handler module over time to import
  boto3, fresh interpreters, median of --imports each; dependency_floor_import_ratio the same
  for boto3, Powertools' Logger and one pydantic model alone (what no change of ours can cut);
- dynamodb: DynamoDB read and write capacity units per endpoint of one batch (invocation to the
  execution's end, every handler's calls), priced from the calls actually made by DynamoDB's
  rules (journey_activity_local.engine.dynamodb_units), median of --runs batches: ``rcu_per_endpoint``
  and ``wcu_per_endpoint`` in all, of which ``poll_rcu_per_endpoint`` is the invoker's polling
  and ``progress_wcu_per_endpoint`` the writers' updates of the batch progress item it reads.

- drift (with ``--batches N``): N more batches one after another in the same environment; the
  mean seconds of the first and the last ten, their ratio (flat is 1.0), and the resident memory
  of the engine's process, of the ledger's DynamoDB process and of the functions' worker
  processes before and after.

Run: python benchmarks/batch.py [--runs 3] [--imports 7] [--batches 200]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from journey_activity.config import HttpProviderConfig
from journey_activity.models.pinpoint import ChannelType
from journey_activity.providers.base import SendRequest
from journey_activity.providers.http import HttpProvider
from journey_activity.triggers.pinpoint import batch_id_for
from journey_activity_local.engine.dynamodb_units import metered
from journey_activity_local.stack import LocalEnvironment, LocalOptions

ENDPOINTS = 50
LATENCY = 0.1
CHANNELS = [ChannelType.SMS, ChannelType.EMAIL, ChannelType.GCM, ChannelType.APNS, ChannelType.VOICE]


def address(channel: ChannelType, index: int) -> str:
    if channel in (ChannelType.SMS, ChannelType.VOICE):
        return f"+1415555{index:04d}"
    if channel == ChannelType.EMAIL:
        return f"user{index}@example.com"
    return f"token-{channel.value.lower()}-{index:04d}"


def batch(run: int) -> dict[str, Any]:
    endpoints = {}
    for index in range(ENDPOINTS):
        channel = CHANNELS[index % len(CHANNELS)]
        endpoints[f"ep-{index:02d}"] = {
            "ChannelType": channel.value,
            "Address": address(channel, index),
            "EndpointStatus": "ACTIVE",
            "OptOut": "NONE",
            "User": {"UserId": f"user-{index}", "UserAttributes": {"FirstName": [f"Name{index}"]}},
        }
    return {
        "ApplicationId": "benchmark-app",
        "JourneyId": "benchmark-journey",
        "ActivityId": "benchmark-activity",
        "TreatmentId": "0",
        "ScheduledTime": f"2026-11-23T{9 + run // 60:02d}:{run % 60:02d}:00.000Z",
        "Data": "Hello {{User.UserAttributes.FirstName|there}}",
        "Endpoints": endpoints,
    }


def naive_loop(provider_url: str, event: dict[str, Any]) -> float:
    """What every public custom-channel sample does: one send after another, fire and forget."""
    provider = HttpProvider(HttpProviderConfig(url=provider_url))
    started = time.perf_counter()
    for endpoint_id, item in event["Endpoints"].items():
        provider.send(SendRequest(batch_id="naive", endpoint_id=endpoint_id, channel=item["ChannelType"],
                                  address=item["Address"], message=event["Data"],
                                  idempotency_key=f"naive-{event['ScheduledTime']}-{endpoint_id}"))
    return time.perf_counter() - started


# The invoker's dependencies alone, without any of its own modules: boto3, Powertools' Logger and
# one pydantic model (pydantic builds the rest of itself when the first model is defined).
DEPENDENCY_FLOOR = ("import boto3; from aws_lambda_powertools import Logger; from pydantic import BaseModel; "
                    "type('M', (BaseModel,), {'__annotations__': {'x': int}})")


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    output = subprocess.run([sys.executable, "-X", "frozen_modules=on", "-c", code], check=True,
                            capture_output=True, text=True).stdout
    return float(output.strip().splitlines()[-1])


def rss_mb(pid: int) -> float:
    """Resident memory of one process (Linux /proc), in MB."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the functions' worker processes and their forkserver)."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def memory(local: LocalEnvironment) -> dict[str, float]:
    """Resident memory of the engine's process, of the ledger's DynamoDB process, and of the
    functions' worker processes (every other process below the engine's)."""
    import os

    process = getattr(getattr(local, "dynamodb", None), "_process", None)
    dynamodb = process.pid if process is not None else None
    return {"engine_rss_mb": round(rss_mb(os.getpid()), 1),
            "dynamodb_rss_mb": round(rss_mb(dynamodb), 1) if dynamodb is not None else 0.0,
            "workers_rss_mb": round(sum(rss_mb(pid) for pid in descendants(os.getpid()) if pid != dynamodb), 1)}


def drift(local: LocalEnvironment, count: int) -> dict[str, Any]:
    """``count`` batches one after another: is the tenth-to-last as fast as the first ten?"""
    seconds: list[float] = []
    before = memory(local)
    for number in range(count):
        event = batch(100 + number)
        started = time.perf_counter()
        local.invoke(event)
        local.wait_for_execution(local.execution_arn(batch_id_for(event)))
        seconds.append(time.perf_counter() - started)
        if number % 20 == 19:
            print(f"drift: {number + 1}/{count} batches, last {seconds[-1]:.2f} s, {memory(local)}", file=sys.stderr)
    first, last = seconds[:10], seconds[-10:]
    after = memory(local)
    return {"batches": count, "first_ten_seconds": round(statistics.mean(first), 3),
            "last_ten_seconds": round(statistics.mean(last), 3),
            "last_over_first": round(statistics.mean(last) / statistics.mean(first), 3),
            "memory_before": before, "memory_after": after}


def dynamodb_figures(runs: list[dict[str, float]]) -> dict[str, float]:
    """Capacity units per endpoint, the median batch of the runs."""
    def per_endpoint(*keys: str) -> float:
        return round(statistics.median(sum(run.get(key, 0.0) for key in keys) for run in runs) / ENDPOINTS, 3)

    return {
        "rcu_per_endpoint": per_endpoint("poll_rcu", "progress_rcu", "other_rcu"),
        "wcu_per_endpoint": per_endpoint("poll_wcu", "progress_wcu", "other_wcu"),
        "poll_rcu_per_endpoint": per_endpoint("poll_rcu"),
        "poll_reads_per_batch": per_endpoint("poll_calls") * ENDPOINTS,
        "progress_wcu_per_endpoint": per_endpoint("progress_wcu"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--batches", type=int, default=0,
                        help="then this many batches in a row: drift of seconds per batch and memory")
    args = parser.parse_args()

    options = LocalOptions(receipt_delay=0.0, latency=LATENCY, deadline_seconds=30, receipt_timeout_seconds=60,
                           receipt_heartbeat_seconds=30)
    batch_seconds: list[float] = []
    naive_seconds: list[float] = []
    units: list[dict[str, float]] = []
    # Handlers log to stdout as in Lambda; keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        # Warm up: import the handlers and open connections once, as a warm Lambda would be.
        warm = batch(59)
        local.invoke(warm)
        local.wait_for_execution(local.execution_arn(batch_id_for(warm)))
        for run in range(args.runs):
            event = batch(run)
            with metered() as used:
                started = time.perf_counter()
                response = local.invoke(event)
                batch_seconds.append(time.perf_counter() - started)
                statuses = {item["EventAttributes"]["status"] for item in response.values()}
                arn = local.execution_arn(batch_id_for(event))
                local.wait_for_execution(arn)
            units.append(used)
            print(f"batch {run}: DynamoDB units {used}", file=sys.stderr)
            print(f"batch {run}: {batch_seconds[-1]:.3f} s, statuses {sorted(statuses)}", file=sys.stderr)
            naive_seconds.append(naive_loop(f"{local.provider.url}/messages", event))
            print(f"naive {run}: {naive_seconds[-1]:.3f} s", file=sys.stderr)
        entered = sum(1 for e in local.history(arn) if e["type"].endswith("StateEntered"))
        drifted = drift(local, args.batches) if args.batches else None
        environments = local.registry.summary()

    invoker, boto3, floor = [], [], []
    for _ in range(args.imports):  # interleaved, so a busy moment weighs on all three alike
        invoker.append(import_seconds("import journey_activity.handlers.invoker"))
        boto3.append(import_seconds("import boto3"))
        floor.append(import_seconds(DEPENDENCY_FLOOR))
    figures = {
        "endpoints": ENDPOINTS,
        "transitions_per_endpoint": round(entered / ENDPOINTS, 3),
        "seconds_per_batch": round(statistics.median(batch_seconds), 3),
        "naive_seconds_per_batch": round(statistics.median(naive_seconds), 3),
        "speedup_vs_naive": round(statistics.median(naive_seconds) / statistics.median(batch_seconds), 2),
        "invoker_import_seconds": round(statistics.median(invoker), 4),
        "boto3_import_seconds": round(statistics.median(boto3), 4),
        "invoker_import_ratio": round(statistics.median(invoker) / statistics.median(boto3), 2),
        "dependency_floor_import_ratio": round(statistics.median(floor) / statistics.median(boto3), 2),
        "cost_per_million_endpoints_usd": round(entered / ENDPOINTS * 1_000_000 * 0.025 / 1000, 2),
        "dynamodb": dynamodb_figures(units),
        # Per function: invocations, cold starts (count, median and max ms), timeouts, peak concurrency.
        "execution_environments": environments,
        "cold_starts": sum(f["cold_starts"] for f in environments.values()),
    }
    if drifted is not None:
        figures["drift"] = drifted
    print(f"state transitions per endpoint: {figures['transitions_per_endpoint']} "
          f"(${figures['cost_per_million_endpoints_usd']} per million endpoints at $0.025 per 1,000)")
    print(f"seconds per batch: {figures['seconds_per_batch']} vs naive loop {figures['naive_seconds_per_batch']} "
          f"({figures['speedup_vs_naive']}x)")
    print(f"invoker import: {figures['invoker_import_seconds']} s vs boto3 {figures['boto3_import_seconds']} s "
          f"(ratio {figures['invoker_import_ratio']}; its dependencies alone "
          f"{figures['dependency_floor_import_ratio']})")
    dynamodb = figures["dynamodb"]
    print(f"DynamoDB per endpoint: {dynamodb['rcu_per_endpoint']} RCU (invoker polling "
          f"{dynamodb['poll_rcu_per_endpoint']}), {dynamodb['wcu_per_endpoint']} WCU (progress item "
          f"{dynamodb['progress_wcu_per_endpoint']})")
    colds = [f["cold_start_ms_median"] for f in environments.values() if f["cold_start_ms_median"] is not None]
    print(f"execution environments: {figures['cold_starts']} cold starts, median per function "
          f"{statistics.median(colds) if colds else 0:.0f} ms")
    if drifted is not None:
        print(f"{drifted['batches']} batches in a row: first ten {drifted['first_ten_seconds']} s, last ten "
              f"{drifted['last_ten_seconds']} s ({drifted['last_over_first']}x); memory "
              f"{drifted['memory_before']} -> {drifted['memory_after']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
