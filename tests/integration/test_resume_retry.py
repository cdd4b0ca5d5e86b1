"""A throttled resume on the real state machine: the callback's SendTaskSuccess fails once with
ThrottlingException, the callback answers 500, the provider stand-in retries the receipt, and
that retry resumes the waiting task (it does not wait out its heartbeat)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from .conftest import endpoint, event_with

pytestmark = pytest.mark.integration


def test_the_providers_retry_of_a_receipt_resumes_a_task_whose_resume_was_throttled(make_local, invoke):
    # The heartbeat is far beyond the test: only a resume ends the task.
    local = make_local(receipt_timeout_seconds=600, receipt_heartbeat_seconds=300)
    throttled: list[bool] = []

    def throttle_once(**_: Any) -> Any:
        if throttled:
            return None
        throttled.append(True)
        # What reaches the callback once botocore's own retries ran out.
        return (AWSResponse("https://states.invalid", 400, {}, None),
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})

    # The callback runs in this process (the local Lambda endpoint) and shares this client.
    local.client("stepfunctions").meta.events.register("before-call.states.SendTaskSuccess", throttle_once)
    run = invoke(local, event_with({"ep": endpoint("SMS", "+14155550123")}))
    run.finish(timeout=120)  # SUCCEEDED, long before the heartbeat

    assert throttled, "the first resume was not throttled"
    types = [event["type"] for event in run.history()]
    assert "TaskSucceeded" in types
    assert "TaskTimedOut" not in types
    [receipt] = [r for r in local.provider.receipts if r["status"] == "delivered"]
    assert receipt["outcomes"] == [500, 200]  # the throttled attempt, then the retry that resumed
    record = run.ledger()["ep"]
    assert record["status"] == "DELIVERED"
    assert "resumed_at" in record
    assert len(local.provider.sends) == 1
