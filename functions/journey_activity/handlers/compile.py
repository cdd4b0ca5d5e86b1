"""State "Compile and report the outcomes": every endpoint's outcome, reconciled with the ledger,
then reported to the configured sink (``REPORT_SINK``).

One task for both (one billed state transition a batch fewer than two states): the compile fails
the task as any task fails (the state's Retry), while the report never does. What became of the
report is in the output as it was when the report was a state of its own: ``report`` (the sink's
outcome) or ``report_error`` (why no report could be made); the batch's outcome stands either way.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from journey_activity.compile import event_attributes
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import Ledger, is_final, result_from_record
from journey_activity.models.batch import EndpointResult, LedgerStatus
from journey_activity.reporting import BatchReport, report_batch, report_deadline
from journey_activity.settings.compile import get_compile_settings
from journey_activity.telemetry import publish_outcomes


def _parse(items: Any) -> dict[str, EndpointResult]:
    parsed: dict[str, EndpointResult] = {}
    for item in items if isinstance(items, list) else []:
        try:
            result = EndpointResult.model_validate(item)
        except ValidationError:
            continue
        parsed[result.endpoint_id] = result
    return parsed


def reconcile(book: Ledger, batch_id: str, order: list[tuple[str, str]], from_map: dict[str, EndpointResult],
              map_failed: bool) -> list[EndpointResult]:
    """The ledger is the truth; a Map result or, failing that, a workflow error fills the gaps."""
    records = book.batch_records(batch_id)
    results = []
    for endpoint_id, channel in order:
        record = records.get(endpoint_id)
        if is_final(record):
            results.append(result_from_record(record))  # type: ignore[arg-type]
            continue
        candidate = from_map.get(endpoint_id)
        if candidate is not None and candidate.status in (LedgerStatus.DELIVERED, LedgerStatus.FAILED,
                                                          LedgerStatus.TIMED_OUT, LedgerStatus.SKIPPED):
            status, reason, error = LedgerStatus(candidate.status), candidate.reason, candidate.error
        else:
            status, reason = LedgerStatus.FAILED, "workflow_error"
            error = "the send step ended without an outcome" + (" (the Map state failed)" if map_failed else "")
        _, record = book.finish(batch_id, endpoint_id, status, reason=reason, error=error, extra={"channel": channel})
        results.append(result_from_record(record))
    return results


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch_context = event["context"]
    batch_id = batch_context["batch_id"]
    logger.thread_safe_append_keys(batch_id=batch_id)
    settings = get_compile_settings()
    skipped = _parse(event.get("skipped"))
    from_map = {**_parse(event.get("sent")), **skipped}
    order = [(s.endpoint_id, s.channel) for s in skipped.values()]
    order += [(r["endpoint_id"], r["channel"]) for r in event.get("sendable", []) if r["endpoint_id"] not in skipped]
    if event.get("map_error"):
        logger.error("The Map state failed", extra={"map_error": event["map_error"]})
    results = reconcile(ledger(), batch_id, order, from_map, bool(event.get("map_error")))
    attributes = {r.endpoint_id: event_attributes(r.view(), settings.event_attributes) for r in results}
    publish_outcomes(results, batch_context)
    # Every outcome is final in the ledger now: whatever happens to the report, the batch's stands.
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    reported = report_batch(batch_context, results, deadline=report_deadline(remaining()) if remaining else None,
                            request_id=str(getattr(context, "aws_request_id", "")))
    count_report(reported)
    return {
        "context": batch_context,
        # No error text: a provider's answer may quote the address (the ledger keeps it).
        "results": [r.model_dump(mode="json", exclude_none=True, exclude={"error"}) for r in results],
        "event_attributes": attributes,
        **reported.output(),
    }


def count_report(reported: BatchReport) -> None:
    """The report's metrics, or its error in the log (what the sink refused is logged by reporting)."""
    if reported.error is not None:
        logger.error("The batch's outcomes were not reported; its outcome stands",
                     extra={"report_error": reported.error["Error"]})
        return
    outcome = reported.outcome
    if outcome is not None and outcome.sink != "none":
        metrics.add_metric(name="EventsReported", unit=MetricUnit.Count, value=outcome.accepted)
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(outcome.rejected))
