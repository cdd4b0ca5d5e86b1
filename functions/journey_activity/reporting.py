"""Engagement events, sent where ``REPORT_SINK`` says: ``eventbridge`` (the default), ``pinpoint``
or ``none``.

Every place that reports (the state "Compile and report the outcomes", the finalizer, a late
receipt) comes through :func:`report` or :func:`report_late`, so the choice is made once. Reporting
never raises: what a sink could not deliver is logged here and returned. The batch's own report,
:func:`report_batch`, also answers when the report could not be made at all (``report_error``),
so that the batch's outcome stands whatever happens to its report.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from journey_activity.aws import Backoff, is_throttling
from journey_activity.errors import ReportTimedOut
from journey_activity.models.batch import BatchContext, EndpointResult
from journey_activity.settings.reporting import ReportSettings, get_report_settings
from journey_activity.sinks.events import EngagementEvent, ReportOutcome, engagement_events, late_receipt_event

LOG = logging.getLogger(__name__)

# A batch's report: a request throttled past the SDK's retries (or, on EventBridge, a failed entry)
# is tried 7 times in all, pausing up to 1 s, then twice as long each time, at most 20 s, with full
# jitter: the Retry on AwsThrottled the state machine gave the report when it was a state of its
# own, now within the function's invocation.
BATCH_BACKOFF = Backoff(attempts=7, first_pause=1.0, rate=2.0, max_pause=20.0)
# Of the invocation's remaining time: no try starts in its last LAST_TRY_SECONDS (a throttled
# request's own SDK retries take seconds), and the report is given up ANSWER_SECONDS before the
# function times out, so the compiled outcome is answered whatever the sink does.
LAST_TRY_SECONDS = 5.0
ANSWER_SECONDS = 1.0


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


def sink_for(settings: ReportSettings, backoff: Backoff | None = None) -> Sink:
    """The configured sink, with its client (made once per container by :mod:`journey_activity.aws`);
    ``backoff``: how it tries a throttled request again (None: the sink's own few short pauses)."""
    from journey_activity import aws

    sink = settings.effective_report_sink
    if sink == "eventbridge":
        from journey_activity.sinks import eventbridge

        return eventbridge.EventBridgeSink(aws.client("events"), settings.event_bus_name or "",
                                           settings.event_type_prefix, backoff=backoff or eventbridge.DEFAULT_BACKOFF)
    if sink == "pinpoint":
        from journey_activity.sinks import pinpoint

        return pinpoint.PinpointSink(aws.client("pinpoint"), settings.event_type_prefix,
                                     backoff=backoff or pinpoint.DEFAULT_BACKOFF)
    return NoSink()


def deliver(events: list[EngagementEvent], settings: ReportSettings | None = None,
            backoff: Backoff | None = None) -> ReportOutcome:
    """Send the events to the configured sink; what it refused is logged (``Not every engagement
    event was accepted``) and returned."""
    settings = settings or get_report_settings()
    sink = sink_for(settings, backoff)
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


def report(context: BatchContext, results: Iterable[EndpointResult], backoff: Backoff | None = None) -> ReportOutcome:
    """Report each endpoint's outcome to the configured sink (and, with ``REPORT_SENT_EVENTS``,
    that the provider accepted it)."""
    settings = get_report_settings()
    return deliver(engagement_events(context, results, sent=settings.report_sent_events), settings, backoff)


def step_error(error: BaseException, request_id: str = "") -> dict[str, str]:
    """``{"Error", "Cause"}`` as a state's Catch gives a Lambda function's error: the error's name
    (``AwsThrottled`` for AWS throttling, as the functions raise it), and the function's error
    document (``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``) as a JSON string."""
    name = "AwsThrottled" if is_throttling(error) else type(error).__name__
    frames = traceback.format_list(traceback.extract_tb(error.__traceback__))[-10:]
    cause = {"errorMessage": str(error)[:1000], "errorType": name, "requestId": request_id, "stackTrace": frames}
    return {"Error": name, "Cause": json.dumps(cause)}


@dataclass
class BatchReport:
    """What became of a batch's report: the sink's ``outcome``, or the ``error`` that kept the
    report from being made (:func:`step_error`'s shape)."""

    outcome: ReportOutcome | None = None
    error: dict[str, str] | None = None

    def output(self) -> dict[str, Any]:
        """The keys the execution's output carries: ``report`` (``{"outcome": ...}``, the sink's
        outcome) or ``report_error``, as when the report was a state of its own (its ResultPath
        ``$.report``, its Catch's ``$.report_error``)."""
        if self.error is not None or self.outcome is None:
            return {"report_error": self.error or step_error(RuntimeError("the report ended without an outcome"))}
        if self.outcome.sink == "none":
            return {"report": {"outcome": {"reported": False, "why": "REPORT_SINK is none"}}}
        return {"report": {"outcome": {"reported": True, **self.outcome.as_dict()}}}


def report_batch(context: Mapping[str, Any], results: Iterable[EndpointResult], *,
                 deadline: float | None = None, request_id: str = "") -> BatchReport:
    """Report a batch's outcomes, never raising: a request the sink throttles is tried again with
    :data:`BATCH_BACKOFF` while the invocation has time (none starts after ``deadline`` less
    :data:`LAST_TRY_SECONDS`); anything that keeps the report from being made (its settings, the
    batch's context, an error of the sink) is caught and returned as the error. With a
    ``deadline`` (a ``time.monotonic()`` value) the report runs on a thread of its own, waited for
    until then: a sink call that hangs past it is given up (``ReportTimedOut``) instead of taking
    the invocation, and the compiled outcome with it, past the function's Timeout."""
    done = BatchReport()
    backoff = BATCH_BACKOFF.until(deadline - LAST_TRY_SECONDS if deadline is not None else None)
    items = list(results)

    def work() -> None:
        try:
            done.outcome = report(BatchContext.model_validate(context), items, backoff)
        except Exception as error:
            done.error = step_error(error, request_id)

    if deadline is None:
        work()
        return done
    worker = threading.Thread(target=work, name="report", daemon=True)
    worker.start()
    worker.join(timeout=max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        # The thread goes on when the execution environment next runs; what it still sends
        # carries the same event ids.
        return BatchReport(error=step_error(ReportTimedOut(
            "the sink had not answered when the invocation's time was nearly over; a request still in "
            "flight may yet be delivered"), request_id))
    return done


def report_deadline(remaining_ms: int) -> float:
    """When a batch's report is given up: ``ANSWER_SECONDS`` before the function times out."""
    return time.monotonic() + max(remaining_ms / 1000 - ANSWER_SECONDS, 0.0)


def report_late(record: Mapping[str, Any], receipt_status: str) -> ReportOutcome:
    """Report a receipt that came after the endpoint's wait ended."""
    return deliver([late_receipt_event(record, receipt_status)])
