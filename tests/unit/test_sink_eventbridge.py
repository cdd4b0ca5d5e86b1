"""The EventBridge sink: at most 10 entries and 256 KB a request (entry size as EventBridge
computes it), failed entries retried with backoff then logged, no personal data in an event."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest

from journey_activity.models.batch import BatchContext, EndpointResult, LedgerStatus, Status
from journey_activity.sinks.eventbridge import (
    DEFAULT_BACKOFF,
    MAX_ENTRIES_PER_REQUEST,
    MAX_REQUEST_BYTES,
    EventBridgeSink,
    entry_for,
    entry_size,
)
from journey_activity.sinks.events import (
    EngagementEvent,
    ReportOutcome,
    engagement_events,
    late_receipt_event,
    trigger_ids,
)

BUS = "journey-activity-test-engagement"
SOURCE = "journey_activity"


class RecordingEvents:
    """A PutEvents port fake answering as EventBridge does: one answer per entry, in order, and
    ``FailedEntryCount``. ``failures[(endpoint_id, detail_type)]`` lists the error codes the next
    attempts get (then it succeeds)."""

    def __init__(self, failures: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.failures = {key: list(codes) for key, codes in (failures or {}).items()}

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        assert 1 <= len(Entries) <= MAX_ENTRIES_PER_REQUEST
        assert sum(entry_size(entry) for entry in Entries) <= MAX_REQUEST_BYTES
        self.requests.append(Entries)
        answers = []
        for index, entry in enumerate(Entries):
            key = (json.loads(entry["Detail"])["endpoint_id"], entry["DetailType"])
            codes = self.failures.get(key)
            if codes:
                code = codes.pop(0)
                answers.append({"ErrorCode": code, "ErrorMessage": f"{code} for entry {index}"})
            else:
                answers.append({"EventId": f"id-{len(self.requests)}-{index}"})
        return {"FailedEntryCount": sum(1 for a in answers if "ErrorCode" in a), "Entries": answers}

    def entries(self) -> list[dict[str, Any]]:
        return [entry for request in self.requests for entry in request]


def context(**overrides: Any) -> BatchContext:
    values: dict[str, Any] = {"batch_id": "pinpoint-abc", "source": "pinpoint", "application_id": "app-1",
                              "journey_id": "journey-1", "activity_id": "activity-1", "treatment_id": "0",
                              "template": "Hello {{User.UserAttributes.FirstName}}", "scheduled_time": "2024-01-01"}
    values.update(overrides)
    return BatchContext(**values)


def delivered(endpoint_id: str, **fields: Any) -> EndpointResult:
    values: dict[str, Any] = {"endpoint_id": endpoint_id, "channel": "SMS", "status": LedgerStatus.DELIVERED,
                              "provider": "http", "provider_message_id": f"msg-{endpoint_id}", "attempts": 1,
                              "receipt_status": "delivered", "sent_at": "2024-01-01T00:00:00.000Z",
                              "finished_at": "2024-01-01T00:00:05.000Z"}
    values.update(fields)
    return EndpointResult(**values)


def sink(client: Any, slept: list[float] | None = None, attempts: int = 4) -> EventBridgeSink:
    return EventBridgeSink(client, BUS, SOURCE, backoff=replace(DEFAULT_BACKOFF, attempts=attempts),
                           sleep=(slept.append if slept is not None else lambda _: None))


def send(client: Any, events: list[EngagementEvent], **options: Any) -> ReportOutcome:
    outcome = ReportOutcome(sink="eventbridge", requested=len(events))
    sink(client, **options).send(events, outcome)
    return outcome


# -- the events ----------------------------------------------------------------------------


def test_an_entry_names_the_bus_source_outcome_and_time():
    events = engagement_events(context(), [delivered("e1")], sent=True)
    sent, outcome = (entry_for(event, BUS, SOURCE) for event in events)
    assert (sent["EventBusName"], sent["Source"], sent["DetailType"]) == (BUS, SOURCE, "sent")
    assert outcome["DetailType"] == "delivered"
    assert outcome["Time"].isoformat() == "2024-01-01T00:00:05+00:00"
    detail = json.loads(outcome["Detail"])
    assert detail["trigger"] == {"batch_id": "pinpoint-abc", "source": "pinpoint", "application_id": "app-1",
                                 "journey_id": "journey-1", "activity_id": "activity-1", "treatment_id": "0"}
    assert detail["endpoint_id"] == "e1"
    assert (detail["channel"], detail["status"], detail["provider"]) == ("SMS", "DELIVERED", "http")
    assert (detail["sent_at"], detail["finished_at"]) == ("2024-01-01T00:00:00.000Z", "2024-01-01T00:00:05.000Z")
    assert detail["receipt_status"] == "delivered"


def test_trigger_ids_come_from_every_id_field_of_the_context():
    # A trigger's own ids (added to BatchContext by name) come along without changing the sink.
    ids = trigger_ids(context(campaign_id="c-1"))
    assert ids["campaign_id"] == "c-1"
    assert "template" not in ids
    assert "scheduled_time" not in ids


def test_no_personal_data_in_any_event():
    # The address, the message and a provider error that quotes the address never leave.
    address, message = "+15550001111", "Hello Alice, your code is 1234"
    result = delivered("e1", status=LedgerStatus.FAILED, reason="rejected",
                       error=f"provider refused {address}: {message}")
    record = {"pk": "pinpoint-abc", "sk": "e1", "address": address, "message": message, "channel": "SMS",
              "status": "TIMED_OUT", "error": f"bad {address}", "profile": {"FirstName": "Alice"}}
    client = RecordingEvents()
    send(client, [*engagement_events(context(template=message), [result], sent=True),
                  late_receipt_event(record, "delivered")])
    text = json.dumps(client.entries(), default=str)
    for secret in (address, "Alice", "1234", message):
        assert secret not in text
    assert len(client.entries()) == 3


# -- batching -------------------------------------------------------------------------------


def test_at_most_10_entries_a_request():
    client = RecordingEvents()
    events = engagement_events(context(), [delivered(f"e{i:02d}") for i in range(50)], sent=True)
    outcome = send(client, events)
    assert [len(request) for request in client.requests] == [10] * 10
    assert outcome.accepted == 100
    assert outcome.rejected == []
    assert outcome.retried == 0
    # In order, each event once.
    assert [json.loads(e["Detail"])["event_id"] for e in client.entries()] == [e.event_id for e in events]


def test_entry_size_is_computed_as_eventbridge_documents_it():
    entry = {"Source": "só", "DetailType": "dt", "Detail": '{"a":"€"}', "Resources": ["r1", "ré"]}
    assert entry_size(entry) == len("só".encode()) + 2 + len('{"a":"€"}'.encode()) + 2 + len("ré".encode())
    assert entry_size({**entry, "Time": 0}) == entry_size(entry) + 14


def test_a_request_is_cut_at_the_size_limit():
    # Entries of ~100 KB each (a provider's long message id): two fit in 256 KB, a third does not.
    results = [delivered(f"e{i}", provider_message_id="m" * 100_000, status=Status.SKIPPED) for i in range(5)]
    events = [e for e in engagement_events(context(), results, sent=True) if e.outcome == "sent"]
    client = RecordingEvents()
    outcome = send(client, events)
    assert [len(request) for request in client.requests] == [2, 2, 1]
    assert outcome.accepted == 5
    sizes = [sum(entry_size(entry) for entry in request) for request in client.requests]
    assert all(size <= MAX_REQUEST_BYTES for size in sizes)
    assert sizes[0] + entry_size(client.requests[1][0]) > MAX_REQUEST_BYTES


def test_an_entry_over_the_limit_alone_is_refused_not_sent():
    big = delivered("big", provider_message_id="m" * (MAX_REQUEST_BYTES + 1))
    event = engagement_events(context(), [big], sent=True)[0]
    client = RecordingEvents()
    outcome = send(client, [event])
    assert client.requests == []
    assert outcome.rejected[0]["status"] == "TooLarge"


# -- failures -------------------------------------------------------------------------------


def test_failed_entries_are_retried_with_backoff_until_accepted():
    client = RecordingEvents(failures={("e03", "delivered"): ["ThrottlingException", "InternalFailure"]})
    slept: list[float] = []
    events = engagement_events(context(), [delivered(f"e{i:02d}") for i in range(5)], sent=True)
    outcome = send(client, events, slept=slept)
    assert [len(request) for request in client.requests] == [10, 1, 1]  # only the failed entry again
    assert json.loads(client.requests[1][0]["Detail"])["endpoint_id"] == "e03"
    assert outcome.accepted == 10
    assert outcome.rejected == []
    assert outcome.retried == 2
    assert len(slept) == 2
    assert all(0 <= delay <= 1.0 for delay in slept)


def test_an_entry_failing_every_attempt_is_rejected_and_logged(monkeypatch, caplog):
    from journey_activity import reporting

    client = RecordingEvents(failures={("e01", "delivered"): ["ThrottlingException"] * 10})
    monkeypatch.setattr(reporting, "sink_for", lambda settings, backoff=None: sink(client, attempts=3))
    monkeypatch.setenv("EVENT_BUS_NAME", BUS)
    monkeypatch.setenv("REPORT_SENT_EVENTS", "true")
    from journey_activity.config import reset_settings_cache

    reset_settings_cache()
    with caplog.at_level(logging.WARNING, logger="journey_activity.reporting"):
        outcome = reporting.report(context(), [delivered("e00"), delivered("e01")])
    reset_settings_cache()
    assert len(client.requests) == 3  # the first request, then two retries of the one entry
    assert outcome.accepted == 3
    assert outcome.rejected == [{"endpoint_id": "e01", "event": "delivered", "status": "ThrottlingException",
                                 "message": "ThrottlingException for entry 0"}]  # alone in the last try
    (warning,) = [r for r in caplog.records if r.name == "journey_activity.reporting"]
    assert warning.rejected_count == 1  # type: ignore[attr-defined]


def test_a_permanent_error_is_not_retried():
    client = RecordingEvents(failures={("e00", "sent"): ["MalformedDetail"]})
    outcome = send(client, engagement_events(context(), [delivered("e00")], sent=True))
    assert len(client.requests) == 1
    assert outcome.accepted == 1
    assert outcome.rejected[0]["status"] == "MalformedDetail"
    assert outcome.retried == 0


def test_a_failing_request_is_recorded_not_raised():
    class Broken:
        calls = 0

        def put_events(self, **kwargs: Any) -> dict[str, Any]:
            Broken.calls += 1
            raise ConnectionError("endpoint unreachable")

    outcome = send(Broken(), engagement_events(context(), [delivered(f"e{i}") for i in range(6)], sent=True))
    assert Broken.calls == 2
    assert outcome.accepted == 0
    assert len(outcome.rejected) == 12
    assert outcome.request_errors == ["ConnectionError: endpoint unreachable"] * 2


# -- against moto's EventBridge (the real service model) -------------------------------------


@pytest.mark.usefixtures("fake_aws")
def test_entries_are_accepted_by_eventbridge_and_routed():
    import boto3

    from journey_activity_local.engine.event_bus import LocalEventBus

    bus = LocalEventBus(BUS, "123456789012").create()
    events = engagement_events(context(), [delivered(f"e{i:02d}") for i in range(12)], sent=True)
    outcome = send(boto3.client("events"), events)
    assert outcome.accepted == 24
    assert outcome.rejected == []
    received = bus.events()
    assert len(received) == 24
    assert {event["source"] for event in received} == {SOURCE}
    assert sorted({event["detail-type"] for event in received}) == ["delivered", "sent"]
    assert {event["detail"]["trigger"]["journey_id"] for event in received} == {"journey-1"}


@pytest.mark.usefixtures("fake_aws")
def test_the_local_eventbridge_refuses_a_request_over_256_kb():
    import boto3
    from botocore.exceptions import ClientError

    from journey_activity_local.engine.event_bus import LocalEventBus

    LocalEventBus(BUS, "123456789012").create()
    entry = {"EventBusName": BUS, "Source": SOURCE, "DetailType": "sent",
             "Detail": json.dumps({"x": "y" * 100_000})}
    with pytest.raises(ClientError, match="over the limit"):
        boto3.client("events").put_events(Entries=[entry, entry, entry])


def test_one_outcome_event_per_endpoint_unless_sent_events_are_asked_for():
    results = [delivered("e1"), delivered("e2", status=LedgerStatus.FAILED)]
    assert [(e.endpoint_id, e.outcome) for e in engagement_events(context(), results)] == [
        ("e1", "delivered"), ("e2", "failed")]
    assert [(e.endpoint_id, e.outcome) for e in engagement_events(context(), results, sent=True)] == [
        ("e1", "sent"), ("e1", "delivered"), ("e2", "sent"), ("e2", "failed")]
