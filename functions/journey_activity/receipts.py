"""Delivery receipts: what they mean, and resuming the waiting task.

Used by the callback and receipt-queue functions (a receipt arrives) and by the sender (a
receipt arrived before the sender had linked the provider's message id, and was parked).

A receipt reads its message pointer (one read), which holds the endpoint and the waiting
task's token, then writes the record's final status (and the batch's progress) and resumes the
task. No write notes the resume: a provider's retry of a receipt whose resume failed finds the
record final and resumes again, and a task already resumed refuses (a duplicate).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from journey_activity import aws, groups
from journey_activity.aws import GONE_TASK_ERRORS, error_code
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


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a receipt goes: the endpoint's record, and the token of its waiting task (kept on the
    pointer the receipt found it by; ``None`` when no task waits any more)."""

    batch_id: str
    endpoint_id: str
    task_token: str | None
    # Reads the pointer again: a retried sender may have linked it with a newer token meanwhile.
    reread: Callable[[], Mapping[str, Any] | None] | None = dataclasses.field(default=None, compare=False)
    # Group wait mode: the endpoint's group waits (journey_activity.groups), not a task of its own.
    group: str | None = None


def target_of(pointer: Mapping[str, Any] | None,
              reread: Callable[[], Mapping[str, Any] | None] | None = None) -> Target | None:
    """The pointer's endpoint, once a sender has linked it."""
    if not pointer or not pointer.get("batch_id"):
        return None
    return Target(str(pointer["batch_id"]), str(pointer["endpoint_id"]), pointer.get("task_token") or None, reread,
                  pointer.get("group") or None)


def stored_receipt(receipt: Receipt) -> dict[str, Any]:
    """A receipt as the ledger keeps it. A provider's extra fields are kept as one JSON string:
    DynamoDB refuses floats, NaN, huge numbers, empty map keys and nesting over 32 levels."""
    stored = receipt.model_dump(mode="json", exclude_none=True, exclude=set(receipt.model_extra or {}))
    if receipt.model_extra:
        stored["extra"] = json.dumps(receipt.model_extra, sort_keys=True, default=str)[:2000]
    return stored


def heartbeat_interval() -> float:
    """Seconds between two heartbeats of one endpoint: a third of the wait's HeartbeatSeconds
    (``RECEIPT_HEARTBEAT_SECONDS``, 300 by default), so two heartbeats can be lost before it expires."""
    try:
        seconds = float(os.environ.get("RECEIPT_HEARTBEAT_SECONDS") or 300)
    except ValueError:
        seconds = 300.0
    return max(seconds, 1.0) / 3


def heartbeat(ledger: Ledger, sfn: Any, target: Target, *, clock: Callable[[], float] = time.time,
              interval: float | None = None) -> Outcome:
    """At most one SendTaskHeartbeat per endpoint per interval (F7): the receipt whose conditional
    write claims the interval sends it, every other progress receipt in it sends none. A throttled
    heartbeat counts as sent (a dropped heartbeat is harmless: the next interval's receipt, or the
    outcome, comes long before HeartbeatSeconds); a gone task makes the receipt late."""
    every = heartbeat_interval() if interval is None else interval
    if not target.task_token or not ledger.claim_heartbeat(target.batch_id, target.endpoint_id, clock(), every):
        return Outcome.PROGRESS
    try:
        sfn.send_task_heartbeat(taskToken=target.task_token)
    except ClientError as error:
        if aws.is_throttling(error):
            LOG.info("Heartbeat throttled; dropped", extra={"endpoint_id": target.endpoint_id})
            return Outcome.PROGRESS
        if error_code(error) not in GONE_TASK_ERRORS:
            raise
        return Outcome.LATE
    return Outcome.PROGRESS


def apply_receipt(ledger: Ledger, sfn: Any, target: Target, receipt: Mapping[str, Any], *,
                  clock: Callable[[], float] = time.time) -> Outcome:
    """Record the receipt and resume (or heartbeat) the waiting task; never raises for a gone task."""
    parsed = Receipt.model_validate(receipt)
    batch_id, endpoint_id = target.batch_id, target.endpoint_id
    kind = classify(parsed.status)
    if kind is Outcome.PROGRESS:
        record = ledger.note(batch_id, endpoint_id, last_receipt_status=parsed.status, last_receipt_at=now_iso())
        if target.group and record.get("status") in (LedgerStatus.SENDING, LedgerStatus.SENT):
            groups.heartbeat(ledger, sfn, batch_id, target.group, clock=clock)
            return Outcome.PROGRESS
        if target.task_token and record.get("status") in (LedgerStatus.SENDING, LedgerStatus.SENT):
            return heartbeat(ledger, sfn, target, clock=clock)
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
        if current.get("receipt_status") == parsed.status and (target.task_token or target.group):
            # The same receipt made the record final, and its resume may have failed (throttled,
            # a 5xx) after that write: this retry by the provider resumes the task again. A task
            # that was resumed refuses (gone), and that is the duplicate it looks like. Other
            # receipts after the outcome (an open, a click) are duplicates without a call.
            resumed = resume(ledger, sfn, target, current, parsed.status, again=True)
            return Outcome.DUPLICATE if resumed is Outcome.LATE else resumed
        return Outcome.DUPLICATE
    return resume(ledger, sfn, target, current, parsed.status)


