"""A batch's outcomes as CloudWatch metrics (embedded metric format), per channel.

Emitted once per batch by the Compile step, where every endpoint's outcome is known: for each
channel in the batch, ``EndpointsDelivered``, ``EndpointsFailed``, ``EndpointsTimedOut``,
``EndpointsSkipped`` and ``EndpointsPending`` (zeros included, so rates have a denominator) and
``SecondsToReceipt`` (one value per receipt: CloudWatch computes p50/p95 from the values).

Dimension sets of each record:

- ``[Channel, service]``: the dashboard's per-channel widgets;
- ``[service]``: every channel together, what the alarms watch (an alarm cannot search);
- ``[Channel, Journey]``: per journey (Pinpoint's journey or campaign, Connect's campaign), the
  counts per campaign the first custom-channel samples published. Each journey adds a handful of
  metrics (5 statuses and a latency per channel), billed per metric, so ``METRICS_PER_JOURNEY=false``
  (template parameter ``MetricsPerJourney``) turns this set off for accounts with many journeys.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from journey_activity.models.batch import EndpointResult, Status

STATUS_METRICS = {
    Status.DELIVERED: "OutcomeDelivered",
    Status.FAILED: "OutcomeFailed",
    Status.TIMED_OUT: "OutcomeTimedOut",
    Status.SKIPPED: "OutcomeSkipped",
    Status.SENT: "OutcomeSent",
    Status.PENDING: "OutcomePending",
}


def journey_of(context: Mapping[str, Any]) -> str | None:
    """The journey (or campaign) a batch belongs to, whichever the trigger names."""
    for key in ("journey_id", "campaign_id"):
        if value := context.get(key):
            return str(value)
    return None


def seconds_to_receipt(result: EndpointResult) -> float | None:
    """From the send's acceptance to the receipt that closed the endpoint (none without a receipt)."""
    if not (result.receipt_status and result.sent_at and result.finished_at):
        return None
    try:
        sent = datetime.fromisoformat(result.sent_at.replace("Z", "+00:00"))
        received = datetime.fromisoformat(result.finished_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (received - sent).total_seconds())


def _per_journey() -> bool:
    return os.environ.get("METRICS_PER_JOURNEY", "true").strip().lower() not in ("false", "0", "no")


def publish_outcomes(results: Iterable[EndpointResult], context: Mapping[str, Any]) -> None:
    """One EMF record per channel of the batch (printed to stdout, where Lambda's log agent reads it)."""
    by_channel: dict[str, list[EndpointResult]] = {}
    for result in results:
        by_channel.setdefault(result.channel or "UNKNOWN", []).append(result)
    journey = journey_of(context) if _per_journey() else None
    for channel, channel_results in sorted(by_channel.items()):
        metrics = EphemeralMetrics(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "journey-activity")
        metrics.add_dimension(name="Channel", value=channel)
        metrics.add_dimensions(service=metrics.service or "journey-activity")
        if journey:
            metrics.add_dimensions(Channel=channel, Journey=journey)
        for status, name in STATUS_METRICS.items():
            count = sum(1 for result in channel_results if result.journey_status == status)
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        for result in channel_results:
            if (seconds := seconds_to_receipt(result)) is not None:
                metrics.add_metric(name="SecondsToReceipt", unit=MetricUnit.Seconds, value=seconds)
        metrics.flush_metrics()
