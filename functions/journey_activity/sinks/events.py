"""Engagement events, independent of where they are sent.

An endpoint's outcome becomes one event, ``delivered|failed|skipped|timed_out|pending``, and with
``REPORT_SENT_EVENTS`` a ``sent`` event before it (when the provider accepted the message); a
receipt after the wait ended becomes ``late_delivered`` / ``late_failed``. Each event carries the
trigger's ids, the endpoint (or profile) id, channel, status, reason, provider and timestamps, and
nothing personal: no address, no attribute value, no message, and not the provider's error text
(it may quote the address).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from journey_activity.ledger import now_iso
from journey_activity.models.batch import BatchContext, EndpointResult

DELIVERED_RECEIPTS = frozenset({"delivered", "read", "opened", "clicked"})


def _is_trigger_field(name: str) -> bool:
    """The batch context's ids (``batch_id``, ``journey_id``, a campaign's name, ...) and the
    trigger's name; not the template or the schedule."""
    return name == "source" or name.endswith(("_id", "_name"))


TRIGGER_FIELDS: tuple[str, ...] = tuple(name for name in BatchContext.model_fields if _is_trigger_field(name))


def trigger_ids(context: BatchContext) -> dict[str, str]:
    """Every id field of the batch's context that is set: new trigger fields come along by name."""
    values = context.model_dump(exclude_none=True)
    return {name: str(values[name]) for name in TRIGGER_FIELDS if values.get(name) not in (None, "")}


def trigger_ids_from_record(record: Mapping[str, Any]) -> dict[str, str]:
    """The same ids, from an endpoint's ledger record (its ``pk`` is the batch id)."""
    ids = {name: str(record[name]) for name in TRIGGER_FIELDS if record.get(name) not in (None, "")}
    if record.get("pk"):
        ids["batch_id"] = str(record["pk"])
    return ids


@dataclass(frozen=True)
class EngagementEvent:
    """What happened to one endpoint, the same for every sink. It holds no personal data."""

    event_id: str
    """Stable: the same outcome reported twice (a retried compile-and-report task) has the same id."""
    endpoint_id: str
    """The endpoint's id (Pinpoint) or the profile's id (Connect)."""
    outcome: str
    """``sent``, ``delivered``, ``failed``, ``skipped``, ``timed_out``, ``pending``, ``late_delivered``
    or ``late_failed``."""
    timestamp: str
    """ISO 8601, when it happened."""
    trigger: dict[str, str]
    """The batch context's ids (:func:`trigger_ids`)."""
    fields: dict[str, Any]
    """Channel, provider, the provider's message id, status, reason, receipt status, attempts and
    timestamps, as they apply to the outcome."""

    def detail(self) -> dict[str, Any]:
        """The event as one JSON object (EventBridge's ``Detail``)."""
        return {"event_id": self.event_id, "outcome": self.outcome, "endpoint_id": self.endpoint_id,
                "occurred_at": self.timestamp, "trigger": dict(self.trigger),
                **{key: value for key, value in self.fields.items() if value is not None}}


@dataclass
class ReportOutcome:
    """What a sink did with a report's events: a sink adds to it and never raises, since a
    reporting problem must not fail a batch."""

    sink: str = "none"
    requested: int = 0
    accepted: int = 0
    retried: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    request_errors: list[str] = field(default_factory=list)

    def reject(self, event: EngagementEvent, status: Any, message: str) -> None:
        self.rejected.append({"endpoint_id": event.endpoint_id, "event": event.outcome, "status": status,
                              "message": message[:200]})

    def as_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "requested": self.requested,
            "accepted": self.accepted,
            "retried": self.retried,
            "rejected": self.rejected[:20],
            "rejected_count": len(self.rejected),
            "request_errors": self.request_errors[:5],
        }


def _event_id(batch_id: str, endpoint_id: str, stage: str) -> str:
    # Stable: the same outcome reported twice (a retried compile-and-report task) has the same id.
    return hashlib.sha256(f"{batch_id}/{endpoint_id}/{stage}".encode()).hexdigest()[:32]


def events_for(context: BatchContext, result: EndpointResult, *, sent: bool = False) -> list[EngagementEvent]:
    """The events that tell what happened to one endpoint: its outcome, and with ``sent`` a
    ``sent`` event first for an endpoint the provider accepted."""
    trigger = trigger_ids(context)
    common = {"channel": result.channel, "provider": result.provider,
              "provider_message_id": result.provider_message_id}
    outcome = result.journey_status
    events = []
    if sent and result.provider_message_id:
        events.append(EngagementEvent(_event_id(context.batch_id, result.endpoint_id, "sent"), result.endpoint_id,
                                      "sent", result.sent_at or now_iso(), trigger,
                                      {**common, "sent_at": result.sent_at}))
    stage = outcome.value.lower()
    events.append(EngagementEvent(
        _event_id(context.batch_id, result.endpoint_id, stage), result.endpoint_id, stage,
        result.finished_at or now_iso(), trigger,
        {**common, "status": outcome.value, "reason": result.reason, "receipt_status": result.receipt_status,
         "attempts": result.attempts, "sent_at": result.sent_at, "finished_at": result.finished_at},
    ))
    return events


def engagement_events(context: BatchContext, results: Iterable[EndpointResult], *,
                      sent: bool = False) -> list[EngagementEvent]:
    """:func:`events_for` of every result, in order."""
    return [event for result in results for event in events_for(context, result, sent=sent)]


def late_receipt_event(record: Mapping[str, Any], receipt_status: str) -> EngagementEvent:
    """A receipt that came after the endpoint's wait ended (timed out, or its execution ended)."""
    outcome = "delivered" if receipt_status.strip().lower() in DELIVERED_RECEIPTS else "failed"
    trigger = trigger_ids_from_record(record)
    endpoint_id = str(record.get("sk", ""))
    fields = {"channel": record.get("channel"), "provider": record.get("provider"),
              "provider_message_id": record.get("provider_message_id"), "status": record.get("status"),
              "reason": record.get("reason"), "receipt_status": receipt_status,
              "sent_at": record.get("sent_at"), "finished_at": record.get("finished_at")}
    return EngagementEvent(_event_id(trigger.get("batch_id", ""), endpoint_id, "late"), endpoint_id,
                           f"late_{outcome}", now_iso(), trigger, fields)
