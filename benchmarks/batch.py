"""Benchmark one 50-endpoint batch on the embedded engine.

Each wait mode (the template's WaitMode; ``--mode endpoint``, ``group`` or ``both``, the
default) runs the same batches in a local environment of its own, one after the other. Prints
the modes' figures side by side, then as its last line one JSON object:
- invoker_import_ratio: time to import the invoker handler module over time to import
  boto3, fresh interpreters, median of --imports each; dependency_floor_import_ratio the same
  for boto3, Powertools' Logger and one pydantic model alone (what no change of ours can cut);
and under ``modes`` each mode's:
- transitions_per_endpoint: billed state transitions of a 50-endpoint execution / 50 (every
  state entered, plus each retry of a task: Standard workflows are billed per transition),
  median of --runs batches;
- seconds_per_batch: invoker call to response, 50 endpoints, a provider stand-in with
  100 ms latency and immediate receipts (median of --runs batches);
- naive_seconds_per_batch: a plain sequential loop sending the same 50 messages through the
  same stand-in with the same HTTP provider adapter, measured in the same run;
- dynamodb: DynamoDB read and write capacity units per endpoint of one batch (invocation to the
  execution's end, every handler's calls), priced from the calls actually made by DynamoDB's
  rules (journey_activity_local.engine.dynamodb_units), median of --runs batches: ``rcu_per_endpoint``
  and ``wcu_per_endpoint`` in all, of which ``poll_rcu_per_endpoint`` is the invoker's polling
  and ``progress_wcu_per_endpoint`` the writers' updates of the batch progress item it reads.

- drift (with ``--batches N``, in each mode): N more batches one after another in the same environment; the
  mean seconds of the first and the last ten, their ratio (flat is 1.0), and the resident memory
  of the engine's process, of the ledger's DynamoDB process and of the functions' worker
  processes before and after.

- burst (with ``--burst``, instead of the above): Amazon Connect batches of 50 and 100 profiles
  (``--burst-sizes``), SMS through the HTTP stand-in with 100 ms latency and receipts
  ``--receipt-delay`` seconds (20) after each send, each in a fresh environment: seconds from the
  invocation to the stand-in's first and last accepted send, the invoker's answer (SENT counts
  endpoints the provider has), billed transitions per endpoint once the executions end, and the
  same sends one after another by a plain loop in the same run (the baseline: ``last_send_over_loop``).

With ``--imports-only --instructions`` the same three imports are counted in instructions instead
(valgrind's callgrind, once each: the count does not move with the machine's load, which on a
shared machine moves the timed ratios by 0.2 or more), each less a bare interpreter's start.

Run: python benchmarks/batch.py [--runs 3] [--imports 7] [--batches 200] [--mode endpoint|group|both]
     python benchmarks/batch.py --imports-only [--imports 7] [--instructions]
     python benchmarks/batch.py --burst [--burst-sizes 50,100] [--receipt-delay 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from cost import MODES, transitions  # benchmarks/cost.py: the same billing rule
from journey_activity.config import HttpProviderConfig
from journey_activity.models.channels import ChannelType
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


def import_figures(imports: int) -> dict[str, float]:
    """The invoker's cold import against boto3's and the dependency floor's, medians of ``imports``."""
    invoker, boto3, floor = [], [], []
    for _ in range(imports):  # interleaved, so a busy moment weighs on all three alike
        invoker.append(import_seconds("import journey_activity.handlers.invoker"))
        boto3.append(import_seconds("import boto3"))
        floor.append(import_seconds(DEPENDENCY_FLOOR))
    return {
        "invoker_import_seconds": round(statistics.median(invoker), 4),
        "boto3_import_seconds": round(statistics.median(boto3), 4),
        "invoker_import_ratio": round(statistics.median(invoker) / statistics.median(boto3), 2),
        "dependency_floor_import_ratio": round(statistics.median(floor) / statistics.median(boto3), 2),
    }


