"""Engagement events, sent where ``REPORT_SINK`` says: ``eventbridge`` (the default), ``pinpoint``
or ``none``.

Every place that reports (the Report state, the finalizer, a late receipt) comes through
:func:`report` or :func:`report_late`, so the choice is made once. Reporting never raises: what a
sink could not deliver is logged here and returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from journey_activity.models.batch import BatchContext, EndpointResult
from journey_activity.settings.reporting import ReportSettings, get_report_settings
from journey_activity.sinks.events import EngagementEvent, ReportOutcome, engagement_events, late_receipt_event

LOG = logging.getLogger(__name__)


class Sink(Protocol):
    """The report sink port: one class per transport in ``journey_activity.sinks``, chosen by
    ``REPORT_SINK`` (:func:`sink_for`)."""

    name: str
    """``REPORT_SINK``'s word for it: ``eventbridge``, ``pinpoint``, ``none``."""

    def send(self, events: list[EngagementEvent], outcome: ReportOutcome) -> None:
        """Carry the events, in as few requests as the transport's limits allow, and account for
        each one in ``outcome`` (accepted, retried, rejected with its error). Never raises."""
        ...


class NoSink:
    """``REPORT_SINK=none``: nothing is reported."""

    name = "none"

    def send(self, events: list[EngagementEvent], outcome: ReportOutcome) -> None:
        return None


def sink_for(settings: ReportSettings) -> Sink:
    """The configured sink, with its client (made once per container by :mod:`journey_activity.aws`)."""
    from journey_activity import aws

    sink = settings.effective_report_sink
    if sink == "eventbridge":
        from journey_activity.sinks.eventbridge import EventBridgeSink

        return EventBridgeSink(aws.client("events"), settings.event_bus_name or "", settings.event_type_prefix)
    if sink == "pinpoint":
        from journey_activity.sinks.pinpoint import PinpointSink

        return PinpointSink(aws.client("pinpoint"), settings.event_type_prefix)
    return NoSink()


def deliver(events: list[EngagementEvent], settings: ReportSettings | None = None) -> ReportOutcome:
    """Send the events to the configured sink; what it refused is logged (``Not every engagement
    event was accepted``) and returned."""
    settings = settings or get_report_settings()
    sink = sink_for(settings)
    outcome = ReportOutcome(sink=sink.name)
    if sink.name == "none" or not events:
        return outcome
    outcome.requested = len(events)
    if sink.name == "eventbridge" and not settings.event_bus_name:
        outcome.request_errors.append("EVENT_BUS_NAME is not set; nothing reported")
        for event in events:
            outcome.reject(event, None, "no event bus configured")
    else:
        sink.send(events, outcome)
    if outcome.rejected or outcome.request_errors:
        LOG.warning("Not every engagement event was accepted",
                    extra={"sink": sink.name, "rejected_count": len(outcome.rejected),
                           "rejected": outcome.rejected[:20], "request_errors": outcome.request_errors[:5]})
    return outcome


def report(context: BatchContext, results: Iterable[EndpointResult]) -> ReportOutcome:
    """Report each endpoint's outcome to the configured sink (and, with ``REPORT_SENT_EVENTS``,
    that the provider accepted it)."""
    settings = get_report_settings()
    return deliver(engagement_events(context, results, sent=settings.report_sent_events), settings)


def report_late(record: Mapping[str, Any], receipt_status: str) -> ReportOutcome:
    """Report a receipt that came after the endpoint's wait ended."""
    return deliver([late_receipt_event(record, receipt_status)])
