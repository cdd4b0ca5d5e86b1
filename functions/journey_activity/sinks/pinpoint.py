"""Engagement events to Amazon Pinpoint with ``put_events`` (``REPORT_SINK=pinpoint``).

An event becomes ``<prefix>.<outcome>`` with the trigger's ids and the outcome as attributes.
Requests carry at most 100 events; attribute keys are cut to 50 characters and values to 200
(a longer value would make Pinpoint drop the event), at most 40 keys an event. The answer is
per event, so a partial failure is normal: it is accounted for, never raised. A batch without
an ``ApplicationId`` (one a Pinpoint journey did not start) has nowhere to go here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from journey_activity.aws import Backoff, retry_with
from journey_activity.sinks.events import EngagementEvent, ReportOutcome

MAX_EVENTS_PER_REQUEST = 100
MAX_KEYS_PER_EVENT = 40
MAX_KEY_CHARS = 50
MAX_VALUE_CHARS = 200
# Shown as attributes (the rest of an event is its type, timestamp and metrics).
_ATTRIBUTE_FIELDS = ("channel", "provider", "provider_message_id", "status", "reason", "receipt_status")


def _attributes(values: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "" or len(attributes) >= MAX_KEYS_PER_EVENT:
            continue
        attributes[key[:MAX_KEY_CHARS]] = str(value)[:MAX_VALUE_CHARS]
    return attributes


def body(event: EngagementEvent, prefix: str) -> dict[str, Any]:
    """The event as Pinpoint's ``Event`` object."""
    ids = {key: value for key, value in event.trigger.items() if key not in ("source", "application_id")}
    values = {**ids, **{key: event.fields.get(key) for key in _ATTRIBUTE_FIELDS}}
    attempts = event.fields.get("attempts")
    return {
        "EventType": f"{prefix}.{event.outcome}",
        "Timestamp": event.timestamp,
        "Attributes": _attributes(values),
        "Metrics": {"attempts": float(attempts)} if attempts is not None else {},
    }


def chunks(events: Iterable[EngagementEvent], size: int = MAX_EVENTS_PER_REQUEST) -> Iterator[list[EngagementEvent]]:
    """The events in requests of at most ``size``."""
    chunk: list[EngagementEvent] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# A request throttled past the SDK's retries is tried this many times in all, pausing up to 0.2 s,
# then twice as long each time (the finalizer's and a late receipt's report).
DEFAULT_BACKOFF = Backoff(attempts=4, first_pause=0.2)


def put_events(pinpoint: Any, application_id: str, events: list[EngagementEvent], prefix: str,
               outcome: ReportOutcome, backoff: Backoff = DEFAULT_BACKOFF) -> None:
    """Send ≤ 100 events in one request (tried again as ``backoff`` allows while it is
    throttled) and account for each event's answer."""
    batch: dict[str, Any] = {}
    for event in events:
        item = batch.setdefault(event.endpoint_id, {"Endpoint": {}, "Events": {}})
        item["Events"][event.event_id] = body(event, prefix)
    def retried() -> None:
        outcome.retried += len(events)

    try:
        # Throttled past the SDK's retries: nothing of it was accepted, so this request alone is
        # sent again (a retry of the invocation would repeat the requests already accepted).
        response = retry_with(
            lambda: pinpoint.put_events(ApplicationId=application_id, EventsRequest={"BatchItem": batch}),
            backoff, on_retry=retried)
    except Exception as error:
        outcome.request_errors.append(f"{type(error).__name__}: {error}"[:500])
        for event in events:
            outcome.reject(event, None, "the request failed")
        return
    results = response.get("EventsResponse", {}).get("Results", {})
    for event in events:
        answer = results.get(event.endpoint_id, {}).get("EventsItemResponse", {}).get(event.event_id, {})
        if answer.get("StatusCode") == 202:
            outcome.accepted += 1
        else:
            outcome.reject(event, answer.get("StatusCode"), str(answer.get("Message", "no answer for this event")))


class PinpointSink:
    """``put_events`` to the batch's Pinpoint project, at most 100 events a request; a batch that a
    Pinpoint journey did not start has no project, so its events are refused."""

    name = "pinpoint"

    def __init__(self, client: Any, prefix: str, *, backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.client = client
        self.prefix = prefix
        self.backoff = backoff

    def send(self, events: list[EngagementEvent], outcome: ReportOutcome) -> None:
        by_application: dict[str, list[EngagementEvent]] = {}
        for event in events:
            application_id = event.trigger.get("application_id")
            if not application_id:
                outcome.reject(event, None, "no ApplicationId: only a Pinpoint-started batch can report to Pinpoint")
                continue
            by_application.setdefault(application_id, []).append(event)
        if any(not event.trigger.get("application_id") for event in events):
            outcome.request_errors.append("the batch has no ApplicationId; not reported to Pinpoint")
        for application_id, group in by_application.items():
            for chunk in chunks(group):
                put_events(self.client, application_id, chunk, self.prefix, outcome, self.backoff)
