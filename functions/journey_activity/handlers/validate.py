"""State "Validate endpoints": split the batch into endpoints to send and endpoints skipped."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity.config import Settings, get_settings
from journey_activity.handlers._runtime import ledger, logger, metrics
from journey_activity.models.batch import Batch, EndpointResult, LedgerStatus
from journey_activity.validation import skip_reason


def split(batch: Batch, settings: Settings) -> tuple[list[dict[str, Any]], list[EndpointResult]]:
    sendable: list[dict[str, Any]] = []
    skipped: list[EndpointResult] = []
    for recipient in batch.recipients:
        verdict = skip_reason(recipient, settings)
        if verdict is None:
            sendable.append(recipient.model_dump(mode="json"))
            continue
        reason, detail = verdict
        skipped.append(
            EndpointResult(
                endpoint_id=recipient.endpoint_id,
                channel=recipient.channel,
                status=LedgerStatus.SKIPPED,
                reason=reason.value,
                error=detail,
            )
        )
    return sendable, skipped


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = Batch.model_validate(event)
    settings = get_settings()
    logger.thread_safe_append_keys(batch_id=batch.context.batch_id)
    sendable, skipped = split(batch, settings)
    if skipped:
        ledger().record_skipped(batch.context.batch_id, skipped)
    metrics.add_metric(name="EndpointsSkipped", unit=MetricUnit.Count, value=len(skipped))
    metrics.add_metric(name="EndpointsToSend", unit=MetricUnit.Count, value=len(sendable))
    logger.info("Validated batch", extra={"sendable": len(sendable), "skipped": len(skipped)})
    return {
        "context": batch.context.model_dump(mode="json"),
        "sendable": sendable,
        "skipped": [result.model_dump(mode="json", exclude_none=True) for result in skipped],
        "receipt": {
            "timeout_seconds": settings.receipt_timeout_seconds,
            "heartbeat_seconds": settings.receipt_heartbeat_seconds,
        },
    }
