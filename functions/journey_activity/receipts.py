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

# "complaint" (SES's Complaint event) proves the message arrived: a delivery, never a failure.
DELIVERED = frozenset({"delivered", "read", "opened", "clicked", "complaint"})
FAILED = frozenset(
    {"failed", "bounced", "bounce", "rejected", "undelivered", "undeliverable", "expired", "dropped", "blocked",
     "complained", "canceled", "cancelled", "rendering_failed"}
)
# The destination opted out (or is suppressed): the endpoint is SKIPPED, not FAILED.
OPTED_OUT = frozenset({"opted_out"})
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
    # Our idempotency key, when the provider carries it back (SES tags, SMS context): finds the
    # endpoint of a send whose answer was lost (no message id recorded).
    idempotency_key: str | None = Field(default=None, max_length=64)
    # The provider's own word for the event (SES "Bounce", "TEXT_DELIVERED"), for the record.
    provider_event: str | None = Field(default=None, max_length=64)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    PROGRESS = "progress"
    DUPLICATE = "duplicate"
    LATE = "late"


def classify(status: str) -> Outcome:
    value = status.strip().lower()
    if value in DELIVERED:
        return Outcome.DELIVERED
    if value in FAILED:
        return Outcome.FAILED
    if value in OPTED_OUT:
        return Outcome.SKIPPED
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

    status = {Outcome.DELIVERED: LedgerStatus.DELIVERED, Outcome.SKIPPED: LedgerStatus.SKIPPED}.get(
        kind, LedgerStatus.FAILED)
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
        if needs_resume(current):
            # An earlier receipt made the record final but its resume failed (throttled, a 5xx):
            # this retry by the provider resumes the task, with the outcome already recorded.
            return resume(ledger, sfn, current, parsed.status)
        return Outcome.DUPLICATE
    return resume(ledger, sfn, current, parsed.status)


def park_or_apply(ledger: Ledger, sfn: Any, provider: str, receipt: Receipt) -> str:
    """Park one normalized receipt under its message id (the sender may not have recorded it yet),
    else apply it; a receipt carrying our idempotency key also finds a send whose answer was lost
    (parked under the key when that send is not known yet). Returns what happened."""
    stored = receipt.model_dump(mode="json", exclude_none=True, exclude=set(receipt.model_extra or {}))
    pointer = ledger.park_receipt(provider, receipt.message_id, stored)
    if not pointer.get("batch_id") and receipt.idempotency_key:
        keyed = ledger.key_pointer(provider, receipt.idempotency_key)
        if keyed and keyed.get("batch_id"):
            pointer = keyed
        else:
            # Parked under the key too: a sender that loses the answer later applies it from there.
            ledger.park_keyed_receipt(provider, receipt.idempotency_key, stored)
    if not pointer.get("batch_id"):
        return "parked"
    record = ledger.get(pointer["batch_id"], pointer["endpoint_id"])
    if record is None:
        return "parked"
    return apply_receipt(ledger, sfn, record, stored).value


def needs_resume(record: Mapping[str, Any]) -> bool:
    """A record a receipt made final whose task was never resumed (nor found gone)."""
    return (record.get("status") in (LedgerStatus.DELIVERED, LedgerStatus.FAILED, LedgerStatus.SKIPPED)
            and bool(record.get("task_token"))
            and bool(record.get("receipt_status")) and not record.get("resumed_at"))


def resume(ledger: Ledger, sfn: Any, record: Mapping[str, Any], receipt_status: str) -> Outcome:
    """Resume the waiting task with the record's final outcome, then note that it was resumed.

    Raises on a throttled or failed call (the provider retries the receipt, and the retry
    resumes: see :func:`needs_resume`); a gone task (timed out, already resumed, not ours) is
    no error: the ledger keeps the real outcome."""
    batch_id, endpoint_id = record["pk"], record["sk"]
    token = record.get("task_token")
    if not token:
        return Outcome.LATE
    result = result_from_record(record)
    # The task's output (or failure cause) lands in the execution history: a summary, never the
    # receipt's detail, which a provider may fill with the address.
    output = json.dumps(result.summary())
    try:
        # SKIPPED (an opt-out learnt from a receipt) is an outcome, not an error: the summary says it.
        if result.status in (LedgerStatus.DELIVERED, LedgerStatus.SKIPPED):
            sfn.send_task_success(taskToken=token, output=output)
        else:
            sfn.send_task_failure(taskToken=token, error=DELIVERY_FAILED_ERROR, cause=output[:32_000])
    except ClientError as error:
        if _error_code(error) not in GONE_TASK_ERRORS:
            raise
        # The task timed out before the receipt: the ledger keeps the real outcome.
        ledger.note(batch_id, endpoint_id, late_receipt_status=receipt_status, late_receipt_at=now_iso(),
                    resumed_at=now_iso(), resume_error=_error_code(error))
        return Outcome.LATE
    ledger.note(batch_id, endpoint_id, resumed_at=now_iso())
    return {"DELIVERED": Outcome.DELIVERED, "SKIPPED": Outcome.SKIPPED}.get(str(result.status), Outcome.FAILED)


def resume_with_result(ledger: Ledger, sfn: Any, record: Mapping[str, Any], token: str) -> bool:
    """Resume a task with SendTaskSuccess and the record's summary, whatever its final status (the
    sender's own task, after a synchronous outcome: the summary carries FAILED or SKIPPED itself).
    Returns False when the task is gone (timed out, already resumed); raises on a throttled or
    failed call, which fails the sender's invocation: its retry finds the record final and
    resumes from the ledger."""
    batch_id, endpoint_id = record["pk"], record["sk"]
    try:
        sfn.send_task_success(taskToken=token, output=json.dumps(result_from_record(record).summary()))
    except ClientError as error:
        if _error_code(error) not in GONE_TASK_ERRORS:
            raise
        ledger.note(batch_id, endpoint_id, resumed_at=now_iso(), resume_error=_error_code(error))
        return False
    ledger.note(batch_id, endpoint_id, resumed_at=now_iso())
    return True


def report_late(record: Mapping[str, Any], receipt_status: str) -> None:
    """Report a late receipt to the configured sink; a failure there is logged, never the provider's problem."""
    # Imported here: reporting reads the settings, which the ledger's users need not import.
    from journey_activity.reporting import report_late as report_late_event

    report_late_event(record, receipt_status)


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
