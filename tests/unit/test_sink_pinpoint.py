"""The Pinpoint sink (put_events): limits, batching, partial failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from journey_activity.models.batch import BatchContext, EndpointResult, LedgerStatus, Status
from journey_activity.sinks import events as neutral
from journey_activity.sinks.events import ReportOutcome, engagement_events
from journey_activity.sinks.pinpoint import (
    MAX_EVENTS_PER_REQUEST,
    MAX_KEY_CHARS,
    MAX_KEYS_PER_EVENT,
    MAX_VALUE_CHARS,
    PinpointSink,
    _attributes,
    body,
)

PREFIX = "journey_activity"


@dataclass(frozen=True)
class PinpointEvent:
    endpoint_id: str
    event_id: str
    body: dict[str, Any]


def events_for(batch: BatchContext, result: EndpointResult, prefix: str) -> list[PinpointEvent]:
    """One endpoint's events as the Pinpoint sink writes them."""
    return [PinpointEvent(e.endpoint_id, e.event_id, body(e, prefix))
            for e in neutral.events_for(batch, result, sent=True)]


def report(pinpoint: Any, batch: BatchContext, results: list[EndpointResult], prefix: str) -> ReportOutcome:
    events = engagement_events(batch, results, sent=True)
    outcome = ReportOutcome(sink="pinpoint", requested=len(events))
    PinpointSink(pinpoint, prefix).send(events, outcome)
    return outcome


