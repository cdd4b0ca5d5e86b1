"""The cost benchmark's counting and pricing rules (benchmarks/cost.py runs them on a local run)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

COST = Path(__file__).resolve().parents[2] / "benchmarks" / "cost.py"


@pytest.fixture(scope="module")
def cost():
    spec = importlib.util.spec_from_file_location("cost_benchmark", COST)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def test_a_retry_is_billed_as_a_transition(cost):
    history = [{"type": t} for t in ("ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskFailed",
                                     "TaskScheduled", "TaskSucceeded", "TaskStateExited", "MapStateEntered",
                                     "TaskStateEntered", "TaskScheduled", "ExecutionSucceeded")]
    # Three states entered, and the first task scheduled once more (its retry).
    assert cost.transitions(history) == 4


def test_prices_are_per_million_endpoints_by_service(cost):
    priced = cost.price({"state_transitions": 108.0, "dynamodb_write_units": 400.0, "dynamodb_read_units": 100.0,
                         "lambda_requests": 150.0, "lambda_gb_seconds": 10.0}, endpoints=100)
    assert priced["usd_per_million_endpoints"] == {"dynamodb": 2.62, "lambda": 1.97, "step_functions": 27.0}
    assert priced["total_usd_per_million_endpoints"] == 31.59


def test_arm_gb_seconds_are_priced_a_fifth_below_x86(cost):
    x86 = cost.price({"lambda_gb_seconds": 1_000_000.0}, endpoints=1_000_000)["total_usd_per_million_endpoints"]
    arm = cost.price({"lambda_gb_seconds_arm": 1_000_000.0}, endpoints=1_000_000)["total_usd_per_million_endpoints"]
    assert (x86, arm) == (16.67, 13.33)


def test_each_function_is_priced_at_its_templates_architecture():
    from journey_activity_local.stack import default_template
    from journey_activity_local.template import Template

    specs = Template(default_template()).functions({})
    assert specs
    assert {spec.architecture for spec in specs.values()} == {"arm64"}


def test_every_price_is_dated_and_sourced(cost):
    assert cost.PRICES_DATE
    for key, (usd, unit, source) in cost.PRICES.items():
        assert usd > 0
        assert unit
        assert source.startswith("https://aws.amazon.com/"), key
        assert key in cost.SERVICE_OF


def test_storage_is_priced_per_gb_month_for_the_ledgers_retention(cost):
    """A GB kept a month costs $0.25 stored and $0.20 more in PITR backups."""
    units = cost.storage_units(cost.GB, cost.DAYS_PER_MONTH)
    assert units == {"dynamodb_storage_gb_months": 1.0, "dynamodb_pitr_gb_months": 1.0}
    priced = cost.price(units, endpoints=1_000_000)
    assert priced["usd_per_million_endpoints"] == {"dynamodb_pitr": 0.2, "dynamodb_storage": 0.25}
    assert cost.retention_days() >= 93  # the template's LedgerTtlDays default


def test_the_ledger_is_sized_by_dynamodbs_rules_plus_the_per_item_overhead(cost):
    class Scanned:
        def get_paginator(self, name):
            assert name == "scan"
            return self

        def paginate(self, TableName):  # noqa: N803 - boto3's parameter name
            assert TableName == cost.TABLE_NAME
            return [{"Items": [{"pk": {"S": "abc"}, "n": {"N": "12"}}]}, {"Items": [{"pk": {"S": "é"}}]}]

    # "pk" + "abc" = 5, "n" + 12 (2 digits: 1 + 1 byte) = 3; "pk" + "é" (2 bytes) = 4; plus 100 each.
    assert cost.ledger_bytes(Scanned()) == (2, 5 + 3 + 4 + 2 * cost.STORAGE_OVERHEAD_BYTES)


def test_the_total_lists_storage_apart(cost):
    priced = cost.price({"state_transitions": 40_000.0, "dynamodb_storage_gb_months": 4.0}, endpoints=1_000_000)
    assert priced["total_without_storage_usd_per_million_endpoints"] == 1.0
    assert priced["total_usd_per_million_endpoints"] == 2.0


def test_the_plain_loop_is_one_request_per_batch_and_its_duration(cost):
    plain = cost.plain_price([2.0, 4.0, 3.0])
    # 3 requests and 9 s at 256 MB on Arm, for 150 endpoints.
    expected = (3 * 0.20 / 1_000_000 + 9 * 0.25 * 0.0000133334) * 1_000_000 / 150
    assert plain["total_usd_per_million_endpoints"] == round(expected, 2)
    assert plain["seconds_per_batch"] == 3.0


def figures(cost, mode, transitions, plain_seconds):
    """What measure() returns for one mode, reduced to what compare() and table() read."""
    units = {"state_transitions": transitions, "dynamodb_write_units": 3.0, "lambda_requests": 1.0,
             "dynamodb_storage_gb_months": 0.000001}
    return {"mode": mode, "endpoints": 150, "transitions_per_endpoint": transitions,
            "mix": {"name": "typical"}, "units_per_endpoint": units,
            "ledger": {"bytes_per_endpoint": 1000, "items_per_endpoint": 2.0},
            "ours": cost.price({key: value * 150 for key, value in units.items()}, endpoints=150),
            "plain_seconds": plain_seconds}


def test_both_modes_are_compared_side_by_side(cost):
    compared = cost.compare({"endpoint": figures(cost, "endpoint", 1.06, [7.0, 7.2]),
                             "group": figures(cost, "group", 0.2, [7.1])})
    assert list(compared["modes"]) == ["endpoint", "group"]
    # 1.06 transitions, 3 write units and a Lambda request per endpoint: 26.50 + 1.88 + 0.20.
    assert compared["summary"]["endpoint"]["total_usd_per_million_endpoints"] == 28.58
    assert compared["summary"]["group"]["transitions_per_endpoint"] == 0.2
    assert compared["summary"]["group"]["total_with_storage_usd_per_million_endpoints"] == 7.33
    # The plain loop from every mode's runs.
    assert compared["plain_one_lambda_per_batch"]["seconds_per_batch"] == 7.1
    assert all("plain_seconds" not in mode for mode in compared["modes"].values())
    assert compared["prices"]["date"] == cost.PRICES_DATE

    lines = cost.table(compared)
    assert lines[1].split() == ["service", "endpoint", "group", "plain"]
    rows = {line[:24].strip(): line[24:].split() for line in lines[2:]}  # a label, then the columns
    assert rows["step_functions"] == ["26.50", "5.00"]  # the plain loop has no state machine
    assert rows["lambda"][:2] == ["0.20", "0.20"]
    assert rows["total"][:2] == ["28.58", "7.08"]
    assert rows["dynamodb_storage"] == ["0.25", "0.25"]
    assert rows["total with storage"] == ["28.83", "7.33"]
    assert rows["billed transitions"] == ["1.060", "0.200"]
    # Storage below the total, the units per endpoint after both.
    labels = list(rows)
    assert labels.index("total") < labels.index("dynamodb_storage") < labels.index("billed transitions")


def test_one_mode_alone_has_one_column(cost):
    compared = cost.compare({"group": figures(cost, "group", 0.2, [7.1])})
    lines = cost.table(compared)
    assert lines[1].split() == ["service", "group", "plain"]
    assert cost.MODES == ("endpoint", "group")


def test_a_pool_runs_its_works_in_order_on_the_first_free_thread(cost):
    assert cost.pool_seconds([0.1] * 12, 16) == pytest.approx(0.1)  # one round: every endpoint at once
    assert cost.pool_seconds([0.1] * 47, 16) == pytest.approx(0.3)  # ceil(47 / 16) rounds
    assert cost.pool_seconds([0.1] * 32, 16) == pytest.approx(0.2)
    # One long work holds its thread; the others share the rest.
    assert cost.pool_seconds([0.5, 0.1, 0.1, 0.1], 2) == pytest.approx(0.5)
    assert cost.pool_seconds([0.2], 1) == pytest.approx(0.2)
    assert cost.pool_seconds([], 16) == 0.0


def test_an_invocation_without_endpoints_is_serial(cost):
    seconds = cost.invocation_seconds(3, 2, [])
    assert seconds == pytest.approx(cost.HANDLER_SECONDS + 5 * cost.AWS_CALL_SECONDS)


def test_an_endpoints_own_task_is_the_serial_model(cost):
    """One endpoint: its calls and requests one after another, as before the workers were counted."""
    seconds = cost.invocation_seconds(0, 4, [2])
    assert seconds == pytest.approx(cost.serial_seconds(4, [2]))
    assert seconds == pytest.approx(cost.HANDLER_SECONDS + 4 * cost.AWS_CALL_SECONDS + 2 * cost.LATENCY)


def test_a_group_sends_its_endpoints_on_min_of_its_workers_and_its_size(cost):
    # 12 endpoints, one request and three calls each, the group's open and close serial: one round.
    seconds = cost.invocation_seconds(3, 36, [1] * 12)
    one = 3 * cost.AWS_CALL_SECONDS + cost.LATENCY
    assert seconds == pytest.approx(cost.HANDLER_SECONDS + 3 * cost.AWS_CALL_SECONDS + one)
    # Twelve times less than the serial model's endpoint work.
    assert cost.serial_seconds(39, [1] * 12) == pytest.approx(
        cost.HANDLER_SECONDS + 3 * cost.AWS_CALL_SECONDS + 12 * one)
    # 47 endpoints on 16 threads: three rounds.
    assert cost.invocation_seconds(0, 0, [1] * 47) == pytest.approx(cost.HANDLER_SECONDS + 3 * cost.LATENCY)
    assert cost.GROUP_WORKERS == 16


def test_a_retried_group_attempt_takes_as_long_as_its_endpoint_still_sending(cost):
    # Eleven endpoints an earlier attempt finished (no request), one sent now (two requests: it failed once).
    seconds = cost.invocation_seconds(4, 0, [0] * 11 + [2])
    assert seconds == pytest.approx(cost.HANDLER_SECONDS + 4 * cost.AWS_CALL_SECONDS + 2 * cost.LATENCY)


def test_a_sender_events_endpoints_and_serial_calls(cost):
    context = {"batch_id": "b1"}
    group = {"id": "g1", "sender": "S", "recipients": [{"endpoint_id": "e1"}, {"endpoint_id": "e2"}]}
    # A first attempt: open (2) and, as it succeeded, the close (1).
    assert cost.sender_work({"context": context, "group": group, "retry_count": 0}, 20, True) == ("b1", ["e1", "e2"], 3)
    # A retry reads its group once more; one that failed never reached its close.
    assert cost.sender_work({"context": context, "group": group, "retry_count": 1}, 20, False)[2] == 3
    assert cost.sender_work({"context": context, "group": group, "retry_count": 1}, 20, True)[2] == 4
    assert cost.sender_work({"context": context, "group": group, "retry_count": 1}, 2, True)[2] == 2
    # Waiting for the remaining receipts: no endpoint, every call serial.
    assert cost.sender_work({"context": context, "group": group, "wait_only": True}, 5, True) == ("b1", [], 5)
    # Send at once: the family's own endpoints, every call in the workers.
    at_once = {"context": context, "sender": "S",
               "recipients": [{"endpoint_id": "e1", "sender": "S"}, {"endpoint_id": "e2", "sender": "T"},
                              {"endpoint_id": "e3", "sender": "S"}]}
    assert cost.sender_work(at_once, 9, True) == ("b1", ["e1", "e3"], 0)
    # An endpoint's own task.
    assert cost.sender_work({"context": context, "recipient": {"endpoint_id": "e9"}}, 4, True) == ("b1", ["e9"], 0)


def test_an_invocation_is_billed_from_its_own_endpoints_requests(cost):
    from journey_activity.handlers.send import idempotency_key

    group = {"id": "g1", "sender": "S", "recipients": [{"endpoint_id": f"e{i}"} for i in range(20)]}
    event = json.dumps({"context": {"batch_id": "b1"}, "group": group, "retry_count": 0}).encode()
    requests = {idempotency_key("b1", f"e{i}"): 1 for i in range(20)}
    requests[idempotency_key("other-batch", "e0")] = 3  # another invocation's, running meanwhile
    invocation = cost.Invocation("SmsVoiceSendFunction", event, True, 63, requests)
    modeled, serial, attributed = invocation.billed_ms(sender=True)
    assert attributed == 20
    # 20 endpoints on 16 threads: two rounds of (100 ms + 3 calls) after 3 serial calls.
    assert modeled == math.ceil((cost.HANDLER_SECONDS + 3 * cost.AWS_CALL_SECONDS
                                 + 2 * (cost.LATENCY + 3 * cost.AWS_CALL_SECONDS)) * 1000)
    assert serial == math.ceil((cost.HANDLER_SECONDS + 63 * cost.AWS_CALL_SECONDS + 20 * cost.LATENCY) * 1000)
    # Another function: its calls one after another.
    assert cost.Invocation("CallbackFunction", b"{}", True, 9, {}).billed_ms(sender=False) == (95, 95, 0)


def test_connect_batches_are_one_sms_action_with_the_mixs_faults_by_address(cost):
    behaviours: dict[str, str] = {}
    event = cost.connect_event(1, behaviours, "typical")
    profiles = event["Items"]["CustomerProfiles"]
    assert len(profiles) == cost.ENDPOINTS
    assert event["InvocationMetadata"]["CampaignContext"]["ActionId"] in cost.CONNECT_ACTIONS
    assert {action["channel"] for action in cost.CONNECT_ACTIONS.values()} == {"SMS"}
    assert all(len(p["ProfileId"]) == 32 and p["IdempotencyToken"] for p in profiles)
    data = [json.loads(p["CustomerData"]) for p in profiles]
    # Skipped: two without a phone number, one with an unusable one.
    assert [i for i, d in enumerate(data) if "mobilePhoneNumber" not in d] == [7, 31]
    assert data[13]["mobilePhoneNumber"] == "not-an-address"
    assert behaviours == {data[2]["mobilePhoneNumber"]: "flaky:1", data[23]["mobilePhoneNumber"]: "bounce"}
    # Another batch: other profiles, another batch id; the plain loop sends to every phone number.
    other = cost.connect_event(2, {}, "typical")
    assert cost.batch_id_of("connect", other) != cost.batch_id_of("connect", event)
    assert len(cost.plain_sends("connect", event)) == 48
    assert len(cost.plain_sends("pinpoint", cost.batch_event(1, {}, "typical"))) == 50
    assert cost.SHAPES[0] == "connect"
