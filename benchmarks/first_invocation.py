"""The invoker's cold start as a trigger meets it: the import and the first invocation.

Each run is a fresh interpreter that imports the invoker's handler module and calls it once with
an Amazon Connect event (``tests/events/connect_journey.json``: five profiles, an SMS action from
``CONNECT_ACTIONS``; fresh ids and idempotency tokens each run, so every run is a new batch), its
AWS calls going to a moto server (DynamoDB, Step Functions) started here. moto starts the
execution but runs none of it, so the invoker waits until its deadline (``--deadline``, 4 s) and
answers ``PENDING``; that wait is idle, and the figures that matter are taken before it:

- import_cpu_ms: CPU time of ``import journey_activity.handlers.invoker``;
- started_cpu_ms: CPU time from the start of the import until the batch's execution is started
  (the handler's parsing, its settings, the trigger's adapter and models imported on first use,
  boto3's clients made, the ledger's writes and StartExecution): what a cold start costs before
  anything is sent;
- invocation_cpu_ms: the same until the handler returns (the wait's polling too);
- boto3_import_cpu_ms: ``import boto3`` in a fresh interpreter, the yardstick of
  ``benchmarks/batch.py``'s import ratios, taken in turn with the runs;

medians of ``--runs`` (9). CPU time, not wall-clock time: the moto server runs in this process,
and another process's load moves CPU time less. ``--functions DIR`` puts another copy of the
product first on the path (e.g. an earlier version, for a before and after in the same run).

``--instructions``: counted in instructions instead (valgrind's callgrind, once each, less a bare
interpreter's start; the count does not move with the machine's load): the import alone, and the
import and the first invocation until the execution is started (the interpreter then exits; the
deadline is long, as valgrind runs the code some fifty times slower), against ``import boto3``.

Run: python benchmarks/first_invocation.py [--runs 9] [--deadline 4] [--functions DIR] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3

from journey_activity_local.engine.moto_server import MotoServer

ROOT = Path(__file__).resolve().parents[1]
EVENT = ROOT / "tests" / "events" / "connect_journey.json"
ACTIONS = {"*": {"channel": "SMS", "message": "Hello {{Attributes.Customer.FirstName}}"}}
REGION = "us-east-1"

# Run in the fresh interpreter: the figures as its last line. Wrapping dispatch.start_parts_by only
# notes the time it returns; the handler runs as deployed.
CHILD = """
import json, os, sys, time
cpu, wall = time.process_time(), time.perf_counter()
import journey_activity.handlers.invoker as invoker
imported = time.process_time() - cpu
from journey_activity import dispatch
marks = {}
start_parts_by = dispatch.start_parts_by
def noted(*args, **kwargs):
    try:
        return start_parts_by(*args, **kwargs)
    finally:
        marks["started"] = time.process_time() - cpu
        if os.environ.get("FIRST_INVOCATION_EXIT_AT_START"):
            os._exit(0)
dispatch.start_parts_by = noted
class Context:
    function_name = "InvokerFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:InvokerFunction"
    aws_request_id = "first-invocation"
    def get_remaining_time_in_millis(self):
        limit = float(os.environ.get("FIRST_INVOCATION_TIMEOUT_SECONDS", "60"))
        return int((limit - (time.perf_counter() - wall)) * 1000)
answer = invoker.handler(json.loads(sys.argv[1]), Context())
done = time.process_time() - cpu
statuses = sorted({p["ResultData"]["status"] for p in answer["Items"]["CustomerProfiles"]})
print(json.dumps({"import_cpu_ms": imported * 1000, "started_cpu_ms": marks["started"] * 1000,
                  "invocation_cpu_ms": done * 1000, "statuses": statuses}))
"""
BOTO3 = "import time; c = time.process_time(); import boto3; print((time.process_time() - c) * 1000)"


def event(run: int) -> dict[str, Any]:
    """The Connect event with this run's own run id, profile ids and idempotency tokens."""
    document = json.loads(EVENT.read_text())
    document["InvocationMetadata"]["CampaignContext"]["RunId"] = f"first-invocation-{run}-{uuid.uuid4()}"
    for profile in document["Items"]["CustomerProfiles"]:
        profile["ProfileId"] = uuid.uuid4().hex
        profile["IdempotencyToken"] = uuid.uuid4().hex * 2
    return document