def instructions(statement: str) -> int:
    """Instructions a fresh interpreter runs for ``statement`` and its own start (callgrind; a
    fixed hash seed, so the same code counts the same)."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           "-X", "frozen_modules=on", "-c", statement], env={**os.environ, "PYTHONHASHSEED": "0"},
                          check=True, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(found.group(1))


def import_instructions() -> dict[str, float]:
    """:func:`import_figures` counted in instructions: each import's, less a bare interpreter's start."""
    bare = instructions("pass")
    invoker = instructions("import journey_activity.handlers.invoker") - bare
    boto3 = instructions("import boto3") - bare
    floor = instructions(DEPENDENCY_FLOOR) - bare
    return {
        "invoker_import_instructions": invoker,
        "boto3_import_instructions": boto3,
        "invoker_import_ratio": round(invoker / boto3, 3),
        "dependency_floor_import_ratio": round(floor / boto3, 3),
    }


def print_imports(figures: dict[str, Any]) -> None:
    if "invoker_import_instructions" in figures:
        print(f"invoker import: {figures['invoker_import_instructions'] / 1e6:.1f} M instructions vs boto3 "
              f"{figures['boto3_import_instructions'] / 1e6:.1f} M (ratio {figures['invoker_import_ratio']}; its "
              f"dependencies alone {figures['dependency_floor_import_ratio']}; the invoker's own modules "
              f"{figures['invoker_import_ratio'] - figures['dependency_floor_import_ratio']:.3f})")
        return
    print(f"invoker import: {figures['invoker_import_seconds']} s vs boto3 {figures['boto3_import_seconds']} s "
          f"(ratio {figures['invoker_import_ratio']}; its dependencies alone "
          f"{figures['dependency_floor_import_ratio']}; the invoker's own modules "
          f"{figures['invoker_import_ratio'] - figures['dependency_floor_import_ratio']:.2f})")


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


def burst(size: int, receipt_delay: float) -> dict[str, Any]:
    """One Connect batch of ``size`` profiles whose receipts come ``receipt_delay`` s after each send."""
    import threading
    from collections import Counter

    from connect_batch import ACTIONS, event_of
    from journey_activity.triggers import connect

    options = LocalOptions(receipt_delay=receipt_delay, latency=LATENCY, deadline_seconds=None,
                           receipt_timeout_seconds=max(120, int(receipt_delay * 4)), receipt_heartbeat_seconds=100,
                           environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)})
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        warm = event_of(range(1_000_000, 1_000_002), run="2026-12-07T08-00-00Z")
        local.invoke(warm)
        for name in local.batch_execution_names(connect.batch_id_for(warm)):
            local.wait_for_execution(local.execution_arn(name), timeout=120)
        already, receipts_already = len(local.provider.sends), len(local.provider.receipts)
        event = event_of(range(size))
        answer: dict[str, Any] = {}
        started = time.perf_counter()
        caller = threading.Thread(target=lambda: answer.update(local.invoke(event)))
        caller.start()
        first = last = None
        receipts_before_last_send = 0
        while caller.is_alive() or last is None:
            sent = len(local.provider.sends) - already
            if sent and first is None:
                first = time.perf_counter() - started
            if sent >= size:
                last = time.perf_counter() - started
                # Receipts already final when the last profile was handed over: none, with receipts
                # slower than the sends, whatever the batch's size (no send waits for a receipt).
                receipts_before_last_send = sum(1 for receipt in local.provider.receipts[receipts_already:]
                                                if receipt["status"] in ("delivered", "failed"))
                break
            if not caller.is_alive() and time.perf_counter() - started > 600:
                break
            time.sleep(0.02)
        caller.join()
        answer_seconds = time.perf_counter() - started
        statuses = Counter(str(entry["ResultData"].get("status")) for entry in answer["Items"]["CustomerProfiles"])
        entered = 0
        for name in local.batch_execution_names(connect.batch_id_for(event)):
            arn = local.execution_arn(name)
            local.wait_for_execution(arn, timeout=receipt_delay * 4 + 300)
            entered += sum(1 for e in local.history(arn) if e["type"].endswith("StateEntered"))
        loop = naive_loop(f"{local.provider.url}/messages", {
            "ScheduledTime": f"burst-{size}", "Data": "Hi",
            "Endpoints": {f"p{index}": {"ChannelType": "SMS", "Address": f"+1{4155560000 + index}"}
                          for index in range(size)}})
        duplicates = local.provider.duplicate_sends
    figures = {"profiles": size, "receipt_delay_seconds": receipt_delay,
               "first_send_seconds": round(first or 0.0, 2), "last_send_seconds": round(last or -1.0, 2),
               "answer_seconds": round(answer_seconds, 2), "answer": dict(statuses),
               "final_receipts_before_last_send": receipts_before_last_send,
               "transitions_per_endpoint": round(entered / size, 3), "duplicate_sends": duplicates,
               "loop_seconds": round(loop, 2),
               "last_send_over_loop": round((last or 0.0) / loop, 2) if loop else None}
    print(f"{size} profiles: sends from {figures['first_send_seconds']} s to {figures['last_send_seconds']} s "
          f"(a plain loop: {figures['loop_seconds']} s), answered in {figures['answer_seconds']} s {dict(statuses)}, "
          f"{figures['transitions_per_endpoint']} transitions per endpoint", file=sys.stderr)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--batches", type=int, default=0,
                        help="then this many batches in a row: drift of seconds per batch and memory")
    parser.add_argument("--burst", action="store_true",
                        help="instead: Connect batches whose receipts are slow; when is every endpoint sent?")
    parser.add_argument("--burst-sizes", default="50,100")
    parser.add_argument("--receipt-delay", type=float, default=20.0)
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both",
                        help="the template's WaitMode to measure, or both (one local environment after the other)")
    parser.add_argument("--imports-only", action="store_true",
                        help="only the invoker's cold import against boto3 and the dependency floor")
    parser.add_argument("--instructions", action="store_true",
                        help="with --imports-only: count instructions (valgrind) instead of timing")
    args = parser.parse_args()
    if args.imports_only:
        figures = import_instructions() if args.instructions else import_figures(args.imports)
        print_imports(figures)
        print(json.dumps(figures))
        return
    if args.burst:
        results = [burst(int(size), args.receipt_delay) for size in args.burst_sizes.split(",")]
        for figures in results:
            print(f"{figures['profiles']} profiles: last send {figures['last_send_seconds']} s after the start "
                  f"(a plain loop {figures['loop_seconds']} s), {figures['transitions_per_endpoint']} billed "
                  f"transitions per endpoint")
        print(json.dumps({"burst": results}))
        return

    modes = list(MODES) if args.mode == "both" else [args.mode]
    results = {mode: measure(mode, args.runs, args.batches) for mode in modes}
    figures: dict[str, Any] = {"endpoints": ENDPOINTS, **import_figures(args.imports), "modes": results}
    for line in side_by_side(results):
        print(line)
    print_imports(figures)
    for mode, result in results.items():
        environments = result["execution_environments"]
        colds = [f["cold_start_ms_median"] for f in environments.values() if f["cold_start_ms_median"] is not None]
        print(f"{mode} mode: execution environments: {result['cold_starts']} cold starts, median per function "
              f"{statistics.median(colds) if colds else 0:.0f} ms")
        drifted = result.get("drift")
        if drifted is not None:
            print(f"{mode} mode: {drifted['batches']} batches in a row: first ten {drifted['first_ten_seconds']} s, "
                  f"last ten {drifted['last_ten_seconds']} s ({drifted['last_over_first']}x); memory "
                  f"{drifted['memory_before']} -> {drifted['memory_after']}")
    print(json.dumps(figures))


def measure(mode: str, runs: int, batches: int) -> dict[str, Any]:
    """One wait mode's figures, in a local environment of its own deployed with WaitMode ``mode``."""
    options = LocalOptions(receipt_delay=0.0, latency=LATENCY, deadline_seconds=30, receipt_timeout_seconds=60,
                           receipt_heartbeat_seconds=30, parameters={"WaitMode": mode})
    batch_seconds: list[float] = []
    naive_seconds: list[float] = []
    billed: list[int] = []
    units: list[dict[str, float]] = []
    # Handlers log to stdout as in Lambda; keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        # Warm up: import the handlers and open connections once, as a warm Lambda would be.
        warm = batch(59)
        local.invoke(warm)
        local.wait_for_execution(local.execution_arn(batch_id_for(warm)))
        for run in range(runs):
            event = batch(run)
            with metered() as used:
                started = time.perf_counter()
                response = local.invoke(event)
                batch_seconds.append(time.perf_counter() - started)
                statuses = {item["EventAttributes"]["status"] for item in response.values()}
                arn = local.execution_arn(batch_id_for(event))
                local.wait_for_execution(arn)
            units.append(used)
            billed.append(transitions(local.history(arn)))
            print(f"{mode} batch {run}: DynamoDB units {used}", file=sys.stderr)
            print(f"{mode} batch {run}: {batch_seconds[-1]:.3f} s, statuses {sorted(statuses)}, "
                  f"{billed[-1]} transitions", file=sys.stderr)
            naive_seconds.append(naive_loop(f"{local.provider.url}/messages", event))
            print(f"naive {run}: {naive_seconds[-1]:.3f} s", file=sys.stderr)
        drifted = drift(local, batches) if batches else None
        environments = local.registry.summary()
    per_endpoint = statistics.median(billed) / ENDPOINTS
    figures: dict[str, Any] = {
        "mode": mode,
        "transitions_per_endpoint": round(per_endpoint, 3),
        "seconds_per_batch": round(statistics.median(batch_seconds), 3),
        "naive_seconds_per_batch": round(statistics.median(naive_seconds), 3),
        "speedup_vs_naive": round(statistics.median(naive_seconds) / statistics.median(batch_seconds), 2),
        "cost_per_million_endpoints_usd": round(per_endpoint * 1_000_000 * 0.025 / 1000, 2),
        "dynamodb": dynamodb_figures(units),
        # Per function: invocations, cold starts (count, median and max ms), timeouts, peak concurrency.
        "execution_environments": environments,
        "cold_starts": sum(f["cold_starts"] for f in environments.values()),
    }
    if drifted is not None:
        figures["drift"] = drifted
    return figures


