"""The state "Compile and report the outcomes" on the real state machine: one task compiles the
batch, then reports it. The report never fails the batch: a sink that refuses every request or
cannot serve it, or a report that cannot be made at all, leaves every outcome as compiled and the
execution SUCCEEDED, with ``report`` (the sink's outcome) or ``report_error`` in its output as when
the report was a state of its own; a sink that throttles is tried again inside the function, the
task scheduled once."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from .conftest import Run, endpoint, event_with

pytestmark = pytest.mark.integration

STATE = "Compile and report the outcomes"
BATCH = {"a": endpoint("SMS", "+14155550123"), "b": endpoint("EMAIL", "b@example.com"),
         "c": endpoint("SMS", "+14155550125", OptOut="ALL")}
OUTCOMES = {"a": "DELIVERED", "b": "FAILED", "c": "SKIPPED"}


def _answer(code: str, status: int, left: list[int], **_: Any) -> Any:
    """PutEvents answered with ``code`` as botocore reports it once its own retries ran out, while
    ``left[0]`` allows (negative: always)."""
    if left[0] == 0:
        return None
    left[0] -= 1
    return (AWSResponse("https://events.invalid", status, {}, None),
            {"Error": {"Code": code, "Message": f"{code} (injected)"}, "ResponseMetadata": {"HTTPStatusCode": status}})


def _fail_put_events(code: str, status: int, times: int = -1) -> None:
    """A worker initializer: the EventBridge client every function makes answers its first ``times``
    PutEvents calls (every one when negative) with ``code`` (counted per execution environment; in
    these runs only the compile function puts events)."""
    from journey_activity import aws

    make = aws.client
    left = [times]

    def client(service: str) -> Any:
        made = make(service)
        if service == "events" and not getattr(made, "_failing_put_events", False):
            made.meta.events.register("before-call.events.PutEvents", functools.partial(_answer, code, status, left))
            made._failing_put_events = True
        return made

    aws.client = client  # type: ignore[assignment]


def check_outcomes_stand(run: Run, output: dict[str, Any]) -> None:
    """What the journey and the ledger have is the compiled outcome, and the one task ran once."""
    assert {e: run.status(e) for e in OUTCOMES} == OUTCOMES
    assert {e: r["status"] for e, r in run.ledger().items()} == OUTCOMES
    assert {r["endpoint_id"]: r["status"] for r in output["results"]} == OUTCOMES
    assert set(output["event_attributes"]) == set(OUTCOMES)
    history = run.history()
    entered = [e for e in history if e["type"] == "TaskStateEntered"
               and e["stateEnteredEventDetails"]["name"] == STATE]
    assert len(entered) == 1
    task = [e for e in history if e["id"] > entered[0]["id"] and e["type"].startswith("Task")
            and e["type"] not in ("TaskStateEntered", "TaskStateExited")]
    assert [e["type"] for e in task] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]


@pytest.mark.parametrize(("code", "status"), [("AccessDeniedException", 400), ("InternalFailure", 500)],
                         ids=["refused", "unavailable"])
def test_a_sink_that_refuses_or_fails_every_request_leaves_the_batch_as_compiled(make_local, invoke, code, status):
    local = make_local(behaviours={"b@example.com": "bounce"}, worker_initializers=[(_fail_put_events, (code, status))])
    run = invoke(local, event_with(BATCH))
    output = run.finish()  # SUCCEEDED
    check_outcomes_stand(run, output)
    outcome = output["report"]["outcome"]
    assert (outcome["reported"], outcome["sink"], outcome["accepted"], outcome["rejected_count"]) == (
        True, "eventbridge", 0, 3)
    assert len(outcome["request_errors"]) == 1
    assert code in outcome["request_errors"][0]
    assert outcome["retried"] == 0  # neither is throttling: not tried again
    assert "report_error" not in output
    assert local.event_bus.events() == []


def test_a_report_that_cannot_be_made_is_in_report_error_and_the_batch_stands(make_local, invoke):
    """REPORT_SINK refused by the report's settings (only the report reads them): no report at all.
    The output says why as the former Report state's Catch did, ``{"Error", "Cause"}``."""
    local = make_local(behaviours={"b@example.com": "bounce"}, environment={"REPORT_SINK": "kafka"})
    run = invoke(local, event_with(BATCH))
    output = run.finish()  # SUCCEEDED
    check_outcomes_stand(run, output)
    assert "report" not in output
    error = output["report_error"]
    assert set(error) == {"Error", "Cause"}
    assert error["Error"] == "ConfigurationError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "ConfigurationError"
    assert "REPORT_SINK" in cause["errorMessage"]
    assert cause["requestId"]
    assert local.event_bus.events() == []


def test_a_throttling_sink_is_tried_again_within_the_function(make_local, invoke):
    """Four PutEvents calls throttled past the SDK's retries: one more than the sink's default tries
    (the finalizer's), within the 7 the report's backoff allows (what the former Report state's Retry on
    AwsThrottled gave). Every event arrives, and the task is scheduled once."""
    local = make_local(behaviours={"b@example.com": "bounce"},
                       worker_initializers=[(_fail_put_events, ("ThrottlingException", 400, 4))])
    run = invoke(local, event_with(BATCH))
    output = run.finish(timeout=90)  # SUCCEEDED
    check_outcomes_stand(run, output)
    outcome = output["report"]["outcome"]
    assert (outcome["accepted"], outcome["rejected_count"], outcome["request_errors"]) == (3, 0, [])
    assert outcome["retried"] == 4 * 3  # the one request of three entries, throttled four times
    assert sorted((e["detail"]["endpoint_id"], e["detail-type"]) for e in local.event_bus.events()) == [
        ("a", "delivered"), ("b", "failed"), ("c", "skipped")]