class RecordingPinpoint:
    """A put_events port fake: records each request and answers like Pinpoint (202 or 400 per event)."""

    def __init__(self, reject: set[tuple[str, str]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reject = reject or set()  # (endpoint id, EventType) answered 400

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        results: dict[str, Any] = {}
        for endpoint_id, item in kwargs["EventsRequest"]["BatchItem"].items():
            answers = {}
            for event_id, event in item["Events"].items():
                if (endpoint_id, event["EventType"]) in self.reject:
                    answers[event_id] = {"StatusCode": 400, "Message": "Event attribute value is too long"}
                else:
                    answers[event_id] = {"StatusCode": 202, "Message": "Accepted"}
            results[endpoint_id] = {
                "EndpointItemResponse": {"StatusCode": 202, "Message": "Accepted"},
                "EventsItemResponse": answers,
            }
        return {"EventsResponse": {"Results": results}}

    def events_sent(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (endpoint_id, event_id, event)
            for request in self.requests
            for endpoint_id, item in request["EventsRequest"]["BatchItem"].items()
            for event_id, event in item["Events"].items()
        ]


class BrokenPinpoint:
    def __init__(self) -> None:
        self.calls = 0

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        raise ConnectionError("endpoint unreachable")


def context(**overrides: Any) -> BatchContext:
    values: dict[str, Any] = {
        "batch_id": "pinpoint-abc",
        "source": "pinpoint",
        "application_id": "app-1",
        "journey_id": "journey-1",
        "activity_id": "activity-1",
        "treatment_id": "0",
    }
    values.update(overrides)
    return BatchContext(**values)


def delivered(endpoint_id: str, **fields: Any) -> EndpointResult:
    values: dict[str, Any] = {
        "endpoint_id": endpoint_id,
        "channel": "SMS",
        "status": LedgerStatus.DELIVERED,
        "provider": "http",
        "provider_message_id": f"msg-{endpoint_id}",
        "attempts": 1,
        "receipt_status": "delivered",
        "sent_at": "2024-01-01T00:00:00.000Z",
        "finished_at": "2024-01-01T00:00:05.000Z",
    }
    values.update(fields)
    return EndpointResult(**values)


# -- events for one endpoint ----------------------------------------------------------------


def test_sent_event_only_with_a_provider_message_id():
    events = events_for(context(), delivered("e1"), PREFIX)
    assert [e.body["EventType"] for e in events] == ["journey_activity.sent", "journey_activity.delivered"]
    sent, outcome = events
    assert sent.body["Timestamp"] == "2024-01-01T00:00:00.000Z"
    assert outcome.body["Timestamp"] == "2024-01-01T00:00:05.000Z"
    assert sent.body["Attributes"]["provider_message_id"] == "msg-e1"
    assert "status" not in sent.body["Attributes"]
    assert outcome.body["Attributes"]["status"] == "DELIVERED"
    assert outcome.body["Attributes"]["receipt_status"] == "delivered"
    assert outcome.body["Metrics"] == {"attempts": 1.0}
    assert {e.endpoint_id for e in events} == {"e1"}
    assert sent.event_id != outcome.event_id


def test_skipped_endpoint_has_only_its_outcome():
    skipped = EndpointResult(endpoint_id="e2", channel="EMAIL", status=Status.SKIPPED, reason="opted_out")
    (event,) = events_for(context(), skipped, PREFIX)
    assert event.body["EventType"] == "journey_activity.skipped"
    assert event.body["Attributes"]["reason"] == "opted_out"
    assert event.body["Attributes"]["status"] == "SKIPPED"
    assert "provider_message_id" not in event.body["Attributes"]
    assert event.body["Timestamp"]  # now, when the result has no finish time


def test_outcome_event_uses_the_journey_status():
    (event,) = events_for(context(), EndpointResult(endpoint_id="e", channel="SMS", status="SENDING"), PREFIX)
    assert event.body["EventType"] == "journey_activity.pending"
    timed_out = delivered("e", status=LedgerStatus.TIMED_OUT)
    assert [e.body["EventType"] for e in events_for(context(), timed_out, "acme")] == ["acme.sent", "acme.timed_out"]


def test_event_ids_are_deterministic():
    first = events_for(context(), delivered("e1"), PREFIX)
    again = events_for(context(), delivered("e1"), PREFIX)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    other_batch = events_for(context(batch_id="pinpoint-other"), delivered("e1"), PREFIX)
    assert {e.event_id for e in first}.isdisjoint(e.event_id for e in other_batch)


def test_empty_attributes_are_left_out():
    (event,) = events_for(
        context(journey_id=None, campaign_id=None),
        EndpointResult(endpoint_id="e", channel="SMS", status=Status.FAILED, reason=""),
        PREFIX,
    )
    attributes = event.body["Attributes"]
    assert "journey_id" not in attributes
    assert "campaign_id" not in attributes
    assert "reason" not in attributes
    assert all(value for value in attributes.values())


def test_long_values_are_cut_to_200_characters():
    result = delivered("e1", reason="r" * 1000, provider_message_id="m" * 500, error="e" * 500)
    for event in events_for(context(batch_id="b" * 300), result, PREFIX):
        for key, value in event.body["Attributes"].items():
            assert len(key) <= MAX_KEY_CHARS
            assert len(value) <= MAX_VALUE_CHARS
        assert event.body["Attributes"]["batch_id"] == "b" * 200


def test_attribute_limits():
    values = {f"{i:03d}{'k' * 60}": "v" * 300 for i in range(60)}
    attributes = _attributes(values)
    assert len(attributes) == MAX_KEYS_PER_EVENT
    assert next(iter(attributes)) == "000" + "k" * 47
    assert all(len(key) <= MAX_KEY_CHARS for key in attributes)
    assert all(isinstance(value, str) and len(value) <= MAX_VALUE_CHARS for value in attributes.values())


def test_attribute_limits_keep_forty_distinct_keys():
    attributes = _attributes({f"key{i}": i for i in range(60)})
    assert attributes == {f"key{i}": str(i) for i in range(40)}


@given(
    st.text(min_size=1, max_size=400),
    st.none() | st.text(max_size=600),
    st.none() | st.text(max_size=600),
    st.sampled_from(list(LedgerStatus)),
)
def test_every_event_keeps_pinpoints_limits(batch_id, reason, message_id, status):
    result = EndpointResult(
        endpoint_id="e", channel="SMS", status=status, reason=reason, provider_message_id=message_id
    )
    for event in events_for(context(batch_id=batch_id), result, PREFIX):
        body = event.body
        assert body["EventType"].startswith(f"{PREFIX}.")
        assert body["Timestamp"]
        assert len(body["Attributes"]) + len(body["Metrics"]) <= MAX_KEYS_PER_EVENT
        assert all(len(k) <= MAX_KEY_CHARS for k in [*body["Attributes"], *body["Metrics"]])
        assert all(0 < len(v) <= MAX_VALUE_CHARS for v in body["Attributes"].values())


# -- report ---------------------------------------------------------------------------------


def test_report_batches_at_most_100_events_a_request():
    pinpoint = RecordingPinpoint()
    results = [delivered(f"e{i:02d}") for i in range(60)]

    outcome = report(pinpoint, context(), results, PREFIX)

    assert len(pinpoint.requests) == 2
    sizes = [
        sum(len(item["Events"]) for item in request["EventsRequest"]["BatchItem"].values())
        for request in pinpoint.requests
    ]
    assert sizes == [MAX_EVENTS_PER_REQUEST, 20]
    assert all(request["ApplicationId"] == "app-1" for request in pinpoint.requests)
    sent = pinpoint.events_sent()
    assert len(sent) == 120
    assert len({event_id for _, event_id, _ in sent}) == 120
    assert {endpoint_id for endpoint_id, _, _ in sent} == {f"e{i:02d}" for i in range(60)}
    for request in pinpoint.requests:
        for item in request["EventsRequest"]["BatchItem"].values():
            assert item["Endpoint"] == {}
    assert outcome.requested == 120
    assert outcome.accepted == 120
    assert outcome.rejected == []
    assert outcome.request_errors == []
    assert outcome.as_dict()["rejected_count"] == 0


def test_partial_failure_is_returned_not_raised():
    pinpoint = RecordingPinpoint(reject={("e07", "journey_activity.delivered")})
    results = [delivered(f"e{i:02d}") for i in range(60)]

    outcome = report(pinpoint, context(), results, PREFIX)

    assert outcome.requested == 120
    assert outcome.accepted == 119
    assert outcome.rejected == [
        {
            "endpoint_id": "e07",
            "event": "delivered",
            "status": 400,
            "message": "Event attribute value is too long",
        }
    ]
    assert outcome.request_errors == []
    assert outcome.as_dict()["rejected_count"] == 1


def test_a_missing_answer_counts_as_rejected():
    class Silent(RecordingPinpoint):
        def put_events(self, **kwargs: Any) -> dict[str, Any]:
            super().put_events(**kwargs)
            return {"EventsResponse": {"Results": {}}}

    outcome = report(Silent(), context(), [delivered("e1")], PREFIX)
    assert outcome.accepted == 0
    assert len(outcome.rejected) == 2


def test_a_raising_client_is_recorded_not_raised():
    pinpoint = BrokenPinpoint()
    outcome = report(pinpoint, context(), [delivered(f"e{i}") for i in range(60)], PREFIX)
    assert pinpoint.calls == 2
    assert outcome.requested == 120
    assert outcome.accepted == 0
    assert len(outcome.rejected) == 120
    assert outcome.request_errors == ["ConnectionError: endpoint unreachable"] * 2
    assert len(outcome.as_dict()["rejected"]) == 20


def test_no_application_id_sends_nothing():
    pinpoint = RecordingPinpoint()
    outcome = report(pinpoint, context(application_id=None), [delivered("e1")], PREFIX)
    assert pinpoint.requests == []
    assert outcome.accepted == 0
    assert len(outcome.rejected) == outcome.requested == 2
    assert outcome.request_errors
    assert "ApplicationId" in outcome.request_errors[0]


def test_no_results_sends_nothing():
    pinpoint = RecordingPinpoint()
    outcome = report(pinpoint, context(), [], PREFIX)
    assert pinpoint.requests == []
    assert outcome.as_dict() == {
        "sink": "pinpoint",
        "requested": 0,
        "retried": 0,
        "accepted": 0,
        "rejected": [],
        "rejected_count": 0,
        "request_errors": [],
    }
