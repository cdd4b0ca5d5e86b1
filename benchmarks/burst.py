"""A campaign's burst on the embedded engine: many Amazon Connect batches invoked at once.

Connect's campaign engine invokes the custom action's Lambda function once per batch of
profiles, many batches at once. Here ``--batches`` (100) Connect-style invocations of the
invoker, each of ``--size`` profiles of its own (Connect-like 32-character ids, an SMS action
from ``CONNECT_ACTIONS``, as ``benchmarks/connect_batch.py``), are started at the same moment
from as many threads (a barrier), against one local environment: the local Lambda runtime
enforces concurrency as Lambda does (the invoker's reserved concurrency when
``InvokerReservedConcurrency`` is set, the account's 1,000 otherwise), and runs each invocation in
an execution environment of its own (up to ``INVOKER_ENVIRONMENTS``).

Before the burst, in the same environment: one small batch to warm the functions, then a
baseline, one batch of ``--size`` alone (invoked, answered, its executions ended). With
``--warm``, as many invoker environments as batches are initialized first (Lambda's provisioned
concurrency does the same), so the burst's invocations find warm environments: without it each
starts cold, and 100 cold starts at once on a 2-core machine cost far more than on Lambda, where
each has a machine of its own.

Measured:

- answered: invocations answered (not refused, not failed), and whether every answer holds
  every ProfileId of its batch once, in order (``answers_incomplete`` counts those that do not);
- throttled: invocations refused 429 ``TooManyRequestsException`` (with Lambda's ``Reason``),
  and other invocation errors;
- sends: after every execution ended, the provider stand-in's accepted sends per address
  (one address per profile): ``lost`` (a profile of an answered batch never sent),
  ``sent_twice`` (more than one accepted send; ``duplicate_requests``, requests repeating an
  idempotency key, answered but not sent again), ``sent_of_refused`` (sends of the profiles of
  throttled batches: 0, a refused invocation starts nothing), ``sent_of_failed`` (of the
  profiles of failed invocations), and profiles of answered batches whose ledger record is final;
- ``last_answer_seconds``: from the barrier to the last answer; ``baseline_seconds``: the
  lone batch's answer; ``ratio``: the two over each other; answer-time percentiles;
- the invoker's concurrency (peak invocations at once, peak environments, cold starts,
  throttles) and every function's throttles and timeouts (``registry.summary``);
- the ledger's DynamoDB calls during the burst (all of them, and per second: the local
  DynamoDB, moto in a process of its own, applies one request at a time);
- the machine's one-minute load average before and after (other work slows every figure).

``zeros`` is true when every invocation was answered in full, none throttled, none failed,
none lost and none sent twice.

Prints a summary; the last line is one JSON object.
Run: python benchmarks/burst.py [--batches 100] [--size 5] [--reserved N] [--parameter NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from journey_activity.triggers import connect
from journey_activity_local.engine.dynamodb_units import metered
from journey_activity_local.stack import LocalEnvironment, LocalInvokeError, LocalOptions

ACTIONS = {"Renewal reminder": {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName|there}}, your "
                                                              "{{Profile.attributes.plan|}} plan renews soon."}}
FINAL = {"DELIVERED", "FAILED", "SKIPPED", "TIMED_OUT"}
LATENCY = 0.1


def profile(index: int) -> dict[str, Any]:
    profile_id = hashlib.md5(str(index).encode()).hexdigest()  # 32 hex characters, like Connect's ids
    data = {"profileId": profile_id, "firstName": f"P{index}", "mobilePhoneNumber": f"+1{4155550000 + index}",
            "attributes": {"plan": "basic"}}
    return {"ProfileId": profile_id, "CustomerData": json.dumps(data),
            "IdempotencyToken": hashlib.sha256(f"token-{index}".encode()).hexdigest()}


def event_of(first: int, size: int, run: str = "2026-12-07T09-00-00Z") -> dict[str, Any]:
    """Connect's event for a batch of ``size`` profiles from index ``first`` (one campaign run)."""
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-1", "RunId": f"c-1#{run}",
                                                       "ActionId": "Renewal reminder", "CampaignName": "renewals"}},
            "Items": {"CustomerProfiles": [profile(index) for index in range(first, first + size)]}}


def ids_of(event: dict[str, Any]) -> list[str]:
    return [item["ProfileId"] for item in event["Items"]["CustomerProfiles"]]


def wait_for_batches(local: LocalEnvironment, events: list[dict[str, Any]], timeout: float) -> Counter[str]:
    """Every execution of the batches ended (or ``timeout``): their statuses counted (``NONE``
    for a batch with no execution at all, ``UNLISTED_<status>`` for one ListExecutions missed)."""
    limit = time.monotonic() + timeout
    statuses: Counter[str] = Counter()
    for event in events:
        batch_id = connect.batch_id_for(event)
        names = local.batch_execution_names(batch_id)
        if not names:
            # Not listed: DescribeExecution tells a listing that missed it from no execution at all.
            try:
                described = local.client("stepfunctions").describe_execution(
                    executionArn=local.execution_arn(batch_id))["status"]
                statuses[f"UNLISTED_{described}"] += 1
            except ClientError:
                statuses["NONE"] += 1
        for name in names:
            left = max(1.0, limit - time.monotonic())
            statuses[local.wait_for_execution(local.execution_arn(name), timeout=left)["status"]] += 1
    return statuses


