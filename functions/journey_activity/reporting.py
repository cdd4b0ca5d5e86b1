"""Engagement events back to Pinpoint with ``put_events``.

Each endpoint's outcome becomes events ``<prefix>.sent`` (when the provider accepted it)
and one of ``<prefix>.delivered|failed|skipped|timed_out|pending``. Requests carry at most
100 events; attribute keys are cut to 50 characters and values to 200 (a longer value
would make Pinpoint drop the event). The answer is per event, so a partial failure is
normal: it is returned and logged, never raised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from journey_activity.ledger import now_iso
from journey_activity.models.batch import BatchContext, EndpointResult, Status

MAX_EVENTS_PER_REQUEST = 100
MAX_KEYS_PER_EVENT = 40
MAX_KEY_CHARS = 50
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Event:
    endpoint_id: str
    event_id: str
    body: dict[str, Any]


@dataclass
class ReportOutcome:
    requested: int = 0
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    request_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "accepted": self.accepted,
            "rejected": self.rejected[:20],
            "rejected_count": len(self.rejected),
            "request_errors": self.request_errors[:5],
        }


def _attributes(values: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "" or len(attributes) >= MAX_KEYS_PER_EVENT:
            continue
        attributes[key[:MAX_KEY_CHARS]] = str(value)[:MAX_VALUE_CHARS]
    return attributes


def events_for(context: BatchContext, result: EndpointResult, prefix: str) -> list[Event]:
    """The events that tell Pinpoint what happened to one endpoint."""
    common = {
        "batch_id": context.batch_id,
        "journey_id": context.journey_id,
        "campaign_id": context.campaign_id,
        "activity_id": context.activity_id,
        "treatment_id": context.treatment_id,
        "channel": result.channel,
        "provider": result.provider,
        "provider_message_id": result.provider_message_id,
    }
    outcome = result.journey_status
    stages: list[tuple[str, str | None]] = []
    if result.provider_message_id:
        stages.append(("sent", result.sent_at))
    stages.append((outcome.value.lower(), result.finished_at))
    events = []
    for stage, timestamp in stages:
        event_id = hashlib.sha256(f"{context.batch_id}/{result.endpoint_id}/{stage}".encode()).hexdigest()[:32]
        attributes = dict(common)
        if stage != "sent":
            attributes.update(
                {"status": outcome.value, "reason": result.reason, "receipt_status": result.receipt_status}
            )
        body = {
            "EventType": f"{prefix}.{stage}",
            "Timestamp": timestamp or now_iso(),
            "Attributes": _attributes(attributes),
            "Metrics": {"attempts": float(result.attempts)} if stage != "sent" else {},
        }
        events.append(Event(result.endpoint_id, event_id, body))
    return events


def late_receipt_event(record: dict[str, Any], receipt_status: str, prefix: str) -> Event:
    """A receipt that came after the endpoint's wait ended (timed out, or its execution
    ended): reported on its own as ``<prefix>.late_delivered`` / ``.late_failed``."""
    outcome = "delivered" if receipt_status.strip().lower() in ("delivered", "read", "opened", "clicked") else "failed"
    batch_id, endpoint_id = str(record.get("pk", "")), str(record.get("sk", ""))
    attributes = {
        "batch_id": batch_id,
        "journey_id": record.get("journey_id"),
        "campaign_id": record.get("campaign_id"),
        "activity_id": record.get("activity_id"),
        "channel": record.get("channel"),
        "provider": record.get("provider"),
        "provider_message_id": record.get("provider_message_id"),
        "status": record.get("status"),
        "receipt_status": receipt_status,
    }
    event_id = hashlib.sha256(f"{batch_id}/{endpoint_id}/late".encode()).hexdigest()[:32]
    body = {"EventType": f"{prefix}.late_{outcome}", "Timestamp": now_iso(), "Attributes": _attributes(attributes)}
    return Event(endpoint_id, event_id, body)


def chunks(events: Iterable[Event], size: int = MAX_EVENTS_PER_REQUEST) -> Iterator[list[Event]]:
    chunk: list[Event] = []
    for event in events:
        chunk.append(event)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def put_events(pinpoint: Any, application_id: str, events: list[Event], outcome: ReportOutcome) -> None:
    """Send ≤ 100 events in one request and account for each event's answer."""
    batch: dict[str, Any] = {}
    for event in events:
        item = batch.setdefault(event.endpoint_id, {"Endpoint": {}, "Events": {}})
        item["Events"][event.event_id] = event.body
    outcome.requested += len(events)
    try:
        response = pinpoint.put_events(ApplicationId=application_id, EventsRequest={"BatchItem": batch})
    except Exception as error:
        outcome.request_errors.append(f"{type(error).__name__}: {error}"[:500])
        outcome.rejected.extend({"endpoint_id": e.endpoint_id, "event": e.body["EventType"], "status": None}
                                for e in events)
        return
    results = response.get("EventsResponse", {}).get("Results", {})
    for event in events:
        answer = results.get(event.endpoint_id, {}).get("EventsItemResponse", {}).get(event.event_id, {})
        if answer.get("StatusCode") == 202:
            outcome.accepted += 1
        else:
            outcome.rejected.append(
                {
                    "endpoint_id": event.endpoint_id,
                    "event": event.body["EventType"],
                    "status": answer.get("StatusCode"),
                    "message": str(answer.get("Message", "no answer for this event"))[:200],
                }
            )


def report(
    pinpoint: Any, context: BatchContext, results: Iterable[EndpointResult], prefix: str
) -> ReportOutcome:
    outcome = ReportOutcome()
    if not context.application_id:
        outcome.request_errors.append("the batch has no ApplicationId; nothing reported")
        return outcome
    events = [event for result in results for event in events_for(context, result, prefix)]
    for chunk in chunks(events):
        put_events(pinpoint, context.application_id, chunk, outcome)
    return outcome


__all__ = ["Status", "report"]
