"""Soak run with injected faults: nothing lost, nothing sent twice, nothing crashes.

Many 50-endpoint batches go through the local run's real parts (the ASL on moto's engine,
the handlers behind the local Lambda endpoint, the HTTP provider stand-in, signed receipts
through the local HTTP API). The stand-in injects faults per address at fixed, seeded rates:

    5xx once 10%, 429 once 5%, a stall past the sender's timeout 5%, receipt dropped 5%,
    receipt duplicated 10%, receipt before the token is recorded 5%, bounced 5%

and Pinpoint's retries are played too: 10% of batches are invoked twice concurrently, 5%
invoked again after they finished. Then it checks, from the stand-in's own log, the ledger,
the responses and the reported events:

- lost: an endpoint with no final status in the ledger, or missing from a response;
- wrong_status: a final status that does not match the fault injected for it, or an
  engagement event that disagrees with the ledger;
- duplicate_sends: more than one accepted send for one (batch, endpoint);
- unhandled_errors: a handler error that is not one of the sender's retry/failure signals,
  or an execution that did not succeed.

The last line is one JSON object: endpoints, lost, duplicate_sends, wrong_status,
unhandled_errors, seconds (and more detail).

With ``--provider CHANNEL=KIND`` (repeatable, as for ``journey-activity run``) channels go to
the stand-ins of the AWS providers (``ses``, ``sms-voice``...), with the same faults: their SDK
calls get the same short timeout, so a stall past it is an ambiguous failure (never retried;
the endpoint is found by its key when the provider's events come), and duplicate sends are
counted by each stand-in per idempotency key.

With ``--aws-faults RATE`` a share of the functions' AWS calls also fails with the service's own
throttling error (as when throttling outlasts the SDK's retries): the same checks must hold, an
invocation may fail only with the clear ``AwsThrottled`` (played again, as Pinpoint retries), and
no call is refused by IAM (every AWS call is authorized against the template's roles).

With ``--send-rate R`` every provider stand-in accepts R messages a second (one second's worth
at once; past it, the provider's own throttling answer) and every provider is configured with
``send_rate`` R: the senders pace themselves through the ledger's slot item, and what the
schedule cannot fit is retried (``ProviderThrottled``). The same checks must hold, and no
endpoint may end ``FAILED provider_throttled`` (a wrong status: no fault asks for it);
``refused_over_rate`` counts the stand-ins' throttling answers.

With ``--wait-mode group`` the stack is deployed with ``WaitMode=group`` (one waiting task per
group of a channel family's endpoints): the same checks must hold.

Run: python benchmarks/soak.py [--batches 40] [--seed 7] [--parallel 2] [--provider EMAIL=ses ...]
    [--aws-faults 0.05] [--send-rate 10] [--wait-mode group]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from journey_activity.triggers.pinpoint import batch_id_for
from journey_activity_local.stack import LocalEnvironment, LocalInvokeError, LocalOptions
from journey_activity_local.standins.registry import parse_provider_options

ENDPOINTS_PER_BATCH = 50
SENDER_TIMEOUT_SECONDS = 0.5
STALL_SECONDS = 1.0
# An AWS provider's SDK call counts a slow answer as an ambiguous failure (never retried: the
# endpoint waits for the provider's events; a push endpoint is FAILED at once), so its timeout gets
# headroom over the local AWS's latency under load, and the stall stays past it. The first batch
# meets every function's cold start at once on two cores, with the stand-ins answering from the
# engine's own process: there, some push answers still come past the timeout, in both wait modes
# (a local load, not a provider's answer; see docs/performance/benchmarks.md).
SDK_TIMEOUT_SECONDS = 3.0
SDK_STALL_SECONDS = 4.0
# fault -> (rate, stand-in behaviour, expected final status)
FAULTS: dict[str, tuple[float, str, str]] = {
    "provider_5xx": (0.10, "flaky:1", "DELIVERED"),
    "provider_429": (0.05, "throttled:1", "DELIVERED"),
    "stall": (0.05, f"stall:{STALL_SECONDS}", "DELIVERED"),
    "receipt_dropped": (0.05, "never", "TIMED_OUT"),
    "receipt_duplicated": (0.10, "duplicate", "DELIVERED"),
    "receipt_early": (0.05, "early", "DELIVERED"),
    "bounced": (0.05, "bounce", "FAILED"),
}
# Providers whose outcome is synchronous (push): no receipt ever follows, so an answer that never
# comes or comes past the SDK's timeout is final at once, FAILED send_outcome_unknown (never resent).
SYNCHRONOUS_OUTCOMES: dict[str, dict[str, str]] = {"push": {"receipt_dropped": "FAILED", "stall": "FAILED"}}
VISIBILITY_OVER_HEARTBEAT = 180 / 300
INVOKED_TWICE_CONCURRENTLY = 0.10
INVOKED_AGAIN_AFTER = 0.05
# The sender's signals to the state machine (retried or caught by the ASL), not crashes.
EXPECTED_ERRORS = frozenset({"ProviderThrottled", "ProviderUnavailable", "ProviderRejected"})
# With --aws-faults: a throttled AWS call past the SDK's retries, retried by the state machine (or
# by the caller: the provider for a receipt, the journey for an invocation).
AWS_FAULT_ERRORS = frozenset({"AwsThrottled"})
# How often a journey plays an invocation that failed again (Pinpoint retries a failed invocation).
INVOCATION_ATTEMPTS = 5
CHANNELS = ("SMS", "EMAIL", "GCM", "APNS", "VOICE", "CUSTOM")


@dataclass
class Batch:
    index: int
    event: dict[str, Any]
    expected: dict[str, str]
    faults: dict[str, str]
    twice: bool
    again: bool
    responses: list[dict[str, Any]] = field(default_factory=list)
    execution_status: str = ""
    # Why the execution did not succeed (its error and cause), when it did not.
    execution_failure: str = ""
    invocation_errors: list[str] = field(default_factory=list)
    # From the first invocation until the execution ended.
    seconds: float = 0.0


def address(channel: str, batch: int, endpoint: int) -> str:
    if channel in ("SMS", "VOICE"):
        return f"+1{batch:05d}{endpoint:05d}"
    if channel == "EMAIL":
        return f"b{batch}e{endpoint}@example.com"
    if channel == "CUSTOM":
        return f"https://hooks.example.com/{batch}/{endpoint}"
    return f"token-{batch}-{endpoint}"


def plan(batches: int, seed: int, stall_seconds: float = STALL_SECONDS,
         providers: dict[str, str] | None = None) -> tuple[list[Batch], dict[str, str]]:
    """The batches, the fault each endpoint gets, and the stand-in behaviour per address."""
    rng = random.Random(seed)
    behaviours: dict[str, str] = {}
    planned = []
    for index in range(batches):
        endpoints, expected, faults = {}, {}, {}
        for number in range(ENDPOINTS_PER_BATCH):
            channel = CHANNELS[number % len(CHANNELS)]
            to = address(channel, index, number)
            endpoint_id = f"b{index}-e{number}"
            draw, fault, outcome = rng.random(), "none", "DELIVERED"
            for name, (rate, behaviour, status) in FAULTS.items():
                if draw < rate:
                    kind = (providers or {}).get(channel, "http")
                    fault, outcome = name, SYNCHRONOUS_OUTCOMES.get(kind, {}).get(name, status)
                    behaviours[to] = f"stall:{stall_seconds}" if name == "stall" else behaviour
                    break
                draw -= rate
            endpoints[endpoint_id] = {"ChannelType": channel, "Address": to, "EndpointStatus": "ACTIVE",
                                      "OptOut": "NONE", "User": {"UserAttributes": {"FirstName": [f"N{number}"]}}}
            expected[endpoint_id], faults[endpoint_id] = outcome, fault
        event = {"ApplicationId": "soak-app", "JourneyId": "soak", "ActivityId": "soak-activity", "TreatmentId": "0",
                 "ScheduledTime": f"2026-11-23T10:00:{index % 60:02d}.{index:03d}Z",
                 "Data": "Hi {{User.UserAttributes.FirstName|there}}", "Endpoints": endpoints}
        draw = rng.random()
        twice = draw < INVOKED_TWICE_CONCURRENTLY
        again = INVOKED_TWICE_CONCURRENTLY <= draw < INVOKED_TWICE_CONCURRENTLY + INVOKED_AGAIN_AFTER
        planned.append(Batch(index, event, expected, faults, twice=twice, again=again))
    return planned, behaviours


def run_batch(local: LocalEnvironment, batch: Batch, timeout: float) -> None:
    def invoke() -> None:
        for attempt in range(INVOCATION_ATTEMPTS):
            try:
                response = local.invoke(copy.deepcopy(batch.event))
            except LocalInvokeError as error:  # counted; an unclear one is an unhandled error
                with lock:
                    batch.invocation_errors.append(str(error.payload.get("errorType")))
                if attempt + 1 < INVOCATION_ATTEMPTS:
                    continue
                return
            with lock:
                batch.responses.append(response)
            return

    lock = threading.Lock()
    started = time.perf_counter()
    callers = [threading.Thread(target=invoke) for _ in range(2 if batch.twice else 1)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    described = local.wait_for_execution(local.execution_arn(batch_id_for(batch.event)), timeout=timeout)
    batch.execution_status = described["status"]
    if described["status"] != "SUCCEEDED":
        batch.execution_failure = (f"{batch_id_for(batch.event)}: {described['status']}: {described.get('error', '')}: "
                                   f"{str(described.get('cause', ''))[:200]}")
    batch.seconds = time.perf_counter() - started
    if batch.again:
        invoke()


def check(local: LocalEnvironment, batches: list[Batch]) -> dict[str, Any]:
    lost = wrong = report_mismatches = 0
    by_fault: Counter[str] = Counter()
    wrong_examples: list[str] = []
    accepted = Counter((s["batch_id"], s["endpoint_id"]) for s in local.provider.sends)
    receipts: dict[str, list[Any]] = {}
    for receipt in local.provider.receipts:
        receipts.setdefault(receipt["message_id"], []).append(receipt.get("http_status"))
    reported: dict[tuple[str, str], set[str]] = {}
    for event in local.event_bus.events():  # what the local EventBridge routed (the default sink)
        detail = event["detail"]
        stage = event["detail-type"]
        if stage != "sent":
            reported.setdefault((detail["trigger"].get("batch_id", ""), detail["endpoint_id"]), set()).add(stage)
    for batch in batches:
        batch_id = batch_id_for(batch.event)
        records = local.ledger_records(batch_id)
        for response in batch.responses:
            if set(response) != set(batch.event["Endpoints"]):
                lost += len(set(batch.event["Endpoints"]) - set(response))
        for endpoint_id, expected in batch.expected.items():
            by_fault[batch.faults[endpoint_id]] += 1
            status = records.get(endpoint_id, {}).get("status")
            if status not in ("DELIVERED", "FAILED", "TIMED_OUT", "SKIPPED"):
                lost += 1
                continue
            if status != expected:
                wrong += 1
                if len(wrong_examples) < 5:
                    wrong_examples.append(f"{endpoint_id} ({batch.faults[endpoint_id]}): {status}, expected {expected}"
                                          f" [{records[endpoint_id].get('reason')}: "
                                          f"{str(records[endpoint_id].get('error'))[:120]}; last error "
                                          f"{str(records[endpoint_id].get('last_error'))[:160]}; late receipt "
                                          f"{records[endpoint_id].get('late_receipt_status')}; receipts "
                                          f"{receipts.get(records[endpoint_id].get('provider_message_id'))}]")
            if reported.get((batch_id, endpoint_id)) != {status.lower()}:
                report_mismatches += 1
    duplicate_sends = sum(count - 1 for count in accepted.values() if count > 1)
    duplicate_sends += sum(standin.duplicate_sends for kind, standin in local.standins.items() if kind != "http")
    expected_errors = EXPECTED_ERRORS | (AWS_FAULT_ERRORS if local.options.aws_faults else frozenset())
    unexpected = [error for error in local.registry.errors if error[1] not in expected_errors]
    failed_executions = sum(1 for batch in batches if batch.execution_status != "SUCCEEDED")
    # An invocation that failed with anything but a clear, retryable error; a batch never answered.
    unanswered = sum(1 for batch in batches if not batch.responses)
    unclear = [kind for batch in batches for kind in batch.invocation_errors if kind not in AWS_FAULT_ERRORS]
    guards = local.guard_totals().snapshot()
    return {
        "lost": lost,
        "duplicate_sends": duplicate_sends,
        "wrong_status": wrong + report_mismatches,
        "unhandled_errors": len(unexpected) + failed_executions + unanswered + len(unclear) + guards["denied"],
        "report_mismatches": report_mismatches,
        "invocation_errors": dict(Counter(kind for batch in batches for kind in batch.invocation_errors)),
        "unanswered_batches": unanswered,
        "aws_calls_throttled": guards["throttled"],
        "aws_calls_denied": guards["denied"],
        "faults": dict(by_fault),
        "examples": wrong_examples + [f"{f}: {t}: {m[:120]}" for f, t, m in unexpected[:5]] + guards["denials"][:5]
        + [batch.execution_failure for batch in batches if batch.execution_failure][:5],
    }


def seconds_per_batch(batches: list[Batch], count: int = 10) -> dict[str, float]:
    """Mean seconds per batch (first invocation to execution end) of the first and last ``count``
    batches to finish, and their ratio: flat is about 1."""
    ordered = sorted(batches, key=lambda batch: batch.index)
    first, last = ordered[:count], ordered[-count:]
    start = sum(b.seconds for b in first) / max(len(first), 1)
    end = sum(b.seconds for b in last) / max(len(last), 1)
    return {"start": round(start, 2), "end": round(end, 2), "end_over_start": round(end / start, 2) if start else 0.0}


def soak(batches: int, seed: int, parallel: int, heartbeat: int = 15,
         providers: dict[str, str] | None = None, aws_faults: float = 0.0, fault_seed: int = 0,
         send_rate: float | None = None, wait_mode: str = "endpoint") -> dict[str, Any]:
    planned, behaviours = plan(batches, seed, SDK_STALL_SECONDS if providers else STALL_SECONDS, providers)
    provider: dict[str, Any] = {"*": {"type": "http", "name": "http", "url": "",
                                      "timeout_seconds": SENDER_TIMEOUT_SECONDS,
                                      **({"send_rate": send_rate} if send_rate else {})}}
    options = LocalOptions(receipt_delay=0.05, deadline_seconds=2, receipt_timeout_seconds=heartbeat * 2,
                           receipt_heartbeat_seconds=heartbeat, behaviours=behaviours, log_level="CRITICAL",
                           providers=dict(providers or {}), aws_faults=aws_faults, fault_seed=fault_seed,
                           send_rate=send_rate, parameters={"WaitMode": wait_mode})
    started = time.perf_counter()
    with LocalEnvironment(options) as local:
        provider["*"]["url"] = f"{local.provider.url}/messages"
        for channel, kind in (providers or {}).items():
            provider[channel] = {**local.standins[kind].provider_config(channel),
                                 "timeout_seconds": SENDER_TIMEOUT_SECONDS if kind == "http" else SDK_TIMEOUT_SECONDS}
        local.set_environment(CHANNEL_PROVIDERS=json.dumps(provider))
        for queue in (local.receipt_path, local.callback_queue):
            if aws_faults and queue.get("queue_url"):
                # The template's ratio of a receipt queue's visibility timeout to the receipt wait's
                # heartbeat (180 s to 300 s), kept at the soak's shorter heartbeat: a receipt the
                # throttled receipt-queue or callback function leaves on its queue comes back as it
                # would on AWS, within the wait, instead of 180 s after a 15 s heartbeat.
                local.client("sqs").set_queue_attributes(
                    QueueUrl=queue["queue_url"],
                    Attributes={"VisibilityTimeout": str(max(2, int(heartbeat * VISIBILITY_OVER_HEARTBEAT)))})
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = [pool.submit(run_batch, local, batch, heartbeat * 4 + 60) for batch in planned]
            for done, future in enumerate(as_completed(futures), start=1):
                future.result()
                if done % 10 == 0 or done == len(futures):
                    print(f"{done}/{len(futures)} batches, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        # Engagement events of the last executions are reported as they end.
        time.sleep(0.5)
        figures = check(local, planned)
        executions = local.executions()
        figures["executions"] = len(executions)
        # One execution per batch, however often it was invoked (StartExecution joins by name).
        figures["extra_executions"] = len(executions) - len({batch_id_for(batch.event) for batch in planned})
        figures["accepted_sends"] = sum(len(standin.sends) for standin in local.standins.values())
        figures["send_requests"] = sum(local.provider.attempts.values())
        figures["receipts_posted"] = len(local.provider.receipts)
        # Sends a stand-in answered with its throttling error for being over its --send-rate.
        figures["refused_over_rate"] = sum(standin.rate_limit.refused for standin in local.standins.values()
                                           if hasattr(standin, "rate_limit"))
        environments = local.registry.summary()
        figures["cold_starts"] = {name: f["cold_starts"] for name, f in environments.items()}
        figures["lambda_timeouts"] = sum(f["timeouts"] for f in environments.values())
        figures["execution_environments"] = environments
        figures["seconds_per_batch"] = seconds_per_batch(planned)
    return {"endpoints": batches * ENDPOINTS_PER_BATCH, **figures, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parallel", type=int, default=2, help="batches in flight at once")
    parser.add_argument("--provider", action="append", default=[], metavar="CHANNEL=KIND",
                        help="send CHANNEL through the stand-in of KIND (ses, sms-voice, ...); repeatable")
    parser.add_argument("--aws-faults", type=float, default=0.0,
                        help="share of the functions' AWS calls that fail with the service's throttling error")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--send-rate", type=float, default=None,
                        help="messages a second each provider stand-in accepts, and the providers' send_rate")
    parser.add_argument("--wait-mode", choices=("endpoint", "group"), default="endpoint",
                        help="the template's WaitMode: one waiting task per endpoint, or per group")
    args = parser.parse_args()
    if not 0.0 <= args.aws_faults <= 1.0:
        parser.error("--aws-faults takes a share between 0 and 1")
    try:
        providers = parse_provider_options(args.provider)
    except ValueError as error:
        parser.error(str(error))
    with contextlib.redirect_stdout(sys.stderr):
        figures = soak(args.batches, args.seed, args.parallel, providers=providers, aws_faults=args.aws_faults,
                       fault_seed=args.fault_seed, send_rate=args.send_rate, wait_mode=args.wait_mode)
    ordered = {key: figures[key] for key in ("endpoints", "lost", "duplicate_sends", "wrong_status",
                                             "unhandled_errors", "seconds")}
    ordered.update({k: v for k, v in figures.items() if k not in ordered})
    print(f"{ordered['endpoints']} endpoints in {ordered['seconds']} s: lost {ordered['lost']}, duplicate sends "
          f"{ordered['duplicate_sends']}, wrong status {ordered['wrong_status']}, unhandled errors "
          f"{ordered['unhandled_errors']}; faults {ordered['faults']}; cold starts {ordered['cold_starts']}")
    print(json.dumps(ordered))


if __name__ == "__main__":
    main()