class Call:
    """One invocation of the burst: its answer, or how it was refused."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.answer: dict[str, Any] | None = None
        self.throttled: str | None = None  # Lambda's Reason
        self.error: str | None = None
        self.seconds: float | None = None

    def run(self, local: LocalEnvironment, barrier: threading.Barrier, started: list[float]) -> None:
        barrier.wait()
        try:
            self.answer = local.invoke(copy.deepcopy(self.event))
        except ClientError as refused:
            if refused.response["Error"]["Code"] == "TooManyRequestsException":
                self.throttled = str(refused.response.get("Reason") or "TooManyRequestsException")
            else:
                self.error = f"{refused.response['Error']['Code']}: {refused}"
        except LocalInvokeError as failed:
            self.error = str(failed)
        except Exception as failed:  # a broken connection: counted, not raised
            self.error = f"{type(failed).__name__}: {failed}"
        self.seconds = time.perf_counter() - started[0]

    @property
    def complete(self) -> bool:
        entries = (self.answer or {}).get("Items", {}).get("CustomerProfiles") or []
        return [entry.get("Id") for entry in entries] == ids_of(self.event)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def burst(args: argparse.Namespace) -> dict[str, Any]:
    log_path = Path(tempfile.mkstemp(prefix="burst-", suffix=".log")[1])
    parameters = dict(part.split("=", 1) for part in args.parameter)
    if args.reserved is not None:
        parameters["InvokerReservedConcurrency"] = str(args.reserved)
    options = LocalOptions(receipt_delay=args.receipt_delay, latency=args.latency, deadline_seconds=args.deadline,
                           environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, log_level="WARNING",
                           function_log=log_path, parameters=parameters,
                           account_concurrency=args.account_concurrency)
    figures: dict[str, Any] = {"batches": args.batches, "size": args.size, "profiles": args.batches * args.size,
                               "receipt_delay": args.receipt_delay, "latency": args.latency,
                               "load_average_before": round(os.getloadavg()[0], 2)}
    with LocalEnvironment(options) as local:
        figures["reserved_concurrency"] = {name: spec.reserved_concurrency
                                           for name, spec in local.registry.specs.items()
                                           if spec.reserved_concurrency is not None}
        if args.warm:
            began = time.perf_counter()
            figures["warm_environments"] = local.registry.provision("InvokerFunction", args.batches)
            figures["warm_seconds"] = round(time.perf_counter() - began, 1)
        warm = event_of(10_000_000, 2, run="2026-12-07T07-00-00Z")
        local.invoke(warm)
        baseline_event = event_of(20_000_000, args.size, run="2026-12-07T08-00-00Z")
        started = time.perf_counter()
        baseline = local.invoke(copy.deepcopy(baseline_event))
        baseline_seconds = time.perf_counter() - started
        wait_for_batches(local, [warm, baseline_event], args.drain_timeout)
        print(f"baseline: one batch of {args.size} answered in {baseline_seconds:.2f} s "
              f"({Counter(e['ResultData'].get('status') for e in baseline['Items']['CustomerProfiles'])})",
              file=sys.stderr)
        sent_before = len(local.provider.sends)

        events = [event_of(number * args.size, args.size) for number in range(args.batches)]
        calls = [Call(event) for event in events]
        barrier = threading.Barrier(len(calls) + 1)
        clock = [0.0]
        threads = [threading.Thread(target=call.run, args=(local, barrier, clock), daemon=True) for call in calls]
        for thread in threads:
            thread.start()
        with metered() as dynamodb:
            clock[0] = time.perf_counter()
            barrier.wait()
            for thread in threads:
                thread.join()
            burst_seconds = time.perf_counter() - clock[0]
        answered = [call for call in calls if call.answer is not None]
        last_answer = max((call.seconds or 0.0) for call in answered) if answered else None
        print(f"burst: {len(answered)}/{len(calls)} answered, last after {last_answer} s; waiting for the "
              "executions to end", file=sys.stderr)
        executions = wait_for_batches(local, events, args.drain_timeout)
        drain_seconds = time.perf_counter() - clock[0]

        def addresses(chosen: list[Call]) -> set[str]:
            return {json.loads(item["CustomerData"])["mobilePhoneNumber"]
                    for call in chosen for item in call.event["Items"]["CustomerProfiles"]}

        per_address = Counter(send["address"] for send in local.provider.sends[sent_before:])
        sent = set(per_address)
        records: dict[str, dict[str, Any]] = {}
        for call in answered:
            records.update(local.batch_records(connect.batch_id_for(call.event)))
        final = sum(1 for call in answered for profile_id in ids_of(call.event)
                    if records.get(profile_id, {}).get("status") in FINAL)
        summary = local.registry.summary()
        invoker = summary.get("InvokerFunction", {})
        statuses = Counter(str(entry["ResultData"].get("status")) for call in answered
                           for entry in call.answer["Items"]["CustomerProfiles"])  # type: ignore[index]
        seconds = [call.seconds for call in answered if call.seconds is not None]
        figures.update({
            "answered": len(answered),
            "answers_incomplete": sum(1 for call in answered if not call.complete),
            "throttled": sum(1 for call in calls if call.throttled),
            "throttle_reasons": dict(Counter(call.throttled for call in calls if call.throttled)),
            "errors": sum(1 for call in calls if call.error),
            "error_examples": [call.error for call in calls if call.error][:5],
            "statuses": dict(sorted(statuses.items())),
            "lost": len(addresses(answered) - sent),
            "sent_twice": sum(1 for count in per_address.values() if count > 1),
            "sent_of_refused": len(addresses([call for call in calls if call.throttled]) & sent),
            "sent_of_failed": len(addresses([call for call in calls if call.error]) & sent),
            "sent_elsewhere": len(sent - addresses(calls)),
            "duplicate_requests": local.provider.duplicate_sends,
            "final_in_ledger": final,
            "executions": dict(sorted(executions.items())),
            "baseline_seconds": round(baseline_seconds, 2),
            "last_answer_seconds": round(last_answer, 2) if last_answer is not None else None,
            "ratio": round(last_answer / baseline_seconds, 2) if last_answer is not None else None,
            "answer_seconds_p50": percentile(seconds, 0.5),
            "answer_seconds_p90": percentile(seconds, 0.9),
            "drain_seconds": round(drain_seconds, 1),
            "invoker": {key: invoker.get(key) for key in ("invocations", "peak_concurrency", "peak_environments",
                                                          "cold_starts", "cold_start_ms_median", "throttles",
                                                          "timeouts")},
            "throttles_by_function": {name: f["throttles"] for name, f in summary.items() if f.get("throttles")},
            "timeouts_by_function": {name: f["timeouts"] for name, f in summary.items() if f.get("timeouts")},
            "dynamodb_calls": int(sum(v for k, v in dynamodb.items() if k.endswith("_calls"))),
            "dynamodb_calls_by_kind": {k: int(v) for k, v in dynamodb.items() if k.endswith("_calls")},
            "dynamodb_calls_per_second": round(sum(v for k, v in dynamodb.items() if k.endswith("_calls"))
                                               / burst_seconds, 1),
            "load_average_after": round(os.getloadavg()[0], 2),
        })
    figures["zeros"] = (figures["answered"] == args.batches and figures["answers_incomplete"] == 0
                        and figures["throttled"] == 0 and figures["errors"] == 0 and figures["lost"] == 0
                        and figures["sent_twice"] == 0)
    if figures["zeros"] and not args.keep_logs:
        log_path.unlink(missing_ok=True)
    else:
        figures["function_log"] = str(log_path)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=100, help="Connect invocations started at once")
    parser.add_argument("--size", type=int, default=5, help="profiles per batch")
    parser.add_argument("--reserved", type=int, default=None,
                        help="InvokerReservedConcurrency (default: the template's); 0 reserves none")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter, as --parameter-overrides sets it; repeatable")
    parser.add_argument("--account-concurrency", type=int, default=1000, help="the account's Lambda concurrency")
    parser.add_argument("--deadline", type=float, default=None,
                        help="the invoker's deadline in seconds (default: the product's, Connect's 25 s)")
    parser.add_argument("--receipt-delay", type=float, default=0.2)
    parser.add_argument("--latency", type=float, default=LATENCY, help="the provider stand-in's seconds per send")
    parser.add_argument("--drain-timeout", type=float, default=1800, help="how long to wait for the executions")
    parser.add_argument("--warm", action="store_true",
                        help="initialize as many invoker environments as batches first (as provisioned "
                             "concurrency does): the burst then measures warm invocations, not 100 cold starts")
    parser.add_argument("--keep-logs", action="store_true", help="keep the functions' log")
    args = parser.parse_args()
    if args.batches < 1 or args.size < 1:
        parser.error("--batches and --size take a positive number")
    if any("=" not in part for part in args.parameter):
        parser.error("--parameter takes NAME=VALUE")
    # Handlers log to stdout as in Lambda; keep stdout for the figures.
    with contextlib.redirect_stdout(sys.stderr):
        figures = burst(args)
    print(f"{figures['batches']} batches x {figures['size']} at once: {figures['answered']} answered "
          f"({figures['answers_incomplete']} incomplete), {figures['throttled']} throttled "
          f"{figures['throttle_reasons'] or ''}, {figures['errors']} failed; lost {figures['lost']}, sent twice "
          f"{figures['sent_twice']}; last answer {figures['last_answer_seconds']} s vs one batch alone "
          f"{figures['baseline_seconds']} s (x{figures['ratio']}); invoker {figures['invoker']}; "
          f"zeros: {figures['zeros']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