def side_by_side(results: dict[str, dict[str, Any]]) -> list[str]:
    """The modes' figures in columns: lines to print."""
    modes = list(results)

    def row(label: str, key: str, *path: str) -> str:
        values = []
        for mode in modes:
            value: Any = results[mode]
            for part in (*path, key):
                value = value[part]
            values.append(f"{value:>11}")
        return f"  {label:34}" + "".join(values)

    return [f"  {'per batch of ' + str(ENDPOINTS) + ' endpoints':34}" + "".join(f"{mode:>11}" for mode in modes),
            row("billed transitions per endpoint", "transitions_per_endpoint"),
            row("Step Functions USD per million", "cost_per_million_endpoints_usd"),
            row("seconds per batch", "seconds_per_batch"),
            row("plain loop, seconds per batch", "naive_seconds_per_batch"),
            row("plain loop over batch (speed-up)", "speedup_vs_naive"),
            row("DynamoDB read units per endpoint", "rcu_per_endpoint", "dynamodb"),
            row("  of which the invoker's polling", "poll_rcu_per_endpoint", "dynamodb"),
            row("DynamoDB write units per endpoint", "wcu_per_endpoint", "dynamodb"),
            row("  of which the progress item", "progress_wcu_per_endpoint", "dynamodb")]


if __name__ == "__main__":
    main()
