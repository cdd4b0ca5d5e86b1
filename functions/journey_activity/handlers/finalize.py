"""When an execution fails, times out or is aborted: every endpoint still gets a final status.

Triggered by EventBridge ("Step Functions Execution Status Change"). "Compile and report the
outcomes" never ran (or did not finish) for such an execution, so this gives every endpoint
without a final status ``FAILED`` with reason ``execution_failed`` / ``execution_timed_out`` /
``execution_aborted`` in the ledger, and reports the batch's outcome to the configured sink.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity import aws
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import result_from_record
from journey_activity.models.batch import LedgerStatus
from journey_activity.models.execution import ExecutionInput
from journey_activity.reporting import report

CLOSED_WITHOUT_OUTCOME = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def execution_reason(status: str) -> str:
    return f"execution_{status.lower()}"


def finalize(execution_arn: str, status: str) -> dict[str, Any]:
    described = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    batch = ExecutionInput.model_validate_json(described["input"])
    batch_id = batch.context.batch_id
    logger.thread_safe_append_keys(batch_id=batch_id)
    detail = " ".join(str(described.get(key) or "") for key in ("error", "cause")).strip()[:1000]
    book = ledger()
    results, changed = [], 0
    for recipient in batch.recipients:
        applied, record = book.finish(
            batch_id,
            recipient.endpoint_id,
            LedgerStatus.FAILED,
            reason=execution_reason(status),
            error=detail or f"the execution ended {status}",
            extra={"channel": recipient.channel},
        )
        changed += applied
        results.append(result_from_record(record))
    outcome = report(batch.context, results).as_dict()
    metrics.add_metric(name="EndpointsFinalizedAfterFailure", unit=MetricUnit.Count, value=changed)
    logger.warning("Execution ended without every outcome; finalized", extra={"status": status, "changed": changed})
    return {"batch_id": batch_id, "status": status, "finalized": changed, "report": outcome}


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event.get("detail") or {}
    status = str(detail.get("status", ""))
    if status not in CLOSED_WITHOUT_OUTCOME or not detail.get("executionArn"):
        return {"finalized": 0, "status": status}
    return finalize(str(detail["executionArn"]), status)
