"""The dashboard and alarms in template.yaml watch the metrics the code emits, and nothing else."""

from __future__ import annotations

import json
import re

import pytest

from journey_activity.telemetry import STATUS_METRICS
from tests.lint.test_template import parsed_template

pytestmark = pytest.mark.lint


def dashboard_body() -> dict:
    """The DashboardBody with every ${...} placeholder filled, parsed as the console would."""
    body, variables = parsed_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name in re.findall(r"\$\{([A-Za-z0-9:.]+)\}", body):
        assert name in variables or name.startswith("AWS::") or name in parsed_template()["Resources"] \
            or name in parsed_template()["Parameters"], name
    return json.loads(re.sub(r"\$\{[A-Za-z0-9:.]+\}", "1", body))


def expressions(body: dict) -> list[str]:
    return [metric[0]["expression"] for widget in body["widgets"] for metric in widget.get("properties", {})
            .get("metrics", []) if isinstance(metric[0], dict)]


def test_the_dashboard_shows_each_outcome_and_the_receipt_latency_per_channel():
    searched = " ".join(expressions(dashboard_body()))
    open_statuses = ("PENDING", "SENT")  # never counted once a batch is reported: every endpoint is final
    for name in (*(STATUS_METRICS[s] for s in STATUS_METRICS if s.value not in open_statuses), "SecondsToReceipt"):
        assert f'{{JourneyActivity,Channel,service}} MetricName="{name}"' in searched, name
    assert "'p50'" in searched
    assert "'p95'" in searched
    assert "{JourneyActivity,Channel,Journey}" in searched  # per journey or campaign


def test_the_dashboard_shows_refused_receipts_executions_and_dead_letters():
    plain = [metric[:2] for widget in dashboard_body()["widgets"] for metric in widget.get("properties", {})
             .get("metrics", []) if isinstance(metric[0], str)]
    assert ["JourneyActivity", "ReceiptsRefused"] in plain
    for name in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        assert ["AWS/States", name] in plain
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible"] in plain


def test_the_metrics_watched_are_the_ones_the_code_emits():
    """The alarms' own metric names and dimensions, against the telemetry module and the callback."""
    resources = parsed_template()["Resources"]
    globals_env = parsed_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["POWERTOOLS_METRICS_NAMESPACE"] == "JourneyActivity"
    assert globals_env["POWERTOOLS_SERVICE_NAME"] == "journey-activity"
    timed_out = resources["TimedOutEndpointsAlarm"]["Properties"]["Metrics"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in timed_out if "MetricStat" in m}
    assert names == {STATUS_METRICS[s] for s in STATUS_METRICS if s.value in ("TIMED_OUT", "DELIVERED", "FAILED")}
    refused = resources["RefusedReceiptsAlarm"]["Properties"]
    assert refused["MetricName"] == "ReceiptsRefused"
    from pathlib import Path

    callback = Path(__file__).resolve().parents[2] / "functions" / "journey_activity" / "handlers" / "callback.py"
    assert 'name="ReceiptsRefused"' in callback.read_text()


def test_every_alarm_notifies_the_optional_topic_and_the_dead_letter_alarm_needs_a_queue():
    resources = parsed_template()["Resources"]
    alarms = {name: r for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"ExecutionsFailedAlarm", "RefusedReceiptsAlarm", "TimedOutEndpointsAlarm",
                           "DeadLetterQueueAlarm", "ReceiptDeadLetterAlarm", "FinalizeDeadLetterAlarm",
                           "CallbackDeadLetterAlarm"}
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}],
                                                                  {"Ref": "AWS::NoValue"}]}
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
    assert alarms["DeadLetterQueueAlarm"]["Condition"] == "HasDeadLetterQueue"
    # The stack's own dead-letter queue (provider events) is always watched.
    assert alarms["ReceiptDeadLetterAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ReceiptDeadLetterQueue", "QueueName"]}}]
    # So is the callback queue's (receipts the receipts API queued).
    assert alarms["CallbackDeadLetterAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CallbackDeadLetterQueue", "QueueName"]}}]
