"""State "Report engagement events": each endpoint's outcome to the configured sink (``REPORT_SINK``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity.handlers._runtime import logger, metrics, throttling_is_retried
from journey_activity.models.batch import BatchContext, EndpointResult
from journey_activity.reporting import report


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch_context = BatchContext.model_validate(event["context"])
    logger.thread_safe_append_keys(batch_id=batch_context.batch_id)
    results = [EndpointResult.model_validate(item) for item in event.get("results", [])]
    # Never raises: what the sink refused is logged by reporting and counted here.
    outcome = report(batch_context, results)
    if outcome.sink == "none":
        return {"reported": False, "why": "REPORT_SINK is none"}
    metrics.add_metric(name="EventsReported", unit=MetricUnit.Count, value=outcome.accepted)
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=len(outcome.rejected))
    return {"reported": True, **outcome.as_dict()}
