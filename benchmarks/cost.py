"""What a million endpoints cost on AWS, counted from the calls a local run actually makes.

Runs 50-endpoint batches (with a mix of provider retries, bounces and skipped endpoints: --mix
stress, the soak's fault rates, or typical; see MIXES) through the whole local stack, counts every
billed unit, and prices it with the list prices below. The batches' shape (--shape):

- connect (the default, the live trigger): Amazon Connect outbound campaigns' journey custom action,
  50 profiles (ProfileId, CustomerData, IdempotencyToken) of one action from CONNECT_ACTIONS. A
  Connect action has one channel: SMS here, sent by the SMS/voice family's sender through the
  generic HTTP stand-in (the provider every channel has locally), so one sender family and, in
  group mode, one group a batch. The faults are set by address, as for Pinpoint; Connect's event
  has no opt-out, so the skipped 6% are profiles without a phone number or with an unusable one.
- pinpoint (the legacy trigger): Amazon Pinpoint custom-channel batches over six channels (four
  sender families, four groups a batch).

Counted, per batch, from invocation to the end of the batch's executions:

- Step Functions (Standard): state transitions, from the execution's history: every state
  entered, plus one for each retry of a task (AWS bills a retry as a transition).
- Lambda: requests per function, and GB-seconds at the function's MemorySize from the template,
  priced at its Architectures' rate (the template's functions run on arm64: a fifth less).
  The duration is modeled, not taken from the local clock: the local engine runs every service
  and function on two cores, so a send that takes 150 ms on AWS takes seconds here (the measured
  figure is printed too, as an upper bound). Each invocation is modeled on its own
  (invocation_seconds; InvocationLog records its event, the AWS calls the local IAM guard saw it
  make, and the provider requests for its endpoints by idempotency key) and rounded up to the
  millisecond as Lambda bills: HANDLER_SECONDS, plus AWS_CALL_SECONDS for each AWS call made
  outside the sender's workers, plus its endpoints' work on its threads. A sender sends a group
  ("Send the group and wait", group mode) or its family's endpoints ("Send to every endpoint at
  once", endpoint mode) on min(GROUP_WORKERS, endpoints) threads: each endpoint's work (LATENCY per
  provider request it made, plus its even share of the invocation's other AWS calls) is run in
  order on the first free thread (pool_seconds), so n equal endpoints take ceil(n / 16) endpoint
  times, and a retried attempt whose one endpoint still sends takes that endpoint's time. A group
  attempt's serial part is its open and close (GROUP_OPEN_CALLS, GROUP_RETRY_CALLS on a retry,
  GROUP_CLOSE_CALLS). An endpoint's own task has one endpoint: every call and request one after
  another, as every other function's calls are. The serial model (every call and request of an
  invocation one after another: the model before the workers were counted) is printed too. The
  invoker is the exception: it waits for outcomes in real time, so its measured duration is used.
- DynamoDB (on-demand): read and write request units from the items each call touched, by
  DynamoDB's own rounding rules (journey_activity_local.engine.dynamodb_units: strongly consistent and
  eventually consistent reads, conditional writes whose condition failed included).
- API Gateway HTTP API: every receipt the provider POSTed (retries included).
- EventBridge: every engagement event the functions put on the bus (each under 64 KB: one
  billed event each).
- SQS and SNS: every request the functions made to them, and the receipts' queues: each receipt the
  HTTP API put on the callback queue (SendMessage, under the integration's role: the IAM guard
  counts it once, with the functions' calls) and each receive that returned messages and
  delete batch of the queues' event source mappings (an idle mapping's empty long polls are a
  fixed cost of about 20,000 requests a day per queue, not counted per endpoint).
- DynamoDB storage and point-in-time-recovery backups: the bytes the run's batches leave in the
  ledger table (every item scanned after the run, sized by DynamoDB's rules, plus its per-item
  overhead of STORAGE_OVERHEAD_BYTES), kept for the ledger's TTL (the template's LedgerTtlDays
  default; DynamoDB deletes expired items within days after): GB-months, priced for the table's
  storage and again for PITR (the template turns it on), which bills the table's size.

Not counted: CloudWatch Logs and metrics, X-Ray, data transfer, Secrets Manager's monthly
secret fee, free tiers.

Each wait mode (the template's WaitMode; --mode endpoint, group or both, the default) runs the
same batches in a local environment of its own, one after the other: "endpoint" waits for each
endpoint in a task of its own, "group" once per group of a channel family's endpoints.

The same runs measure a plain design: one Lambda function per batch that sends the batch's
messages one after another through the same stand-in (a Connect profile without a phone number
has none; no orchestration, no receipts, no ledger), priced at one request plus its measured
duration at 256 MB (the median over every mode's runs).

Prints dollars per million endpoints by service, the modes side by side with the plain design,
then the billed units per endpoint; the last line is one JSON object with every mode's figures.
Run: python benchmarks/cost.py [--batches 3] [--mix stress|typical] [--mode endpoint|group|both]
                               [--shape connect|pinpoint]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import heapq
import json
import math
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from journey_activity.handlers.send import GROUP_WORKERS, idempotency_key
from journey_activity.triggers import connect, pinpoint
from journey_activity_local.engine.dynamodb_units import item_size, metered
from journey_activity_local.runtime.lambda_endpoint import ThrottledError
from journey_activity_local.stack import TABLE_NAME, LocalEnvironment, LocalOptions, default_template
from journey_activity_local.template import Template

ENDPOINTS = 50
LATENCY = 0.1
CHANNELS = ("SMS", "EMAIL", "GCM", "APNS", "VOICE", "CUSTOM")
# The batches' shape (--shape), the live trigger first: Amazon Connect custom-action batches (one
# channel per action) or Amazon Pinpoint custom-channel batches (every channel in one batch).
SHAPES = ("connect", "pinpoint")
# The Connect shape's one action: SMS, sent by the SMS/voice family's sender through the generic
# HTTP stand-in (locally every channel's provider unless told otherwise), as the Pinpoint batches are.
CONNECT_ACTION_ID = "cost-reminder"
CONNECT_ACTIONS = {CONNECT_ACTION_ID: {"channel": "SMS", "message": "Hello {{Attributes.Customer.FirstName|there}}"}}
# A group attempt's AWS calls outside its workers: open_group's two writes (the group item, the
# progress item's counter) first; on a retried attempt the Query of the group's records
# (group_records), then, unless the attempt failed, group_remaining's read.
GROUP_OPEN_CALLS = 2
GROUP_RETRY_CALLS = 1
GROUP_CLOSE_CALLS = 1
PLAIN_MEMORY_MB = 256
# A DynamoDB or Step Functions API call from Lambda in the same Region: single-digit to low
# double-digit milliseconds; 10 ms is the assumption.
AWS_CALL_SECONDS = 0.010
# The handler's own work and the runtime's overhead per invocation.
HANDLER_SECONDS = 0.005
# DynamoDB bills storage as the items' raw size plus 100 bytes per item (its indexing overhead).
STORAGE_OVERHEAD_BYTES = 100
GB = 1024**3
# The template's WaitMode values, in the order the table shows them.
MODES = ("endpoint", "group")
# Storage outlives the batch: listed below the per-request total, as the docs' table does.
STORAGE_SERVICES = ("dynamodb_storage", "dynamodb_pitr")
DAYS_PER_MONTH = 365 / 12

# List prices, us-east-1, as published on 2026-11-24 (Lambda on x86 and on Arm, Standard workflows, on-demand
# DynamoDB after the November 2024 price cut, HTTP APIs' first 300 million requests).
PRICES_DATE = "2026-11-24"
PRICES_REGION = "us-east-1"
PRICES: dict[str, tuple[float, str, str]] = {
    # key: (USD per unit, unit, source)
    "state_transitions": (0.025 / 1000, "state transition", "https://aws.amazon.com/step-functions/pricing/"),
    "lambda_requests": (0.20 / 1_000_000, "request", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_seconds": (0.0000166667, "GB-second (x86)", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_seconds_arm": (0.0000133334, "GB-second (Arm)", "https://aws.amazon.com/lambda/pricing/"),
    "dynamodb_read_units": (0.125 / 1_000_000, "read request unit",
                            "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_write_units": (0.625 / 1_000_000, "write request unit",
                             "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "http_api_requests": (1.00 / 1_000_000, "request", "https://aws.amazon.com/api-gateway/pricing/"),
    "eventbridge_events": (1.00 / 1_000_000, "custom event (64 KB chunk)",
                           "https://aws.amazon.com/eventbridge/pricing/"),
    "sqs_requests": (0.40 / 1_000_000, "request (64 KB chunk)", "https://aws.amazon.com/sqs/pricing/"),
    "sns_requests": (0.50 / 1_000_000, "publish", "https://aws.amazon.com/sns/pricing/"),
    # Standard table class, beyond the free 25 GB; PITR bills the table's size (read 2026-12-07).
    "dynamodb_storage_gb_months": (0.25, "GB-month stored", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_pitr_gb_months": (0.20, "GB-month of continuous backups (PITR)",
                                "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
}
SERVICE_OF = {"state_transitions": "step_functions", "lambda_requests": "lambda", "lambda_gb_seconds": "lambda",
              "lambda_gb_seconds_arm": "lambda",
              "dynamodb_read_units": "dynamodb", "dynamodb_write_units": "dynamodb",
              "http_api_requests": "api_gateway", "eventbridge_events": "eventbridge", "sqs_requests": "sqs",
              "sns_requests": "sns", "dynamodb_storage_gb_months": "dynamodb_storage",
              "dynamodb_pitr_gb_months": "dynamodb_pitr"}


def address(channel: str, batch: int, index: int) -> str:
    if channel in ("SMS", "VOICE"):
        return f"+1415{batch:03d}{index:04d}"
    if channel == "EMAIL":
        return f"c{batch}e{index}@example.com"
    if channel == "CUSTOM":
        return f"https://hooks.example.com/{batch}/{index}"
    return f"token-{batch}-{index}"


# Which of each batch's 50 endpoints get which fault, by mix (--mix). Both skip 4% (opted out)
# and 2% (an unusable address). "stress": 6% retried once after a provider 5xx, 4% after a 429,
# 4% bounced, the soak's own fault rates. "typical": one endpoint in fifty retried once after a
# 5xx, one bounced (2% each: SES asks senders to keep bounces well below 5%, and a provider that
# fails one send in fifty is having a bad day).
MIXES: dict[str, dict[str, tuple[int, ...]]] = {
    "stress": {"flaky:1": (2, 19, 44), "throttled:1": (9, 37), "bounce": (23, 48)},
    "typical": {"flaky:1": (2,), "bounce": (23,)},
}


def batch_event(number: int, behaviours: dict[str, str], mix: str = "stress") -> dict[str, Any]:
    """50 endpoints over every channel, with the faults of ``mix`` (see MIXES)."""
    faults = {slot: behaviour for behaviour, slots in MIXES[mix].items() for slot in slots}
    endpoints = {}
    for index in range(ENDPOINTS):
        channel = CHANNELS[index % len(CHANNELS)]
        to = address(channel, number, index)
        endpoint = {"ChannelType": channel, "Address": to, "EndpointStatus": "ACTIVE", "OptOut": "NONE",
                    "User": {"UserId": f"u{index}", "UserAttributes": {"FirstName": [f"Name{index}"]}}}
        slot = index % 50
        if slot in (7, 31):
            endpoint["OptOut"] = "ALL"
        elif slot == 13:
            endpoint["Address"] = "not-an-address" if channel != "CUSTOM" else "ftp://nowhere"
        elif slot in faults:
            behaviours[to] = faults[slot]
        endpoints[f"ep-{index:02d}"] = endpoint
    return {"ApplicationId": "cost-app", "JourneyId": "cost-journey", "ActivityId": "cost-activity",
            "TreatmentId": "0", "ScheduledTime": f"2026-11-24T08:{number:02d}:00.000Z",
            "Data": "Hello {{User.UserAttributes.FirstName|there}}", "Endpoints": endpoints}


def connect_event(number: int, behaviours: dict[str, str], mix: str = "stress") -> dict[str, Any]:
    """50 profiles of one Connect custom action (SMS, CONNECT_ACTIONS), with the faults of ``mix``
    by address, as ``batch_event``'s. Connect's event carries no opt-out: the skipped slots are a
    profile without a phone number (7 and 31: address_missing) and one whose number is unusable
    (13: address_invalid)."""
    faults = {slot: behaviour for behaviour, slots in MIXES[mix].items() for slot in slots}
    profiles = []
    for index in range(ENDPOINTS):
        profile_id = hashlib.md5(f"cost-{number}-{index}".encode()).hexdigest()  # 32 hex, like Connect's ids
        to = address("SMS", number, index)
        data: dict[str, Any] = {"profileId": profile_id, "firstName": f"Name{index}", "mobilePhoneNumber": to}
        slot = index % 50
        if slot in (7, 31):
            del data["mobilePhoneNumber"]
        elif slot == 13:
            data["mobilePhoneNumber"] = "not-an-address"
        elif slot in faults:
            behaviours[to] = faults[slot]
        profiles.append({"ProfileId": profile_id, "CustomerData": json.dumps(data),
                         "IdempotencyToken": hashlib.sha256(f"cost-{number}-{index}".encode()).hexdigest()})
    run = f"cost-campaign#2026-11-24T08-{number:02d}-00Z"
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "cost-campaign", "RunId": run,
                                                       "ActionId": CONNECT_ACTION_ID, "CampaignName": "cost"}},
            "Items": {"CustomerProfiles": profiles}}


def shape_event(shape: str, number: int, behaviours: dict[str, str], mix: str) -> dict[str, Any]:
    return connect_event(number, behaviours, mix) if shape == "connect" else batch_event(number, behaviours, mix)


def batch_id_of(shape: str, event: dict[str, Any]) -> str:
    return connect.batch_id_for(event) if shape == "connect" else pinpoint.batch_id_for(event)


def plain_sends(shape: str, event: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """What the plain loop sends for a batch: (endpoint id, channel, address, message); a Connect
    profile without a phone number is left out (there is nothing to send to)."""
    if shape != "connect":
        return [(endpoint_id, item["ChannelType"], item["Address"], event["Data"])
                for endpoint_id, item in event["Endpoints"].items()]
    message = str(CONNECT_ACTIONS[CONNECT_ACTION_ID]["message"])
    sends = []
    for item in event["Items"]["CustomerProfiles"]:
        phone = json.loads(item["CustomerData"]).get("mobilePhoneNumber")
        if phone:
            sends.append((item["ProfileId"], "SMS", phone, message))
    return sends


def pool_seconds(works: Sequence[float], workers: int) -> float:
    """The wall-clock time of ``works`` (seconds each) run on ``workers`` threads, each thread
    taking the next work in order as soon as it is free (as ThreadPoolExecutor.map's queue is
    drained): uniform works take ceil(n / workers) rounds, one long work at least its own time."""
    free = [0.0] * max(1, min(workers, len(works)))
    for work in works:
        heapq.heappush(free, heapq.heappop(free) + work)
    return max(free)


def invocation_seconds(serial_calls: int, worker_calls: int, provider_requests: Sequence[int],
                       workers: int = GROUP_WORKERS) -> float:
    """One invocation's modeled duration: HANDLER_SECONDS, AWS_CALL_SECONDS for each of its calls
    outside its workers (``serial_calls``), then its endpoints (one entry of ``provider_requests``
    each: the requests that endpoint's send made) on min(``workers``, endpoints) threads
    (:func:`pool_seconds`), each endpoint's work LATENCY per provider request plus its share of
    ``worker_calls`` (shared evenly: the guard counts an invocation's calls, not an endpoint's).
    Without endpoints (every function but a sender) every call is serial; with one endpoint (an
    endpoint's own task) it is the serial model, every call and request one after another."""
    if not provider_requests:
        return HANDLER_SECONDS + (serial_calls + worker_calls) * AWS_CALL_SECONDS
    share = worker_calls * AWS_CALL_SECONDS / len(provider_requests)
    works = [share + requests * LATENCY for requests in provider_requests]
    return HANDLER_SECONDS + serial_calls * AWS_CALL_SECONDS + pool_seconds(works, workers)


def serial_seconds(calls: int, provider_requests: Sequence[int]) -> float:
    """The same invocation as if its calls and requests ran one after another (the model before
    the senders' workers were counted): an upper bound of :func:`invocation_seconds`."""
    return HANDLER_SECONDS + calls * AWS_CALL_SECONDS + sum(provider_requests) * LATENCY


def sender_work(event: dict[str, Any], calls: int, succeeded: bool) -> tuple[str, list[str], int]:
    """A sender invocation's (batch id, endpoint ids its workers take in order, AWS calls outside
    its workers) from its event: a group attempt (its group's endpoints; GROUP_OPEN_CALLS, on a
    retry GROUP_RETRY_CALLS, and GROUP_CLOSE_CALLS when it succeeded, serial; a group whose
    receipts were all in by the attempt's end is resumed from there, counted with the workers'
    calls), "Wait for the group's remaining receipts" (no endpoints: every call serial), "Send to
    every endpoint at once" (the family's own endpoints: every call in the workers) or an
    endpoint's own task (one endpoint)."""
    context = event.get("context") or {}
    batch_id = str(context.get("batch_id", ""))
    group = event.get("group")
    if isinstance(group, dict):
        if event.get("wait_only"):
            return batch_id, [], calls
        ids = [str(recipient["endpoint_id"]) for recipient in group.get("recipients") or []]
        serial = (GROUP_OPEN_CALLS + (GROUP_RETRY_CALLS if event.get("retry_count") else 0)
                  + (GROUP_CLOSE_CALLS if succeeded else 0))
        return batch_id, ids, min(serial, calls)
    if "recipients" in event:
        return batch_id, [str(recipient["endpoint_id"]) for recipient in event["recipients"]
                          if recipient.get("sender") == event.get("sender")], 0
    recipient = event.get("recipient") or {}
    return batch_id, [str(recipient["endpoint_id"])] if "endpoint_id" in recipient else [], 0


@dataclass
class Invocation:
    """One Lambda invocation of a local run: its function, event, whether it succeeded, the AWS
    calls its environment made (the IAM guard's report for it) and the provider's requests per
    idempotency key made while it ran (its own endpoints' and, by chance, those of invocations
    running at the same time)."""

    function: str
    event: bytes
    succeeded: bool
    calls: int
    provider_requests: dict[str, int]

    def billed_ms(self, sender: bool) -> tuple[int, int, int]:
        """(modeled ms, serial-model ms, provider requests of its own endpoints), each ms rounded up as
        Lambda bills an invocation."""
        if not sender:
            seconds = invocation_seconds(self.calls, 0, [])
            return math.ceil(seconds * 1000), math.ceil(seconds * 1000), 0
        try:
            event = json.loads(self.event or b"{}")
        except ValueError:
            event = {}
        batch_id, ids, serial = sender_work(event if isinstance(event, dict) else {}, self.calls, self.succeeded)
        requests = [self.provider_requests.get(idempotency_key(batch_id, endpoint_id), 0) for endpoint_id in ids]
        return (math.ceil(invocation_seconds(serial, self.calls - serial, requests) * 1000),
                math.ceil(serial_seconds(self.calls, requests) * 1000), sum(requests))


class InvocationLog:
    """Every invocation the local Lambda endpoint runs from now on (:class:`Invocation`), recorded
    by wrapping the registry's ``invoke`` and its guard-report ``absorb`` (one report per
    invocation, from the environment that ran it)."""

    def __init__(self, local: LocalEnvironment) -> None:
        self.records: list[Invocation] = []
        registry, provider, here = local.registry, local.provider, threading.local()
        invoke, absorb = registry.invoke, registry.absorb

        def absorbing(report: Any) -> None:
            here.report = report
            if absorb is not None:
                absorb(report)

        def record(spec: Any, raw: bytes, before: dict[str, int], succeeded: bool) -> None:
            after, report = provider.attempts, here.report
            calls = sum(report.allowed.values()) if report is not None else 0
            moved = {key: count - before.get(key, 0) for key, count in after.items() if count != before.get(key, 0)}
            self.records.append(Invocation(spec.logical_id, raw, succeeded, calls, moved))

        def invoking(spec: Any, raw: bytes) -> bytes:
            here.report = None
            before = provider.attempts
            try:
                answer = invoke(spec, raw)
            except ThrottledError:  # not run, not billed
                raise
            except Exception:
                record(spec, raw, before, False)
                raise
            record(spec, raw, before, True)
            return answer

        registry.invoke = invoking  # type: ignore[method-assign]
        registry.absorb = absorbing


def transitions(history: list[dict[str, Any]]) -> int:
    """States entered, plus one for each retry of a task (a task scheduled again)."""
    types = Counter(event["type"] for event in history)
    entered = sum(count for kind, count in types.items() if kind.endswith("StateEntered"))
    task_entered = types.get("TaskStateEntered", 0)
    scheduled = types.get("TaskScheduled", 0) or types.get("LambdaFunctionScheduled", 0)
    return entered + max(0, scheduled - task_entered)


def plain_loop(provider_url: str, sends: list[tuple[str, str, str, str]], batch: str) -> float:
    """The plain design's batch: ``sends`` (:func:`plain_sends`) one after another, no retries."""
    from journey_activity.config import HttpProviderConfig
    from journey_activity.errors import ProviderError
    from journey_activity.providers.base import SendRequest
    from journey_activity.providers.http import HttpProvider

    provider = HttpProvider(HttpProviderConfig(url=provider_url))
    started = time.perf_counter()
    for endpoint_id, channel, to, message in sends:
        with contextlib.suppress(ProviderError):  # the plain design does not retry
            provider.send(SendRequest(batch_id="plain", endpoint_id=endpoint_id, channel=channel, address=to,
                                      message=message, idempotency_key=f"plain-{batch}-{endpoint_id}"))
    return time.perf_counter() - started


def ledger_bytes(dynamodb: Any) -> tuple[int, int]:
    """(items, billed bytes) of the whole ledger table: each item's size by DynamoDB's rules plus
    its per-item overhead."""
    items = total = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE_NAME):
        for item in page["Items"]:
            items += 1
            total += item_size(item) + STORAGE_OVERHEAD_BYTES
    return items, total


def retention_days() -> int:
    """The ledger's TTL: the template's LedgerTtlDays default."""
    return int(Template(default_template()).parameters["LedgerTtlDays"]["Default"])


def storage_units(stored_bytes: float, days: float) -> dict[str, float]:
    """GB-months of storage and of PITR for ``stored_bytes`` kept ``days``."""
    gb_months = stored_bytes / GB * days / DAYS_PER_MONTH
    return {"dynamodb_storage_gb_months": gb_months, "dynamodb_pitr_gb_months": gb_months}


def price(units: dict[str, float], endpoints: int) -> dict[str, Any]:
    """Dollars per million endpoints, by service and in total."""
    by_service: dict[str, float] = {}
    for key, amount in units.items():
        by_service[SERVICE_OF[key]] = by_service.get(SERVICE_OF[key], 0.0) + amount * PRICES[key][0]
    scale = 1_000_000 / endpoints
    per_million = {service: round(dollars * scale, 2) for service, dollars in sorted(by_service.items())}
    requests = sum(dollars for service, dollars in by_service.items() if service not in STORAGE_SERVICES)
    return {"usd_per_million_endpoints": per_million,
            "total_usd_per_million_endpoints": round(sum(by_service.values()) * scale, 2),
            "total_without_storage_usd_per_million_endpoints": round(requests * scale, 2)}


def plain_price(seconds: list[float]) -> dict[str, Any]:
    """The plain one-Lambda-per-batch design: one request per batch plus its measured duration."""
    units = {"lambda_requests": float(len(seconds)),
             "lambda_gb_seconds_arm": sum(seconds) * PLAIN_MEMORY_MB / 1024}
    return {**price(units, ENDPOINTS * len(seconds)),
            "seconds_per_batch": round(statistics.median(seconds), 3),
            "note": "no receipts, no retries, no per-endpoint status"}


def queue_requests(local: LocalEnvironment) -> int:
    """SQS requests of the receipts' path that no role makes: the event source mappings' receives
    and deletes. (The HTTP API's SendMessage is made under the integration's role, ReceiptsApiRole,
    and counted with the functions' own calls by the IAM guard.)"""
    pollers = [poller for poller in (local.receipt_queue, local.callback_poller) if poller is not None]
    return sum(poller.requests for poller in pollers)


def measure(batches: int, mix: str = "stress", mode: str = "endpoint", shape: str = "connect") -> dict[str, Any]:
    """One wait mode's figures: ``batches`` batches of ``shape`` (after a warm-up batch) in a local
    environment of its own, deployed with WaitMode ``mode``."""
    behaviours: dict[str, str] = {}
    events = [shape_event(shape, number, behaviours, mix) for number in range(batches + 1)]
    # Connect: the product's own Connect deadline (25 s of Connect's 30); Pinpoint: 30 s.
    options = LocalOptions(receipt_delay=0.2, latency=LATENCY, deadline_seconds=None if shape == "connect" else 30,
                           receipt_timeout_seconds=60, receipt_heartbeat_seconds=30, behaviours=behaviours,
                           parameters={"WaitMode": mode},
                           environment={"CONNECT_ACTIONS": json.dumps(CONNECT_ACTIONS)} if shape == "connect" else {})
    units: Counter[str] = Counter()

    def run(event: dict[str, Any]) -> list[str]:
        """Invoke, wait for the batch's executions to end; their ARNs."""
        local.invoke(event)
        batch_id = batch_id_of(shape, event)
        arns = [local.execution_arn(name) for name in local.batch_execution_names(batch_id) or [batch_id]]
        for arn in arns:
            local.wait_for_execution(arn)
        return arns

    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        log = InvocationLog(local)
        run(events.pop())  # warm environments and connections first, as a warm Lambda fleet is
        time.sleep(0.5)
        log.records.clear()
        items_before, bytes_before = ledger_bytes(local.client("dynamodb"))
        registry = local.registry
        invocations_before, billed_before = Counter(registry.invocations), Counter(registry.billed_ms)
        allowed_before = Counter(local.guard_totals().allowed)
        events_before = len(local.event_bus.events())
        receipts_before = len(local.provider.receipts)
        queue_requests_before = queue_requests(local)
        attempts_before = sum(local.provider.attempts.values())
        for event in events:
            with metered() as used:
                arns = run(event)
                # The last engagement events and late work of the batch.
                time.sleep(0.5)
            units["state_transitions"] += sum(transitions(local.history(arn)) for arn in arns)
            units["dynamodb_read_units"] += sum(v for k, v in used.items() if k.endswith("_rcu"))
            units["dynamodb_write_units"] += sum(v for k, v in used.items() if k.endswith("_wcu"))
        invocations = registry.invocations - invocations_before
        measured_ms = registry.billed_ms - billed_before
        memory = {name: spec.memory for name, spec in registry.specs.items()}
        arm = {name: spec.architecture == "arm64" for name, spec in registry.specs.items()}
        allowed = local.guard_totals().allowed - allowed_before
        calls: Counter[str] = Counter()
        for (function, _), count in allowed.items():
            calls[function] += count
        provider_requests = sum(local.provider.attempts.values()) - attempts_before
        records = list(log.records)
        # Each invocation modeled on its own (invocation_seconds): the senders' endpoints on their
        # workers; the serial model alongside (serial_seconds), as it was counted before.
        billed: Counter[str] = Counter()
        serial_ms: Counter[str] = Counter()
        widths: dict[str, list[int]] = {}
        attributed = 0
        for record in records:
            sender = record.function.endswith("SendFunction")
            if record.function == "InvokerFunction":  # waits for outcomes in real time: measured
                continue
            modeled, serial, requests = record.billed_ms(sender)
            billed[record.function] += modeled
            serial_ms[record.function] += serial
            attributed += requests
            if sender:
                widths.setdefault(record.function, []).append(len(sender_work(
                    json.loads(record.event or b"{}"), record.calls, record.succeeded)[1]))
        for name in ("InvokerFunction",):
            if name in measured_ms:
                billed[name] = serial_ms[name] = measured_ms[name]
        units["lambda_requests"] = sum(invocations.values())
        for name in billed:  # priced at the function's architecture (the template's Architectures)
            key = "lambda_gb_seconds_arm" if arm[name] else "lambda_gb_seconds"
            units[key] += billed[name] / 1000 * memory[name] / 1024

        def lambda_usd(ms: Counter[str]) -> float:
            return sum(ms[name] / 1000 * memory[name] / 1024
                       * PRICES["lambda_gb_seconds_arm" if arm[name] else "lambda_gb_seconds"][0] for name in ms)

        measured_usd, serial_usd = lambda_usd(measured_ms), lambda_usd(serial_ms)
        units["http_api_requests"] = sum(r["attempts"] for r in local.provider.receipts[receipts_before:])
        units["eventbridge_events"] = len(local.event_bus.events()) - events_before
        units["sqs_requests"] = (sum(n for (_, action), n in allowed.items() if action.startswith("sqs:"))
                                 + queue_requests(local) - queue_requests_before)
        units["sns_requests"] = sum(n for (_, action), n in allowed.items() if action.startswith("sns:"))
        items_after, bytes_after = ledger_bytes(local.client("dynamodb"))
        # Last, so its sends (and the receipts the stand-in posts for them) count in nothing above.
        plain_seconds = [plain_loop(f"{local.provider.url}/messages", plain_sends(shape, event),
                                    batch_id_of(shape, event)) for event in events]
    endpoints = ENDPOINTS * len(events)
    days = retention_days()
    units.update(storage_units(bytes_after - bytes_before, days))
    # Four significant digits (a GB-month per endpoint is a few millionths).
    per_endpoint = {key: float(f"{value / endpoints:.4g}") for key, value in sorted(units.items())}
    return {
        "mode": mode,
        "shape": shape,
        "endpoints": endpoints,
        "transitions_per_endpoint": round(units["state_transitions"] / endpoints, 3),
        "mix": {"name": mix, **{fault: round(len(slots) / ENDPOINTS, 3) for fault, slots in MIXES[mix].items()}},
        "provider_latency_seconds": LATENCY,
        "units_per_endpoint": per_endpoint,
        "ledger": {"bytes_per_endpoint": round((bytes_after - bytes_before) / endpoints),
                   "items_per_endpoint": round((items_after - items_before) / endpoints, 2),
                   "retention_days": days,
                   "gb_per_million_endpoints": round((bytes_after - bytes_before) / endpoints * 1_000_000 / GB, 3)},
        "lambda_per_function": {name: {"requests_per_endpoint": round(invocations[name] / endpoints, 3),
                                       "aws_calls_per_invocation": round(calls[name] / max(invocations[name], 1), 2),
                                       "modeled_ms_per_invocation": round(billed[name] / max(invocations[name], 1)),
                                       "serial_model_ms_per_invocation": round(serial_ms[name]
                                                                               / max(invocations[name], 1)),
                                       "measured_ms_per_invocation": round(measured_ms[name]
                                                                           / max(invocations[name], 1)),
                                       "memory_mb": memory[name],
                                       **({"endpoints_per_invocation": round(statistics.mean(widths[name]), 2)}
                                          if widths.get(name) else {})}
                                for name in sorted(invocations)},
        # Provider requests the model gave to the senders' endpoints, of all the stand-in answered.
        "provider_requests": {"total": provider_requests, "attributed": attributed},
        # Where the units come from: every AWS call the functions made, by function and action.
        "aws_calls_per_endpoint": {f"{function} {action}": round(count / endpoints, 3)
                                   for (function, action), count in sorted(allowed.items())},
        "lambda_usd_per_million_endpoints_measured_durations": round(
            (units["lambda_requests"] * PRICES["lambda_requests"][0] + measured_usd) * 1_000_000 / endpoints, 2),
        "lambda_usd_per_million_endpoints_serial_model": round(
            (units["lambda_requests"] * PRICES["lambda_requests"][0] + serial_usd) * 1_000_000 / endpoints, 2),
        "ours": price(dict(units), endpoints),
        "plain_seconds": [round(seconds, 3) for seconds in plain_seconds],
    }


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every mode's figures (``measure``'s, by mode) as one object: the modes' summaries side by
    side, the plain design priced from every mode's runs, the prices."""
    plain_seconds = [seconds for figures in results.values() for seconds in figures["plain_seconds"]]
    first = next(iter(results.values()))
    return {
        "shape": first.get("shape", "connect"),
        "mix": first["mix"],
        "endpoints_per_mode": first["endpoints"],
        "summary": {mode: {"transitions_per_endpoint": figures["transitions_per_endpoint"],
                           "total_usd_per_million_endpoints":
                               figures["ours"]["total_without_storage_usd_per_million_endpoints"],
                           "total_with_storage_usd_per_million_endpoints":
                               figures["ours"]["total_usd_per_million_endpoints"]}
                    for mode, figures in results.items()},
        "modes": {mode: {key: value for key, value in figures.items() if key != "plain_seconds"}
                  for mode, figures in results.items()},
        "plain_one_lambda_per_batch": plain_price(plain_seconds),
        "prices": {"date": PRICES_DATE, "region": PRICES_REGION,
                   **{key: {"usd": value, "per": unit, "source": source}
                      for key, (value, unit, source) in PRICES.items()}},
    }


