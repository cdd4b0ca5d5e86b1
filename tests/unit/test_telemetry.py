"""The batch outcome metrics, as the embedded metric format records CloudWatch reads from the logs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest

from journey_activity.models.batch import EndpointResult
from journey_activity.telemetry import publish_outcomes
from tests.conftest import LEDGER_KEYS


def emf_records(text: str) -> list[dict]:
    records = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    return sorted(records, key=lambda record: record.get("Channel", ""))


def result(endpoint_id: str, channel: str, status: str, **fields) -> EndpointResult:
    return EndpointResult(endpoint_id=endpoint_id, channel=channel, status=status, **fields)


@pytest.fixture(autouse=True)
def _metrics_on(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "JourneyActivity")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "journey-activity")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.delenv("METRICS_PER_JOURNEY", raising=False)
    # The metric set is process-wide: start from an empty one, whatever ran before in this process.
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()


def test_one_record_per_channel_with_every_status_and_the_receipt_latencies(capsys):
    publish_outcomes([
        result("a", "SMS", "DELIVERED", receipt_status="delivered", sent_at="2026-11-23T10:00:00.000Z",
               finished_at="2026-11-23T10:00:01.500Z"),
        result("b", "SMS", "TIMED_OUT", reason="no_receipt", sent_at="2026-11-23T10:00:00.000Z",
               finished_at="2026-11-23T10:15:00.000Z"),
        result("c", "SMS", "FAILED", reason="bounced", receipt_status="bounced", sent_at="2026-11-23T10:00:00.000Z",
               finished_at="2026-11-23T10:00:04.000Z"),
        result("d", "EMAIL", "SKIPPED", reason="opted_out"),
        result("e", "EMAIL", "SENT"),
    ], {"batch_id": "b-1", "source": "pinpoint", "journey_id": "journey-9"})
    email, sms = emf_records(capsys.readouterr().out)
    for record in (email, sms):
        directive = record["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "JourneyActivity"
        assert directive["Dimensions"] == [["Channel", "service"], ["service"], ["Channel", "Journey"]]
        assert record["service"] == "journey-activity"
        assert record["Journey"] == "journey-9"
    assert sms["Channel"] == "SMS"
    assert (sms["OutcomeDelivered"], sms["OutcomeFailed"], sms["OutcomeTimedOut"], sms["OutcomeSkipped"],
            sms["OutcomePending"]) == ([1.0], [1.0], [1.0], [0.0], [0.0])
    # Only receipts count toward the latency: the timed-out endpoint had none.
    assert sms["SecondsToReceipt"] == [1.5, 4.0]
    units = {m["Name"]: m["Unit"] for m in sms["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["SecondsToReceipt"] == "Seconds"
    assert units["OutcomeDelivered"] == "Count"
    # The provider accepted "e", its receipt has not come: SENT, told apart from not sent (PENDING).
    assert (email["Channel"], email["OutcomeSkipped"], email["OutcomeSent"], email["OutcomePending"]) == (
        "EMAIL", [1.0], [1.0], [0.0])
    assert "SecondsToReceipt" not in email


def test_a_connect_campaign_is_the_journey_and_the_set_can_be_turned_off(capsys, monkeypatch):
    publish_outcomes([result("p-1", "SMS", "DELIVERED")], {"source": "connect", "campaign_id": "cmp-1"})
    (record,) = emf_records(capsys.readouterr().out)
    assert record["Journey"] == "cmp-1"
    monkeypatch.setenv("METRICS_PER_JOURNEY", "false")
    publish_outcomes([result("p-1", "SMS", "DELIVERED")], {"source": "connect", "campaign_id": "cmp-1"})
    (record,) = emf_records(capsys.readouterr().out)
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Channel", "service"], ["service"]]
    assert "Journey" not in record


def test_the_compile_step_publishes_them(capsys, monkeypatch, fake_aws):
    boto3.client("dynamodb").create_table(TableName="ledger-telemetry", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    monkeypatch.setenv("LEDGER_TABLE", "ledger-telemetry")
    from journey_activity import aws
    from journey_activity.config import reset_settings_cache
    from journey_activity.handlers import _runtime
    from journey_activity.handlers import compile as compile_handler

    reset_settings_cache()
    _runtime.reset()
    event = {
        "context": {"batch_id": "b-telemetry", "source": "pinpoint", "journey_id": "journey-2"},
        "sendable": [{"endpoint_id": "s-1", "channel": "SMS"}, {"endpoint_id": "s-2", "channel": "SMS"}],
        "sent": [{"endpoint_id": "s-1", "channel": "SMS", "status": "DELIVERED", "attempts": 1},
                 {"endpoint_id": "s-2", "channel": "SMS", "status": "FAILED", "reason": "bounced", "attempts": 1}],
        "skipped": [{"endpoint_id": "e-1", "channel": "EMAIL", "status": "SKIPPED", "reason": "opted_out"}],
    }
    context = SimpleNamespace(function_name="CompileFunction", memory_limit_in_mb=256, aws_request_id="r-1",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:CompileFunction")
    try:
        output = compile_handler.handler(event, context)
    finally:
        reset_settings_cache()
        _runtime.reset()
        aws.reset_clients()
    records = emf_records(capsys.readouterr().out)
    email, sms = [record for record in records if "Channel" in record]
    assert (sms["Channel"], sms["OutcomeDelivered"], sms["OutcomeFailed"], sms["Journey"]) == \
        ("SMS", [1.0], [1.0], "journey-2")
    assert (email["Channel"], email["OutcomeSkipped"]) == ("EMAIL", [1.0])
    # The same task reports the outcomes: here no bus is named (EVENT_BUS_NAME), so its three events
    # are refused, counted and in the output, and the outcomes stand.
    (reported,) = [record for record in records if "EventsRejected" in record]
    assert (reported["EventsReported"], reported["EventsRejected"]) == ([0.0], [3.0])
    assert output["report"]["outcome"]["rejected_count"] == 3
    assert [r["status"] for r in output["results"]] == ["SKIPPED", "DELIVERED", "FAILED"]


def test_a_recorded_failure_is_counted_per_channel(capsys, monkeypatch, fake_aws):
    boto3.client("dynamodb").create_table(TableName="ledger-telemetry", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    monkeypatch.setenv("LEDGER_TABLE", "ledger-telemetry")
    from journey_activity import aws
    from journey_activity.config import reset_settings_cache
    from journey_activity.handlers import _runtime, record_outcome

    reset_settings_cache()
    _runtime.reset()
    event = {"context": {"batch_id": "b-2", "source": "pinpoint"},
             "recipient": {"endpoint_id": "v-1", "channel": "VOICE"},
             "error": {"Error": "States.HeartbeatTimeout", "Cause": ""}}
    context = SimpleNamespace(function_name="RecordOutcomeFunction", memory_limit_in_mb=256, aws_request_id="r-2",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:RecordOutcome")
    try:
        record_outcome.handler(event, context)
    finally:
        reset_settings_cache()
        _runtime.reset()
        aws.reset_clients()
    (record,) = emf_records(capsys.readouterr().out)
    # The shared Metrics object's service comes from the environment at import (Lambda's order); here
    # an earlier test may have imported it first, so only the channel is asserted.
    assert "Channel" in record["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert record["Channel"] == "VOICE"
    assert record["EndpointsTimedOut"] == [1.0]
