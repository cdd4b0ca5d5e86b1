"""What a million endpoints cost on AWS, counted from the calls a local run actually makes.

Runs 50-endpoint batches (every channel, with a mix of provider retries, bounces and skipped
endpoints: --mix stress, the soak's fault rates, or typical; see MIXES) through the whole local
stack, counts every billed unit, and prices it with the list prices below. Counted, per batch,
from invocation to the end of the execution:

- Step Functions (Standard): state transitions, from the execution's history: every state
  entered, plus one for each retry of a task (AWS bills a retry as a transition).
- Lambda: requests per function, and GB-seconds at the function's MemorySize from the template,
  priced at its Architectures' rate (the template's functions run on arm64: a fifth less).
  The duration is modeled, not taken from the local clock: the local engine runs every service
  and function on two cores, so a send that takes 150 ms on AWS takes seconds here (the measured
  figure is printed too, as an upper bound). Modeled, per invocation: AWS_CALL_SECONDS for each
  AWS call the function made (counted by the local IAM guard, which sees every call), plus
  LATENCY for each provider request, plus HANDLER_SECONDS; rounded up to the millisecond as
  Lambda bills. The invoker is the exception: it waits for outcomes in real time, so its
  measured duration is used.
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

The same runs measure a plain design: one Lambda function per batch that sends the 50 messages
one after another through the same stand-in (no orchestration, no receipts, no ledger), priced
at one request plus its measured duration at 256 MB (the median over every mode's runs).

Prints dollars per million endpoints by service, the modes side by side with the plain design,
then the billed units per endpoint; the last line is one JSON object with every mode's figures.
Run: python benchmarks/cost.py [--batches 3] [--mix stress|typical] [--mode endpoint|group|both]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections import Counter
from typing import Any

from journey_activity.triggers.pinpoint import batch_id_for
from journey_activity_local.engine.dynamodb_units import item_size, metered
from journey_activity_local.stack import TABLE_NAME, LocalEnvironment, LocalOptions, default_template
from journey_activity_local.template import Template

ENDPOINTS = 50
LATENCY = 0.1
CHANNELS = ("SMS", "EMAIL", "GCM", "APNS", "VOICE", "CUSTOM")
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


def transitions(history: list[dict[str, Any]]) -> int:
    """States entered, plus one for each retry of a task (a task scheduled again)."""
    types = Counter(event["type"] for event in history)
    entered = sum(count for kind, count in types.items() if kind.endswith("StateEntered"))
    task_entered = types.get("TaskStateEntered", 0)
    scheduled = types.get("TaskScheduled", 0) or types.get("LambdaFunctionScheduled", 0)
    return entered + max(0, scheduled - task_entered)


def plain_loop(provider_url: str, event: dict[str, Any]) -> float:
    from journey_activity.config import HttpProviderConfig
    from journey_activity.errors import ProviderError
    from journey_activity.providers.base import SendRequest
    from journey_activity.providers.http import HttpProvider

    provider = HttpProvider(HttpProviderConfig(url=provider_url))
    started = time.perf_counter()
    for endpoint_id, item in event["Endpoints"].items():
        with contextlib.suppress(ProviderError):  # the plain design does not retry
            provider.send(SendRequest(batch_id="plain", endpoint_id=endpoint_id, channel=item["ChannelType"],
                                      address=item["Address"], message=event["Data"],
                                      idempotency_key=f"plain-{event['ScheduledTime']}-{endpoint_id}"))
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


def measure(batches: int, mix: str = "stress", mode: str = "endpoint") -> dict[str, Any]:
    """One wait mode's figures: ``batches`` batches (after a warm-up batch) in a local environment
    of its own, deployed with WaitMode ``mode``."""
    behaviours: dict[str, str] = {}
    events = [batch_event(number, behaviours, mix) for number in range(batches + 1)]
    options = LocalOptions(receipt_delay=0.2, latency=LATENCY, deadline_seconds=30, receipt_timeout_seconds=60,
                           receipt_heartbeat_seconds=30, behaviours=behaviours, parameters={"WaitMode": mode})
    units: Counter[str] = Counter()
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        warm = events.pop()  # warm environments and connections first, as a warm Lambda fleet is
        local.invoke(warm)
        local.wait_for_execution(local.execution_arn(batch_id_for(warm)))
        time.sleep(0.5)
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
                local.invoke(event)
                arn = local.execution_arn(batch_id_for(event))
                local.wait_for_execution(arn)
                # The last engagement events and late work of the batch.
                time.sleep(0.5)
            units["state_transitions"] += transitions(local.history(arn))
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
        senders = [name for name in invocations if name.endswith("SendFunction")]
        sender_invocations = sum(invocations[name] for name in senders) or 1
        billed: dict[str, float] = {}
        for name, count in invocations.items():
            if name == "InvokerFunction":
                billed[name] = measured_ms[name]
                continue
            seconds = count * HANDLER_SECONDS + calls[name] * AWS_CALL_SECONDS
            if name in senders:  # the provider requests, shared by the senders as they ran
                seconds += provider_requests * LATENCY * count / sender_invocations
            billed[name] = math.ceil(seconds * 1000)
        units["lambda_requests"] = sum(invocations.values())
        for name in billed:  # priced at the function's architecture (the template's Architectures)
            key = "lambda_gb_seconds_arm" if arm[name] else "lambda_gb_seconds"
            units[key] += billed[name] / 1000 * memory[name] / 1024
        measured_usd = sum(measured_ms[name] / 1000 * memory[name] / 1024
                           * PRICES["lambda_gb_seconds_arm" if arm[name] else "lambda_gb_seconds"][0]
                           for name in measured_ms)
        units["http_api_requests"] = sum(r["attempts"] for r in local.provider.receipts[receipts_before:])
        units["eventbridge_events"] = len(local.event_bus.events()) - events_before
        units["sqs_requests"] = (sum(n for (_, action), n in allowed.items() if action.startswith("sqs:"))
                                 + queue_requests(local) - queue_requests_before)
        units["sns_requests"] = sum(n for (_, action), n in allowed.items() if action.startswith("sns:"))
        items_after, bytes_after = ledger_bytes(local.client("dynamodb"))
        # Last, so its sends (and the receipts the stand-in posts for them) count in nothing above.
        plain_seconds = [plain_loop(f"{local.provider.url}/messages", event) for event in events]
    endpoints = ENDPOINTS * len(events)
    days = retention_days()
    units.update(storage_units(bytes_after - bytes_before, days))
    # Four significant digits (a GB-month per endpoint is a few millionths).
    per_endpoint = {key: float(f"{value / endpoints:.4g}") for key, value in sorted(units.items())}
    return {
        "mode": mode,
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
                                       "measured_ms_per_invocation": round(measured_ms[name]
                                                                           / max(invocations[name], 1)),
                                       "memory_mb": memory[name]}
                                for name in sorted(invocations)},
        # Where the units come from: every AWS call the functions made, by function and action.
        "aws_calls_per_endpoint": {f"{function} {action}": round(count / endpoints, 3)
                                   for (function, action), count in sorted(allowed.items())},
        "lambda_usd_per_million_endpoints_measured_durations": round(
            (units["lambda_requests"] * PRICES["lambda_requests"][0] + measured_usd) * 1_000_000 / endpoints, 2),
        "ours": price(dict(units), endpoints),
        "plain_seconds": [round(seconds, 3) for seconds in plain_seconds],
    }


def compare(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every mode's figures (``measure``'s, by mode) as one object: the modes' summaries side by
    side, the plain design priced from every mode's runs, the prices."""
    plain_seconds = [seconds for figures in results.values() for seconds in figures["plain_seconds"]]
    first = next(iter(results.values()))
    return {
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
    args = parser.parse_args()
    modes = list(MODES) if args.mode == "both" else [args.mode]
    compared = compare({mode: measure(args.batches, args.mix, mode) for mode in modes})
    plain = compared["plain_one_lambda_per_batch"]
    print(f"{compared['endpoints_per_mode']} endpoints per mode, {args.mix} mix; "
          f"list prices {PRICES_REGION}, {PRICES_DATE}")
    for line in table(compared):
        print(line)
    for mode, figures in compared["modes"].items():
        ledger = figures["ledger"]
        print(f"{mode} mode: {figures['transitions_per_endpoint']} billed transitions per endpoint; ledger "
              f"{ledger['bytes_per_endpoint']} bytes in {ledger['items_per_endpoint']} items per endpoint "
              f"({ledger['gb_per_million_endpoints']} GB per million) kept {ledger['retention_days']} days")
    print(f"plain one-Lambda-per-batch loop: {plain['total_usd_per_million_endpoints']:.2f} "
          f"({plain['note']}, {plain['seconds_per_batch']} s a batch)")
    print(json.dumps(compared))


if __name__ == "__main__":
    main()
