"""State "Report engagement events": each endpoint's outcome to Pinpoint with put_events."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity import aws
from journey_activity.config import get_settings
from journey_activity.handlers._runtime import logger, metrics
from journey_activity.models.batch import BatchContext, EndpointResult
from journey_activity.reporting import report


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    batch_context = BatchContext.model_validate(event["context"])
    logger.thread_safe_append_keys(batch_id=batch_context.batch_id)
    if not settings.report_events:
        return {"reported": False, "why": "REPORT_EVENTS is false"}
    results = [EndpointResult.model_validate(item) for item in event.get("results", [])]
    outcome = report(aws.client("pinpoint"), batch_context, results, settings.event_type_prefix)
    metrics.add_metric(name="EventsReported", unit=MetricUnit.Count, value=outcome.accepted)
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(outcome.rejected))
    if outcome.rejected or outcome.request_errors:
        logger.warning(
            "Pinpoint did not accept every engagement event",
            extra={"rejected": outcome.rejected[:20], "request_errors": outcome.request_errors[:5]},
        )
    return {"reported": True, **outcome.as_dict()}
