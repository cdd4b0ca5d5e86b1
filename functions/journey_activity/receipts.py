"""Delivery receipts: what they mean, and resuming the waiting task.

Used by the callback function (a receipt arrives) and by the sender (a receipt arrived
before the sender had recorded the provider's message id, and was parked).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from journey_activity.ledger import Ledger, now_iso, result_from_record
from journey_activity.models.batch import LedgerStatus

DELIVERED = frozenset({"delivered", "read", "opened", "clicked"})
FAILED = frozenset(
    {"failed", "bounced", "bounce", "rejected", "undelivered", "undeliverable", "expired", "dropped", "blocked",
     "complained", "canceled", "cancelled"}
)
# Task is gone: it timed out, was already resumed, or the token is not one of ours.
GONE_TASK_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
DELIVERY_FAILED_ERROR = "DeliveryFailed"
LOG = logging.getLogger(__name__)


class Receipt(BaseModel):
    """A provider's receipt for one message. Unknown fields are kept for the record."""

    model_config = ConfigDict(extra="allow")

    message_id: str = Field(min_length=1, max_length=256)
    status: str = Field(min_length=1, max_length=64)
    timestamp: str | None = None
    error_code: str | None = Field(default=None, max_length=256)
    detail: str | None = Field(default=None, max_length=1000)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    PROGRESS = "progress"
    DUPLICATE = "duplicate"
    LATE = "late"


def classify(status: str) -> Outcome:
    value = status.strip().lower()
    if value in DELIVERED:
        return Outcome.DELIVERED
    if value in FAILED:
        return Outcome.FAILED
    # accepted, queued, sending, sent, buffered, and anything new: progress, not an outcome.
    return Outcome.PROGRESS


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def apply_receipt(ledger: Ledger, sfn: Any, record: Mapping[str, Any], receipt: Mapping[str, Any]) -> Outcome:
    """Record the receipt and resume (or heartbeat) the waiting task; never raises for a gone task."""
    parsed = Receipt.model_validate(receipt)
    batch_id, endpoint_id = record["pk"], record["sk"]
    kind = classify(parsed.status)
    if kind is Outcome.PROGRESS:
        token = record.get("task_token")
        ledger.note(batch_id, endpoint_id, last_receipt_status=parsed.status, last_receipt_at=now_iso())
        if token and record.get("status") in (LedgerStatus.SENDING, LedgerStatus.SENT):
            try:
                sfn.send_task_heartbeat(taskToken=token)
            except ClientError as error:
                if _error_code(error) not in GONE_TASK_ERRORS:
                    raise
                return Outcome.LATE
        return Outcome.PROGRESS

    status = LedgerStatus.DELIVERED if kind is Outcome.DELIVERED else LedgerStatus.FAILED
    reason = None if kind is Outcome.DELIVERED else parsed.status.strip().lower()
    applied, current = ledger.finish(
        batch_id,
        endpoint_id,
        status,
        reason=reason,
        error=parsed.error_code or parsed.detail,
        receipt_status=parsed.status,
        extra={"receipt_at": now_iso()},
    )
    if not applied:
        # The task is gone: it timed out, or its execution ended without it.
        if current.get("status") == LedgerStatus.TIMED_OUT or str(current.get("reason", "")).startswith("execution_"):
            ledger.note(batch_id, endpoint_id, late_receipt_status=parsed.status, late_receipt_at=now_iso())
            report_late(current, parsed.status)
            return Outcome.LATE
        return Outcome.DUPLICATE

    # The task's output (or failure cause) lands in the execution history: a summary, never the
    # receipt's detail, which a provider may fill with the address.
    output = json.dumps(result_from_record(current).summary())
    token = current.get("task_token")
    if not token:
        return Outcome.LATE
    try:
        if status is LedgerStatus.DELIVERED:
            sfn.send_task_success(taskToken=token, output=output)
        else:
            sfn.send_task_failure(taskToken=token, error=DELIVERY_FAILED_ERROR, cause=output[:32_000])
    except ClientError as error:
        if _error_code(error) not in GONE_TASK_ERRORS:
            raise
        # The task timed out before the receipt: the ledger keeps the real outcome.
        ledger.note(batch_id, endpoint_id, late_receipt_status=parsed.status, late_receipt_at=now_iso())
        return Outcome.LATE
    return kind


def report_late(record: Mapping[str, Any], receipt_status: str) -> None:
    """Tell Pinpoint about a late receipt; a failure here is logged, never the provider's problem."""
    from journey_activity import aws
    from journey_activity.config import get_settings
    from journey_activity.reporting import ReportOutcome, late_receipt_event, put_events

    settings = get_settings()
    application_id = record.get("application_id")
    if not settings.report_events or not application_id:
        return
    outcome = ReportOutcome()
    put_events(aws.client("pinpoint"), str(application_id),
               [late_receipt_event(dict(record), receipt_status, settings.event_type_prefix)], outcome)
    if outcome.rejected:
        LOG.warning("late receipt not reported", extra={"rejected": outcome.rejected[:1]})


def apply_parked(ledger: Ledger, sfn: Any, batch_id: str, endpoint_id: str, receipts: list[Any]) -> Outcome | None:
    """Apply receipts that arrived before the message id was recorded, in arrival order."""
    outcome = None
    for receipt in receipts:
        record = ledger.get(batch_id, endpoint_id)
        if record is None:
            return outcome
        try:
            outcome = apply_receipt(ledger, sfn, record, receipt)
        except ValueError:
            continue
    return outcome


def describe(receipt: Mapping[str, Any]) -> str:
    return json.dumps(dict(receipt), sort_keys=True)[:500]