def park_or_apply(ledger: Ledger, sfn: Any, provider: str, receipt: Receipt) -> tuple[str, Target | None]:
    """Apply one normalized receipt to its endpoint, found by the message id's pointer (one read);
    park it there when the sender has not linked the pointer yet (its link returns what was
    parked). A receipt carrying our idempotency key also finds a send whose answer was lost
    (parked under the key when that send is not known yet). Returns what happened, and the
    endpoint when it is known."""
    stored = stored_receipt(receipt)
    target = target_of(ledger.pointer(provider, receipt.message_id),
                       lambda: ledger.pointer(provider, receipt.message_id))
    if target is None:
        target = target_of(ledger.park_receipt(provider, receipt.message_id, stored),
                           lambda: ledger.pointer(provider, receipt.message_id))
    if target is None and receipt.idempotency_key:
        key = receipt.idempotency_key
        target = target_of(ledger.key_pointer(provider, key), lambda: ledger.key_pointer(provider, key))
        if target is None:
            # Parked under the key too: a sender that loses the answer later applies it from there.
            target = target_of(ledger.park_keyed_receipt(provider, key, stored),
                               lambda: ledger.key_pointer(provider, key))
    if target is None:
        return "parked", None
    return apply_receipt(ledger, sfn, target, stored).value, target


# A receipt whose AWS calls are throttled past the SDK's retries is applied again here, with full
# jitter (at most about 1.5 s of pauses): it saves the queue's redelivery, which comes only after
# the queue's visibility timeout (180 s), close to a default heartbeat. Applying it again is safe: each
# step is idempotent (a parked copy is a duplicate, a final status is written once, the same
# receipt resumes again and a resumed task refuses).
APPLY_ATTEMPTS = 5
APPLY_FIRST_PAUSE_SECONDS = 0.1


def park_or_apply_retrying(ledger: Ledger, sfn: Any, provider: str, receipt: Receipt) -> tuple[str, Target | None]:
    """:func:`park_or_apply`, tried again while AWS throttles it."""
    return aws.retry_throttled(lambda: park_or_apply(ledger, sfn, provider, receipt),
                               attempts=APPLY_ATTEMPTS, first_pause=APPLY_FIRST_PAUSE_SECONDS)


def resume(ledger: Ledger, sfn: Any, target: Target, record: Mapping[str, Any], receipt_status: str,
           *, again: bool = False) -> Outcome:
    """Resume the waiting task with the record's final outcome.

    Raises on a throttled or failed call (the queue, or the provider, delivers the receipt again, and that
    resumes again: see :func:`apply_receipt`); a gone task (timed out, already resumed, not
    ours) is no error: the ledger keeps the real outcome. When the pointer's token is gone and
    a retried sender has linked a newer one meanwhile, that one is resumed."""
    token = target.task_token
    result = result_from_record(record)
    outcome = {"DELIVERED": Outcome.DELIVERED, "SKIPPED": Outcome.SKIPPED}.get(str(result.status), Outcome.FAILED)
    if target.group:
        # The group waits: this endpoint is counted off it (and the group resumed when it was the last).
        groups.settle(ledger, sfn, {**record, "group": record.get("group") or target.group}, counted=not again)
        return outcome
    if not token and target.reread is not None:
        # Sent before any task waited ("Send to every endpoint at once"), the pointer had no token
        # when read. Read again now that the record is final: a task that linked its token
        # meanwhile may have read the record before it was final, and only this resume wakes it.
        # (Record written, then pointer read here; pointer linked, then record read there: one
        # of the two reads sees the other's write, so one of them resumes; a second resume is
        # refused as a gone task.)
        token = (target.reread() or {}).get("task_token")
    if not token:
        # No task waits yet: the task that will wait for this endpoint finds the record final
        # when it links the pointer, and resumes itself.
        return outcome
    # The task's output (or failure cause) lands in the execution history: a summary, never the
    # receipt's detail, which a provider may fill with the address.
    output = json.dumps(result.summary())
    tried: set[str] = set()
    gone = ""
    while token and token not in tried:
        tried.add(token)
        try:
            # SKIPPED (an opt-out learnt from a receipt) is an outcome, not an error: the summary says it.
            if result.status in (LedgerStatus.DELIVERED, LedgerStatus.SKIPPED):
                sfn.send_task_success(taskToken=token, output=output)
            else:
                sfn.send_task_failure(taskToken=token, error=DELIVERY_FAILED_ERROR, cause=output[:32_000])
        except ClientError as error:
            if error_code(error) not in GONE_TASK_ERRORS:
                raise
            fresh = target.reread() if target.reread else None
            token = (fresh or {}).get("task_token")
            gone = error_code(error)
            continue
        return outcome
    if not again:
        # The task timed out before the receipt: the ledger keeps the real outcome.
        ledger.note(target.batch_id, target.endpoint_id, late_receipt_status=receipt_status,
                    late_receipt_at=now_iso(), resume_error=gone)
    return Outcome.LATE


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
        if error_code(error) not in GONE_TASK_ERRORS:
            raise
        ledger.note(batch_id, endpoint_id, resume_error=error_code(error))
        return False
    return True


def report_late(record: Mapping[str, Any], receipt_status: str) -> None:
    """Report a late receipt to the configured sink; a failure there is logged, never the provider's problem."""
    # Imported here: reporting reads the settings, which the ledger's users need not import.
    from journey_activity.reporting import report_late as report_late_event

    report_late_event(record, receipt_status)


def apply_parked(ledger: Ledger, sfn: Any, target: Target, receipts: list[Any]) -> Outcome | None:
    """Apply receipts that arrived before the pointer was linked, in arrival order (the sender,
    with its own task's token)."""
    outcome = None
    for receipt in receipts:
        try:
            outcome = apply_receipt(ledger, sfn, target, receipt)
        except ValueError:
            continue
    return outcome


def describe(receipt: Mapping[str, Any]) -> str:
    return json.dumps(dict(receipt), sort_keys=True)[:500]
