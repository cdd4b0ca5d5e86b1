"""Timeouts, concurrency and throttling as deployed: what the template and the ASL promise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from journey_activity.config import HttpProviderConfig
from journey_activity.handlers.send import AFTER_SEND_SECONDS
from journey_activity.providers import http
from tests.lint.test_template import asl_files, parsed_template

pytestmark = pytest.mark.lint

LAMBDA_SERVICE_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}


def _function(template: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(template["Resources"][name]["Properties"])


def _timeout(template: dict[str, Any], name: str) -> int:
    return int(_function(template, name).get("Timeout", template["Globals"]["Function"]["Timeout"]))


def test_the_sender_outlives_its_worst_case_provider_call():
    """timeout_seconds at its maximum, every checked address refusing after the connect timeout,
    then the ledger writes after the send: all within the sender's Timeout."""
    template = parsed_template()
    slowest = HttpProviderConfig.model_fields["timeout_seconds"].metadata
    most = max(getattr(item, "le", 0) or 0 for item in slowest)
    worst_call = http._MAX_ADDRESSES * min(3.0, most) + most
    assert worst_call + AFTER_SEND_SECONDS <= _timeout(template, "SendFunction")


@pytest.mark.parametrize("function", ["EmailSendFunction", "SmsVoiceSendFunction", "PushSendFunction"])
def test_each_aws_provider_sender_outlives_its_worst_case_sdk_call(function):
    """One attempt (no SDK retries): the connect timeout, then timeout_seconds at its maximum,
    then the ledger writes. A generic HTTP provider on these channels is bounded by the
    invocation's remaining time (send_deadline), as the unit tests of the deadline show."""
    from journey_activity.config import (
        SDK_CONNECT_TIMEOUT_SECONDS,
        SDK_TIMEOUT_MAX_SECONDS,
        PushProviderConfig,
        SesProviderConfig,
        SmsVoiceProviderConfig,
    )

    for model in (SesProviderConfig, SmsVoiceProviderConfig, PushProviderConfig):
        limits = model.model_fields["timeout_seconds"].metadata
        assert max(getattr(item, "le", 0) or 0 for item in limits) == SDK_TIMEOUT_MAX_SECONDS
    worst_call = SDK_CONNECT_TIMEOUT_SECONDS + SDK_TIMEOUT_MAX_SECONDS
    assert worst_call + AFTER_SEND_SECONDS <= _timeout(parsed_template(), function)


def test_the_invoker_and_the_callback_reserve_concurrency_only_when_asked():
    """Lambda keeps 100 of the account's concurrency unreserved: a default reservation fails the
    deploy on accounts with a reduced quota. 0 (the default) reserves none (AWS::NoValue)."""
    template = parsed_template()
    for name, parameter, condition in (("InvokerFunction", "InvokerReservedConcurrency", "ReserveInvokerConcurrency"),
                                       ("CallbackFunction", "CallbackReservedConcurrency",
                                        "ReserveCallbackConcurrency")):
        reserved = _function(template, name)["ReservedConcurrentExecutions"]
        assert reserved == {"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}, reserved
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
        assert int(template["Parameters"][parameter]["Default"]) == 0
        assert "N + 100" in template["Parameters"][parameter]["Description"] or parameter.startswith("Callback")


def test_the_invoker_answers_each_trigger_in_its_time_on_a_cold_start():
    """Connect documents 30 s; Pinpoint's journey is assumed to wait 15 s. On a cold start the
    invoker's deadline counts from the start of its imports (tests/unit/test_invoker_deadline.py),
    so at any InvokerMemorySize the longest deadline + compiling (1 s) + Lambda's own start before
    the imports (0.5 s) fit in each; the longest deadline + compiling fit in the function's
    timeout, which itself fits Connect's 30 s."""
    template = parsed_template()
    invoker = _function(template, "InvokerFunction")
    assert invoker["MemorySize"] == {"Ref": "InvokerMemorySize"}
    assert int(template["Parameters"]["InvokerMemorySize"]["MinValue"]) >= 256
    timeout = _timeout(template, "InvokerFunction")
    assert timeout < 30
    for parameter, limit in (("ConnectDeadlineSeconds", 30), ("PinpointDeadlineSeconds", 15)):
        longest = int(template["Parameters"][parameter]["MaxValue"])
        assert longest + 1 + 0.5 < limit, parameter
        assert longest + 1 < timeout, parameter
    variables = invoker["Environment"]["Variables"]
    assert variables["CONNECT_DEADLINE_SECONDS"] == {"Ref": "ConnectDeadlineSeconds"}
    assert variables["PINPOINT_DEADLINE_SECONDS"] == {"Ref": "PinpointDeadlineSeconds"}


def test_the_receipt_api_is_throttled_at_the_stage():
    settings = _function(parsed_template(), "ReceiptsApi")["DefaultRouteSettings"]
    assert set(settings) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}


def _tasks(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in states.items():
        if state["Type"] == "Task":
            found.append((name, state))
        if state["Type"] == "Map":
            found.extend(_tasks(state["ItemProcessor"]["States"]))
    return found


def test_throttled_lambda_invocations_get_a_longer_retry_than_other_service_errors():
    for path in asl_files():
        for name, task in _tasks(json.loads(path.read_text())["States"]):
            retriers = {tuple(r["ErrorEquals"]): r for r in task.get("Retry", [])}
            throttled = retriers[("Lambda.TooManyRequestsException",)]
            service = next(r for errors, r in retriers.items() if set(errors) >= LAMBDA_SERVICE_ERRORS)
            assert throttled["MaxAttempts"] > service["MaxAttempts"], name
            assert throttled["IntervalSeconds"] >= service["IntervalSeconds"], name
            assert throttled["JitterStrategy"] == "FULL", name
            assert throttled["MaxDelaySeconds"] <= 60, name
