"""A batch's report, made by the task that compiles it: throttling tried again as the former Report
state's Retry did (within the invocation's time), and never an error out of it (``report`` or
``report_error`` in the output, as the former Report state's ResultPath and Catch gave them)."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from journey_activity import reporting
from journey_activity.aws import Backoff, retry_with
from journey_activity.models.batch import EndpointResult, LedgerStatus
from journey_activity.sinks.eventbridge import DEFAULT_BACKOFF, EventBridgeSink
from journey_activity.sinks.events import ReportOutcome, engagement_events
from journey_activity.sinks.pinpoint import PinpointSink

CONTEXT = {"batch_id": "connect-abc", "source": "connect", "campaign_id": "cmp-1"}
RESULTS = [EndpointResult(endpoint_id=f"p-{i}", channel="SMS", status=LedgerStatus.DELIVERED) for i in range(3)]


def throttled(operation: str = "PutEvents") -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


class ThrottledEvents:
    """PutEvents throttled past the SDK's retries ``times`` times, then accepted."""

    def __init__(self, times: int) -> None:
        self.times, self.calls = times, 0

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        if self.calls <= self.times:
            raise throttled()
        return {"FailedEntryCount": 0, "Entries": [{"EventId": f"id-{i}"} for i in range(len(Entries))]}


def put(client: Any, backoff: Backoff, slept: list[float]) -> ReportOutcome:
    events = engagement_events(reporting.BatchContext.model_validate(CONTEXT), RESULTS)
    outcome = ReportOutcome(sink="eventbridge", requested=len(events))
    EventBridgeSink(client, "bus", "journey_activity", backoff=backoff, sleep=slept.append).send(events, outcome)
    return outcome


# -- the backoff ------------------------------------------------------------------------------


def test_the_batch_backoff_is_the_report_states_former_retry():
    """IntervalSeconds 1, MaxAttempts 6 (7 tries in all), BackoffRate 2, MaxDelaySeconds 20, full jitter."""
    assert Backoff(attempts=7, first_pause=1.0, rate=2.0, max_pause=20.0) == reporting.BATCH_BACKOFF
    random.seed(7)
    for failed, cap in enumerate([1, 2, 4, 8, 16, 20], start=1):
        pauses = [reporting.BATCH_BACKOFF.pause(failed) for _ in range(200)]
        assert all(p is not None and 0 <= p <= cap for p in pauses), failed
        assert max(p for p in pauses if p is not None) > cap / 2  # drawn over the whole range
    assert reporting.BATCH_BACKOFF.pause(7) is None  # the seventh try was the last


def test_no_pause_ends_past_the_deadline_and_no_try_starts_after_it():
    soon = Backoff(attempts=7, first_pause=10.0).until(time.monotonic() + 0.05)
    assert all((p or 0) <= 0.05 for p in (soon.pause(1) for _ in range(50)))
    assert Backoff(attempts=7, first_pause=1.0).until(time.monotonic() - 0.01).pause(1) is None


def test_retry_with_stops_at_a_non_throttling_error_or_when_the_backoff_says():
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        raise throttled() if len(calls) < 10 else ValueError("other")

    with pytest.raises(ClientError):
        retry_with(call, Backoff(attempts=3, first_pause=0.0), sleep=lambda _: None)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ValueError, match="other"):
        retry_with(call, Backoff(attempts=20, first_pause=0.0), sleep=lambda _: None)
    assert len(calls) == 10


# -- the sinks with it ------------------------------------------------------------------------


def test_eventbridge_tries_a_throttled_request_as_the_batch_backoff_allows():
    slept: list[float] = []
    outcome = put(ThrottledEvents(times=6), reporting.BATCH_BACKOFF, slept)
    assert (outcome.accepted, outcome.rejected, outcome.retried) == (3, [], 18)
    assert len(slept) == 6
    assert all(0 <= pause <= cap for pause, cap in zip(slept, [1, 2, 4, 8, 16, 20], strict=True))
    # The sink's own backoff (the finalizer's, a late receipt's) gives up after 4 tries.
    outcome = put(ThrottledEvents(times=6), DEFAULT_BACKOFF, [])
    assert (outcome.accepted, len(outcome.rejected)) == (0, 3)
    assert "ThrottlingException" in outcome.request_errors[0]


def test_eventbridge_stops_trying_at_the_deadline():
    client = ThrottledEvents(times=100)
    outcome = put(client, reporting.BATCH_BACKOFF.until(time.monotonic() - 0.01), [])
    assert client.calls == 1
    assert (outcome.accepted, len(outcome.rejected)) == (0, 3)