# Units per endpoint the second table shows, with their labels.
UNIT_ROWS = (("state_transitions", "billed transitions"), ("lambda_requests", "Lambda requests"),
             ("dynamodb_write_units", "DynamoDB write units"), ("dynamodb_read_units", "DynamoDB read units"),
             ("http_api_requests", "HTTP API requests"), ("eventbridge_events", "EventBridge events"),
             ("sqs_requests", "SQS requests"), ("sns_requests", "SNS requests"))


def table(compared: dict[str, Any]) -> list[str]:
    """The by-service dollars per million endpoints, the modes side by side with the plain loop,
    then the units per endpoint behind them: lines to print."""
    modes = list(compared["modes"])
    plain = compared["plain_one_lambda_per_batch"]
    costs = {mode: figures["ours"] for mode, figures in compared["modes"].items()}
    services = sorted({service for ours in costs.values() for service in ours["usd_per_million_endpoints"]},
                      key=lambda service: (service in STORAGE_SERVICES,
                                           -max(ours["usd_per_million_endpoints"].get(service, 0.0)
                                                for ours in costs.values()), service))

    def row(label: str, values: list[str]) -> str:
        return f"  {label:22}" + "".join(f"{value:>11}" for value in values)

    def dollars(mode: str, service: str) -> str:
        return f"{costs[mode]['usd_per_million_endpoints'].get(service, 0.0):.2f}"

    lines = ["per million endpoints (USD):", row("service", [*modes, "plain"])]
    for service in services:
        if service in STORAGE_SERVICES:
            continue
        plain_usd = plain["usd_per_million_endpoints"].get(service)
        lines.append(row(service, [*(dollars(mode, service) for mode in modes),
                                   "" if plain_usd is None else f"{plain_usd:.2f}"]))
    lines.append(row("total", [*(f"{costs[mode]['total_without_storage_usd_per_million_endpoints']:.2f}"
                                 for mode in modes), f"{plain['total_usd_per_million_endpoints']:.2f}"]))
    for service in services:
        if service in STORAGE_SERVICES:
            lines.append(row(service, [*(dollars(mode, service) for mode in modes), ""]))
    lines.append(row("total with storage", [*(f"{costs[mode]['total_usd_per_million_endpoints']:.2f}"
                                              for mode in modes), ""]))
    lines.append("per endpoint:")
    lines.append(row("unit", modes))
    for key, label in UNIT_ROWS:
        lines.append(row(label, [f"{compared['modes'][mode]['units_per_endpoint'].get(key, 0.0):.3f}"
                                 for mode in modes]))
    ledgers = {mode: compared["modes"][mode]["ledger"] for mode in modes}
    lines.append(row("ledger bytes", [str(ledgers[mode]["bytes_per_endpoint"]) for mode in modes]))
    lines.append(row("ledger items", [f"{ledgers[mode]['items_per_endpoint']:.2f}" for mode in modes]))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--mix", choices=sorted(MIXES), default="stress",
                        help="the batches' share of provider faults (see MIXES)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both",
                        help="the template's WaitMode to measure, or both (one local environment after the other)")
    parser.add_argument("--shape", choices=SHAPES, default="connect",
                        help="connect: Amazon Connect custom-action batches (one channel, SMS); pinpoint: Amazon "
                             "Pinpoint custom-channel batches (every channel)")
    args = parser.parse_args()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    compared = compare({mode: measure(args.batches, args.mix, mode, args.shape) for mode in modes})
    plain = compared["plain_one_lambda_per_batch"]
    print(f"{compared['endpoints_per_mode']} endpoints per mode, {args.shape} batches, {args.mix} mix; "
          f"list prices {PRICES_REGION}, {PRICES_DATE}")
    for line in table(compared):
        print(line)
    for mode, figures in compared["modes"].items():
        ledger = figures["ledger"]
        print(f"{mode} mode: {figures['transitions_per_endpoint']} billed transitions per endpoint; ledger "
              f"{ledger['bytes_per_endpoint']} bytes in {ledger['items_per_endpoint']} items per endpoint "
              f"({ledger['gb_per_million_endpoints']} GB per million) kept {ledger['retention_days']} days")
        print(f"{mode} mode: Lambda {figures['ours']['usd_per_million_endpoints'].get('lambda', 0.0):.2f} modeled "
              f"(senders' endpoints on their workers); {figures['lambda_usd_per_million_endpoints_serial_model']:.2f} "
              f"as if serial; {figures['lambda_usd_per_million_endpoints_measured_durations']:.2f} at the measured "
              f"durations (an upper bound)")
    print(f"plain one-Lambda-per-batch loop: {plain['total_usd_per_million_endpoints']:.2f} "
          f"({plain['note']}, {plain['seconds_per_batch']} s a batch)")
    print(json.dumps(compared))


if __name__ == "__main__":
    main()