def environment(url: str, deployed: tuple[str, str], deadline: float, functions: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update({
        "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "LEDGER_TABLE": deployed[0],
        "STATE_MACHINE_ARN": deployed[1], "CONNECT_ACTIONS": json.dumps(ACTIONS),
        "INVOKER_DEADLINE_SECONDS": str(deadline), "POWERTOOLS_SERVICE_NAME": "journey-activity",
        "POWERTOOLS_METRICS_NAMESPACE": "JourneyActivity", "POWERTOOLS_LOG_LEVEL": "INFO",
    })
    if functions:
        env["PYTHONPATH"] = os.pathsep.join([functions, *filter(None, [env.get("PYTHONPATH")])])
    return env


def deploy(url: str) -> tuple[str, str]:
    """A ledger table and a state machine of their own in moto (whose backends are the process's);
    returns the table's name and the state machine's ARN."""
    name = f"first-invocation-{uuid.uuid4().hex[:12]}"
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    session.client("dynamodb", endpoint_url=url).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    machine = session.client("stepfunctions", endpoint_url=url).create_state_machine(
        name=name, roleArn="arn:aws:iam::123456789012:role/first-invocation",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}))
    return name, str(machine["stateMachineArn"])


def first_invocation(env: dict[str, str], run: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-X", "frozen_modules=on", "-c", CHILD, json.dumps(event(run))],
                          env=env, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def boto3_import(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-X", "frozen_modules=on", "-c", BOTO3], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def instructions(args: list[str], env: dict[str, str]) -> int:
    """Instructions a fresh interpreter runs (callgrind; a fixed hash seed)."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           "-X", "frozen_modules=on", *args], env={**env, "PYTHONHASHSEED": "0"}, check=True,
                          capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(found.group(1))


def count(functions: str | None) -> dict[str, Any]:
    """The figures in instructions, each less a bare interpreter's start (see the module's notes)."""
    with MotoServer() as server:
        deployed = deploy(server.url)
        env = {**environment(server.url, deployed, 600.0, functions), "FIRST_INVOCATION_EXIT_AT_START": "1",
               "FIRST_INVOCATION_TIMEOUT_SECONDS": "900"}
        bare = instructions(["-c", "pass"], env)
        figures = {
            "import_instructions": instructions(["-c", "import journey_activity.handlers.invoker"], env) - bare,
            "started_instructions": instructions(["-c", CHILD, json.dumps(event(0))], env) - bare,
            "boto3_import_instructions": instructions(["-c", "import boto3"], env) - bare,
        }
        started = len(boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION,
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
                      .list_executions(stateMachineArn=deployed[1])["executions"])
    if started != 1:
        raise SystemExit(f"{started} executions started for one invocation: the figures measure another path")
    return figures


def measure(runs: int, deadline: float, functions: str | None) -> dict[str, Any]:
    with MotoServer() as server:
        deployed = deploy(server.url)
        env = environment(server.url, deployed, deadline, functions)
        invocations, yardstick = [], []
        for run in range(runs):  # in turn, so a busy moment weighs on both alike
            invocations.append(first_invocation(env, run))
            yardstick.append(boto3_import(env))
        started = len(boto3.client("stepfunctions", endpoint_url=server.url, region_name=REGION,
                                   aws_access_key_id="testing", aws_secret_access_key="testing")
                      .list_executions(stateMachineArn=deployed[1])["executions"])
    if started != runs:
        raise SystemExit(f"{started} executions started for {runs} invocations: the figures measure another path")
    figures: dict[str, Any] = {
        key: round(statistics.median(float(i[key]) for i in invocations), 1)
        for key in ("import_cpu_ms", "started_cpu_ms", "invocation_cpu_ms")}
    figures["boto3_import_cpu_ms"] = round(statistics.median(yardstick), 1)
    figures["statuses"] = sorted({status for i in invocations for status in i["statuses"]})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--deadline", type=float, default=4.0,
                        help="the invoker's deadline (INVOKER_DEADLINE_SECONDS); above 3 s, or no part starts")
    parser.add_argument("--functions", help="a directory holding another copy of journey_activity, first on the path")
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead of timing")
    args = parser.parse_args()
    if args.instructions:
        counted = count(args.functions)
        boto3_import = counted["boto3_import_instructions"]
        print(f"invoker first invocation (instructions): import {counted['import_instructions'] / 1e6:.1f} M "
              f"({counted['import_instructions'] / boto3_import:.3f} of import boto3), started "
              f"{counted['started_instructions'] / 1e6:.1f} M ({counted['started_instructions'] / boto3_import:.3f}); "
              f"import boto3 {boto3_import / 1e6:.1f} M")
        print(json.dumps(counted))
        return
    figures = measure(args.runs, args.deadline, args.functions)
    print(f"invoker first invocation (CPU, median of {args.runs}): import {figures['import_cpu_ms']} ms, "
          f"started {figures['started_cpu_ms']} ms, returned {figures['invocation_cpu_ms']} ms; "
          f"import boto3 {figures['boto3_import_cpu_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
