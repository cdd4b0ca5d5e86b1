"""State "Record failed delivery": turn the sender's error into a final status with a reason."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity.errors import (
    ProfileMissing,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    TemplateError,
)
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import is_final, result_from_record
from journey_activity.models.batch import LedgerStatus
from journey_activity.receipts import DELIVERY_FAILED_ERROR

TIMEOUT_ERRORS = frozenset({"States.Timeout", "States.HeartbeatTimeout"})
_REASONS = {
    cls.__name__: cls.reason
    for cls in (ProviderRejected, ProviderThrottled, ProviderUnavailable, TemplateError, ProfileMissing)
}


def _cause_message(cause: str | None) -> str | None:
    if not cause:
        return None
    try:
        parsed = json.loads(cause)
    except json.JSONDecodeError:
        return cause[:1000]
    if isinstance(parsed, dict):
        return str(parsed.get("errorMessage") or parsed.get("error") or parsed.get("reason") or cause)[:1000]
    return cause[:1000]


def classify(error_name: str, cause: str | None) -> tuple[LedgerStatus, str, str | None]:
    """(status, reason, detail) for a sender error as Step Functions reports it."""
    if error_name in TIMEOUT_ERRORS:
        return LedgerStatus.TIMED_OUT, "no_receipt", "no delivery receipt before the task's timeout or heartbeat"
    if error_name == DELIVERY_FAILED_ERROR:
        return LedgerStatus.FAILED, "delivery_failed", _cause_message(cause)
    if error_name in _REASONS:
        return LedgerStatus.FAILED, _REASONS[error_name], _cause_message(cause)
    return LedgerStatus.FAILED, "send_error", f"{error_name}: {_cause_message(cause) or ''}".strip()


def record_group(event: dict[str, Any]) -> dict[str, Any]:
    """Group wait mode: the group's task failed (retries exhausted, or its timeout or heartbeat
    passed). Its endpoints not final yet get the status an endpoint's own task would have given
    them; after a send error (``final`` false), an endpoint the provider accepted (SENT) keeps
    waiting for its receipt instead (``waiting`` counts them, and the state machine waits for the
    group again), as its own task would still be waiting."""
    batch_id, group = event["context"]["batch_id"], event["group"]
    error = event.get("error") or {}
    status, reason, detail = classify(str(error.get("Error", "States.TaskFailed")), error.get("Cause"))
    logger.thread_safe_append_keys(batch_id=batch_id, group=group["id"])
    book = ledger()
    records = {record["sk"]: record for record in book.group_records(batch_id, group["id"])}
    waiting, recorded = 0, 0
    for recipient in group["recipients"]:
        record = records.get(recipient["endpoint_id"])
        if is_final(record):
            continue
        if record is not None and record.get("status") == LedgerStatus.SENT and status is not LedgerStatus.TIMED_OUT \
                and not event.get("final"):
            waiting += 1
            continue
        endpoint_status, endpoint_reason, endpoint_detail = status, reason, detail
        if status is LedgerStatus.TIMED_OUT and (record or {}).get("outcome_unknown"):
            endpoint_status, endpoint_reason = LedgerStatus.FAILED, ProviderOutcomeUnknown.reason
            endpoint_detail = "the provider's answer to the send was lost and no delivery receipt came"
        applied, _ = book.finish(batch_id, recipient["endpoint_id"], endpoint_status, reason=endpoint_reason,
                                 error=endpoint_detail, extra={"channel": recipient.get("channel")}, group=group["id"])
        recorded += applied
    if recorded:
        metrics.add_metric(name=f"Endpoints{status.value.title().replace('_', '')}", unit=MetricUnit.Count,
                           value=recorded)
    logger.info("Recorded the group's failed endpoints", extra={"status": status.value, "reason": reason,
                                                                "recorded": recorded, "waiting": waiting})
    return {"group": group["id"], "recorded": recorded, "waiting": waiting}


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event.get("group"), dict):
        return record_group(event)
    batch_id = event["context"]["batch_id"]
    recipient = event["recipient"]
    error = event.get("error") or {}
    status, reason, detail = classify(str(error.get("Error", "States.TaskFailed")), error.get("Cause"))
    logger.thread_safe_append_keys(batch_id=batch_id, endpoint_id=recipient["endpoint_id"])
    if status is LedgerStatus.TIMED_OUT:
        # A send whose answer was lost (the provider may have the message) and no receipt since:
        # the outcome is unknown, not merely late. One read, on timeouts only.
        current = ledger().get(batch_id, recipient["endpoint_id"]) or {}
        if current.get("outcome_unknown"):
            status, reason = LedgerStatus.FAILED, ProviderOutcomeUnknown.reason
            detail = "the provider's answer to the send was lost and no delivery receipt came"
    applied, record = ledger().finish(
        batch_id,
        recipient["endpoint_id"],
        status,
        reason=reason,
        error=detail,
        extra={"channel": recipient.get("channel")},
    )
    if applied:
        metrics.add_dimension(name="Channel", value=str(recipient.get("channel") or "UNKNOWN"))
        metrics.add_metric(name=f"Endpoints{status.value.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
        logger.info("Recorded failed delivery", extra={"status": status.value, "reason": reason})
    else:
        logger.info("Endpoint already had a final status", extra={"status": record.get("status")})
    # The Map's result for this endpoint: a summary (the ledger keeps the error's detail).
    return result_from_record(record).summary()