def test_pinpoint_tries_a_throttled_request_as_its_backoff_allows():
    class ThrottledPinpoint:
        calls = 0

        def put_events(self, **kwargs: Any) -> dict[str, Any]:
            ThrottledPinpoint.calls += 1
            if ThrottledPinpoint.calls <= 5:
                raise throttled()
            items = kwargs["EventsRequest"]["BatchItem"]
            return {"EventsResponse": {"Results": {endpoint: {"EventsItemResponse": {
                event_id: {"StatusCode": 202} for event_id in item["Events"]}} for endpoint, item in items.items()}}}

    events = engagement_events(reporting.BatchContext.model_validate({**CONTEXT, "application_id": "app-1"}), RESULTS)
    outcome = ReportOutcome(sink="pinpoint", requested=len(events))
    PinpointSink(ThrottledPinpoint(), "journey_activity", backoff=Backoff(attempts=7, first_pause=0.0)).send(
        events, outcome)
    assert (outcome.accepted, outcome.rejected, outcome.retried) == (3, [], 15)


# -- report_batch -----------------------------------------------------------------------------


@pytest.fixture
def settings(monkeypatch):
    from journey_activity.config import reset_settings_cache

    monkeypatch.setenv("EVENT_BUS_NAME", "bus")
    reset_settings_cache()
    yield monkeypatch
    reset_settings_cache()


def test_the_sinks_outcome_is_the_output_report(settings):
    client = ThrottledEvents(times=0)
    settings.setattr(reporting, "sink_for", lambda _, backoff=None: EventBridgeSink(client, "bus", "journey_activity",
                                                                                    backoff=backoff or DEFAULT_BACKOFF))
    done = reporting.report_batch(CONTEXT, RESULTS, deadline=time.monotonic() + 30)
    assert done.output() == {"report": {"outcome": {
        "reported": True, "sink": "eventbridge", "requested": 3, "accepted": 3, "retried": 0, "rejected": [],
        "rejected_count": 0, "request_errors": []}}}


def test_no_sink_is_a_report_that_says_so(settings):
    settings.setenv("REPORT_SINK", "none")
    from journey_activity.config import reset_settings_cache

    reset_settings_cache()
    assert reporting.report_batch(CONTEXT, RESULTS).output() == {
        "report": {"outcome": {"reported": False, "why": "REPORT_SINK is none"}}}


def test_a_report_that_cannot_be_made_is_report_error_shaped_as_a_catch_gives_it(settings):
    settings.setenv("REPORT_SINK", "kafka")
    from journey_activity.config import reset_settings_cache

    reset_settings_cache()
    output = reporting.report_batch(CONTEXT, RESULTS, deadline=time.monotonic() + 30, request_id="req-1").output()
    assert list(output) == ["report_error"]
    assert output["report_error"]["Error"] == "ConfigurationError"
    cause = json.loads(output["report_error"]["Cause"])
    assert (cause["errorType"], cause["requestId"]) == ("ConfigurationError", "req-1")
    assert "REPORT_SINK" in cause["errorMessage"]
    assert any("reporting.py" in frame for frame in cause["stackTrace"])
    # A batch context the report cannot read is caught too.
    output = reporting.report_batch({"source": "connect"}, RESULTS).output()
    assert output["report_error"]["Error"] == "ValidationError"


def test_a_sink_that_hangs_is_given_up_at_the_deadline(settings):
    release = threading.Event()

    class Hanging:
        name = "eventbridge"

        def send(self, events: Any, outcome: ReportOutcome) -> None:
            release.wait(10)

    settings.setattr(reporting, "sink_for", lambda _, backoff=None: Hanging())
    try:
        done = reporting.report_batch(CONTEXT, RESULTS, deadline=time.monotonic() + 0.2, request_id="req-2")
    finally:
        release.set()
    assert done.error is not None
    assert done.error["Error"] == "ReportTimedOut"
    assert json.loads(done.error["Cause"])["requestId"] == "req-2"
    assert list(done.output()) == ["report_error"]


def test_the_deadline_leaves_the_answer_its_second():
    before = time.monotonic()
    deadline = reporting.report_deadline(30_000)
    assert before + 30 - reporting.ANSWER_SECONDS <= deadline <= time.monotonic() + 30 - reporting.ANSWER_SECONDS
    assert reporting.report_deadline(500) <= time.monotonic()
