"""The channel family's sender, for two states of the batch's state machine:

- "Send to every endpoint at once" (:func:`send_group`): every sendable endpoint of the family is
  handed to its provider as soon as the batch starts, concurrently, paced by the provider's send
  rate, with no task token (no task waits yet); what cannot be sent within this invocation
  (a paced provider's schedule is full, the provider throttled or failed) is left to the next state.
- "Send and wait for delivery receipt" (:func:`send`, one endpoint): link the endpoint's message
  pointer to this task's token, sending first if the endpoint was not sent yet. The task stays
  open after this function returns; the callback function (or this one, for a receipt that
  arrived early) resumes it.

Both run the same protocol on the ledger (begin_send, mark_sent), so an endpoint is sent once
whichever state sends it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from journey_activity import aws, groups
from journey_activity.errors import (
    JourneyActivityError,
    ProfileMissing,
    ProviderError,
    ProviderOptedOut,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    TemplateError,
)
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import Ledger, is_final, now_iso, result_from_record
from journey_activity.ledger.groups import GROUP_ID
from journey_activity.ledger.recipients import StoredRecipient
from journey_activity.models.batch import BatchContext, LedgerStatus
from journey_activity.models.execution import RecipientRef
from journey_activity.pacing import Pacer, Slot, ses_account_rate
from journey_activity.providers import SendRequest, SyncOutcome, provider_for
from journey_activity.providers.aws_sdk import sdk_client
from journey_activity.receipts import (
    DELIVERY_FAILED_ERROR,
    GONE_TASK_ERRORS,
    Outcome,
    Target,
    apply_parked,
    resume_with_result,
)
from journey_activity.settings.providers import (
    HttpProviderConfig,
    ProviderConfig,
    ProviderSettings,
    TwilioProviderConfig,
    get_provider_settings,
)
from journey_activity.sinks.events import trigger_ids
from journey_activity.templating import render


class ReceiptWindow(BaseModel):
    """The waiting task's TimeoutSeconds and HeartbeatSeconds (Validate's ``$.receipt``)."""

    model_config = ConfigDict(extra="ignore")

    timeout_seconds: float = Field(gt=0)
    heartbeat_seconds: float = Field(gt=0)


class SendTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # None in "Send to every endpoint at once": no task waits for the endpoint yet.
    task_token: str | None = None
    context: BatchContext
    # Ids only: the address and the profile are read from the ledger, only when sending.
    recipient: RecipientRef
    retry_count: int = 0
    # The wait's clock runs while this task waits for a send slot: set when a task waits.
    receipt: ReceiptWindow | None = None
    # Group wait mode: the endpoint's group (journey_activity.groups) waits for it, not a task of its own.
    group: str | None = None
    # Group wait mode: when the group's send window ends (time.monotonic()): a send starts by then.
    send_by: float | None = None


def half_receipt_window(receipt: ReceiptWindow | None) -> float | None:
    """Half the wait's heartbeat and half its timeout (the heartbeat clock runs from the task's
    start): how long a waiting task may spend before its send, so the receipt has the other half."""
    return None if receipt is None else min(receipt.heartbeat_seconds, receipt.timeout_seconds) / 2


def slot_wait_seconds(task: SendTask) -> float:
    """How far ahead a send slot may be: PACE_WAIT_SECONDS, and, for a task waiting for its receipt,
    no more than half its heartbeat and half its timeout, so the provider's receipt has the other
    half (a waiting task whose heartbeat passed while it waited for a slot would end TIMED_OUT)."""
    wait = PACE_WAIT_SECONDS
    half = half_receipt_window(task.receipt)
    if half is not None:
        wait = min(wait, half)
    if task.send_by is not None:
        wait = min(wait, max(task.send_by - time.monotonic(), 0.0))
    return wait


def idempotency_key(batch_id: str, endpoint_id: str) -> str:
    """The same for every attempt at one endpoint of one batch."""
    return hashlib.sha256(f"{batch_id}/{endpoint_id}".encode()).hexdigest()[:40]


def _with_callback(config: ProviderConfig) -> ProviderConfig:
    """Providers that post receipts to our HTTP API learn where; the others (SES, SMS/voice:
    events through the receipt queue; push: no receipts) need no URL."""
    if not isinstance(config, HttpProviderConfig | TwilioProviderConfig):
        return config
    base = os.environ.get("PROVIDER_CALLBACK_BASE_URL", "").rstrip("/")
    if config.callback_url or not base:
        return config
    return config.model_copy(update={"callback_url": f"{base}/receipts/{config.name}"})


def _resume_from_record(record: dict[str, Any], token: str | None) -> None:
    """The endpoint already has a final status (a retried task): hand it straight back. A task
    that is gone already (a receipt resumed it first) is no error."""
    if not token:
        return
    result = json.dumps(result_from_record(record).summary())
    try:
        if record.get("status") == LedgerStatus.DELIVERED:
            aws.client("stepfunctions").send_task_success(taskToken=token, output=result)
        else:
            aws.client("stepfunctions").send_task_failure(taskToken=token, error=DELIVERY_FAILED_ERROR,
                                                          cause=result)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in GONE_TASK_ERRORS:
            raise


_templates: dict[str, str | None] = {}


def _template(book: Ledger, context: BatchContext) -> str | None:
    """The batch's template, read once per container when it travels by reference."""
    if not context.template_ref:
        return context.template
    if context.batch_id not in _templates:
        template = book.get_template(context.batch_id, context.template_ref)
        if template is None:
            raise TemplateError(f"the batch's template ({context.template_ref}) is not in the ledger")
        if len(_templates) > 64:
            _templates.clear()
        _templates[context.batch_id] = template
    return _templates[context.batch_id]


T = TypeVar("T")
# Once the provider has the message, its record must not fail on a throttled write: a failed
# invocation is retried by the state machine, and the retry would find the endpoint still
# SENDING and send again (SES, SMS and voice, push and Twilio take no idempotency key). So the
# writes after the provider's answer are retried here, with full jitter, well within
# AFTER_SEND_SECONDS (at most about 1.6 s of pauses).
RECORD_ATTEMPTS = 6
RECORD_FIRST_PAUSE_SECONDS = 0.05


def record_after_send(write: Callable[[], T]) -> T:
    return aws.retry_throttled(write, attempts=RECORD_ATTEMPTS, first_pause=RECORD_FIRST_PAUSE_SECONDS,
                               on_retry=lambda: metrics.add_metric(name="RecordRetried", unit=MetricUnit.Count,
                                                                   value=1))


# What the sender needs after the provider's answer (ledger writes, a parked receipt's resume),
# kept out of the provider's time so the function never reaches its own Timeout.
AFTER_SEND_SECONDS = 5.0
# A send's lease without a known deadline (no Lambda context): the senders' longest Timeout.
LEASE_SECONDS = 90.0


def send_deadline(context: Any) -> float | None:
    """When the provider call must be over: the invocation's remaining time, less the margin."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + max(remaining() / 1000 - AFTER_SEND_SECONDS, 0.0)


# A sender waits at most this long for its provider's next send slot; a later slot is left to the
# state machine's retry of ProviderThrottled, which holds no Lambda while it waits.
PACE_WAIT_SECONDS = 20.0


def send_rate(config: ProviderConfig) -> float | None:
    """The provider's pace (messages a second for every sender together), None when unpaced."""
    rate = getattr(config, "send_rate", None)
    if rate == "account":
        region, timeout = getattr(config, "region", None), config.timeout_seconds
        return ses_account_rate(region, lambda: sdk_client("ses", region, timeout))
    return float(rate) if rate is not None else None


def _pacer() -> Pacer:
    book = ledger()
    return Pacer(book.table_name, book.dynamodb)


def take_slot(config: ProviderConfig, deadline: float | None, wait: float = PACE_WAIT_SECONDS) -> Slot | None:
    """A send slot of a paced provider no later than ``wait`` seconds from now, leaving the provider
    call its whole timeout before ``deadline``; ``None`` when its schedule is full that far ahead.
    An unpaced provider's slot is now."""
    rate = send_rate(config)
    if rate is None:
        return Slot(time.time())
    if deadline is not None:
        wait = min(wait, deadline - time.monotonic() - config.timeout_seconds)
    if wait < 0:
        return None
    return _pacer().take(config.name, rate, within=wait)


def send(task: SendTask, settings: ProviderSettings, deadline: float | None = None, *,
         slot: Slot | None = None, stored: StoredRecipient | None = None) -> dict[str, Any]:
    """One endpoint: send it unless it was sent (``slot``: a send slot already taken for it), and
    link its pointer to the task's token. ``stored``: its address and profile, when the caller
    read them already (a group reads its parts once), else read here."""
    batch_id, recipient = task.context.batch_id, task.recipient
    config = settings.provider_for(recipient.channel)
    if config is None:
        raise ProviderRejected(f"no provider is configured for {recipient.channel}")
    config = _with_callback(config)
    book = ledger()
    should_send, record = book.begin_send(
        batch_id,
        recipient.endpoint_id,
        channel=recipient.channel,
        provider=config.name,
        # The trigger's ids, so a late receipt's event carries them too.
        about={**{key: value for key, value in trigger_ids(task.context).items() if key != "batch_id"},
               "group": task.group},
        # This invocation's, at most: no other sends the endpoint meanwhile.
        lease_seconds=(deadline - time.monotonic() + AFTER_SEND_SECONDS) if deadline is not None else LEASE_SECONDS,
    )
    if not should_send and record.get("status") == LedgerStatus.SENDING.value:
        # Another invocation is sending it now (the send at once, or an earlier attempt Step
        # Functions gave up on while it still ran): not twice. Retried like a throttled send.
        raise ProviderThrottled(f"{config.name}: another invocation is sending this endpoint; trying later", None)
    if not should_send:
        if is_final(record):
            logger.info("Endpoint already final; resuming from the ledger", extra={"status": record.get("status")})
            # (A group's sender checks the whole group once it has sent: see send_and_wait_group.)
            _resume_from_record(record, task.task_token)
            return {"status": record.get("status"), "resent": False}
        message_id = record.get("provider_message_id")
        logger.info("Provider already accepted this endpoint; not sending twice", extra={"message_id": message_id})
        # Link again, with this attempt's token: the first attempt may have stopped (throttled,
        # timed out) after recording the send but before linking its pointer, or a receipt
        # arriving from now on would be parked on a pointer nobody reads; and a receipt must
        # resume this attempt's task, not the last one's. The link returns what was parked.
        if message_id:
            pointer = book.link_pointer(batch_id, recipient.endpoint_id, provider=config.name, message_id=message_id,
                                        task_token=task.task_token, group=task.group)
        elif record.get("outcome_unknown"):
            pointer = book.link_key_pointer(batch_id, recipient.endpoint_id, provider=config.name,
                                            idempotency_key=idempotency_key(batch_id, recipient.endpoint_id),
                                            task_token=task.task_token, group=task.group)
        else:
            pointer = {}
        target = Target(batch_id, recipient.endpoint_id, task.task_token, group=task.group)
        applied = apply_parked(book, aws.client("stepfunctions"), target, pointer["receipts"]) \
            if pointer.get("receipts") else None
        # A receipt may have made the record final between this attempt's start and its link,
        # resuming the last attempt's token: this one then resumes itself from the ledger (unless a
        # parked receipt just resumed it: once is enough).
        current = book.get(batch_id, recipient.endpoint_id) or {}
        if is_final(current) and applied not in (Outcome.DELIVERED, Outcome.FAILED, Outcome.SKIPPED):
            _resume_from_record(current, task.task_token)
        return {"status": LedgerStatus.SENT.value, "provider_message_id": message_id, "resent": False}

    try:
        return _send_leased(task, config, book, record, deadline, slot, stored)
    except Exception as error:
        if not getattr(error, "provider_may_have_it", False):
            # Nothing reached the provider (or it refused): the next attempt may send at once.
            book.release_send(batch_id, recipient.endpoint_id)
        raise


def _provider_may_have_it(write: Callable[[], T]) -> T:
    """A write after the provider took (or may have taken) the message: if it fails, the endpoint's
    lease is kept until it expires, so no other attempt sends it again meanwhile."""
    try:
        return write()
    except Exception as error:
        error.provider_may_have_it = True  # type: ignore[attr-defined]
        raise


def _send_leased(task: SendTask, config: ProviderConfig, book: Ledger, record: dict[str, Any],
                 deadline: float | None, slot: Slot | None, stored: StoredRecipient | None = None) -> dict[str, Any]:
    """The send itself, once :func:`send` holds the endpoint's lease."""
    batch_id, recipient = task.context.batch_id, task.recipient
    if record.get("send_error") == ProviderRejected.__name__:
        # "Send to every endpoint at once" had the provider's refusal: never sent again.
        raise ProviderRejected(str(record.get("send_error_cause") or f"{config.name}: rejected"))
    if stored is None:
        stored = book.recipient(batch_id, recipient.endpoint_id, recipient.part)
    if stored is None:
        raise ProfileMissing(f"endpoint {recipient.endpoint_id}'s address and profile are not in the ledger")
    message = render(_template(book, task.context), stored.profile)
    request = SendRequest(
        batch_id=batch_id,
        endpoint_id=recipient.endpoint_id,
        channel=recipient.channel,
        address=stored.address,
        message=message,
        idempotency_key=idempotency_key(batch_id, recipient.endpoint_id),
        metadata={
            "journey_id": task.context.journey_id,
            "campaign_id": task.context.campaign_id,
            "activity_id": task.context.activity_id,
            "treatment_id": task.context.treatment_id,
        },
        deadline=deadline,
    )
    if slot is None:
        within = slot_wait_seconds(task)
        slot = take_slot(config, deadline, within)
        if slot is None:
            metrics.add_metric(name="SendsPaced", unit=MetricUnit.Count, value=1)
            raise ProviderThrottled(f"{config.name}: paced at {send_rate(config):g} messages a second, and no send "
                                    f"slot is free within {within:g} s", 429)
    slot.wait()
    try:
        accepted = provider_for(config).send(request)
    except ProviderOptedOut as error:
        # Not a failure: the person asked not to be messaged on this channel.
        book.note(batch_id, recipient.endpoint_id, last_error=f"{type(error).__name__}: {error}"[:1000])
        metrics.add_metric(name=type(error).__name__, unit=MetricUnit.Count, value=1)
        return _finish_now(book, task, config.name, SyncOutcome("SKIPPED", reason=error.reason), None)
    except ProviderOutcomeUnknown as error:
        # The provider may have the message: sending again could deliver it twice, so the
        # endpoint waits for a receipt (found by the idempotency key the message carries);
        # a wait that ends without one records FAILED send_outcome_unknown.
        metrics.add_metric(name=type(error).__name__, unit=MetricUnit.Count, value=1)
        logger.warning("The provider's answer was lost; waiting for a receipt", extra={"provider": config.name})
        lost = f"{type(error).__name__}: {error}"
        pointer = _provider_may_have_it(lambda: record_after_send(lambda: book.mark_outcome_unknown(
            batch_id, recipient.endpoint_id, provider=config.name, idempotency_key=request.idempotency_key,
            error=lost, task_token=task.task_token, group=task.group)))
        if pointer.get("receipts") and (task.task_token or task.group):
            target = Target(batch_id, recipient.endpoint_id, task.task_token, group=task.group)
            apply_parked(book, aws.client("stepfunctions"), target, pointer["receipts"])
        return {"status": LedgerStatus.SENT.value, "outcome_unknown": True}
    except ProviderError as error:
        book.note(batch_id, recipient.endpoint_id, last_error=f"{type(error).__name__}: {error}"[:1000])
        metrics.add_metric(name=type(error).__name__, unit=MetricUnit.Count, value=1)
        # The error's message becomes the task's cause in the execution history; a provider's
        # answer may quote the address, so it stays in the ledger (last_error) and the history
        # gets the status only. The class name (the ASL's contract) is unchanged.
        status = f" (HTTP {error.status})" if error.status else ""
        raise type(error)(f"{config.name}: {error.reason}{status}; the provider's answer is in the ledger",
                          error.status) from None
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    outcome = accepted.outcome
    if outcome is not None:
        return _provider_may_have_it(lambda: _finish_now(book, task, config.name, outcome, accepted.message_id))
    _, pointer = _provider_may_have_it(lambda: record_after_send(lambda: book.mark_sent(
        batch_id, recipient.endpoint_id, provider=config.name, message_id=accepted.message_id,
        task_token=task.task_token, group=task.group)))
    if pointer.get("receipts") and (task.task_token or task.group):
        logger.info("Receipt arrived before the message id was recorded; applying it")
        apply_parked(book, aws.client("stepfunctions"),
                     Target(batch_id, recipient.endpoint_id, task.task_token, group=task.group), pointer["receipts"])
    return {"status": LedgerStatus.SENT.value, "provider_message_id": accepted.message_id}


def _finish_now(book: Ledger, task: SendTask, provider: str, outcome: SyncOutcome,
                message_id: str | None) -> dict[str, Any]:
    """The provider's answer is final (a synchronous outcome, an opt-out): record it and resume
    this endpoint's own task at once, with SendTaskSuccess and the endpoint's summary as output
    (the summary carries the status, FAILED or SKIPPED included; no receipt will come)."""
    batch_id, endpoint_id = task.context.batch_id, task.recipient.endpoint_id
    now = now_iso()
    applied, record = record_after_send(lambda: book.finish(
        batch_id,
        endpoint_id,
        LedgerStatus(outcome.status),
        reason=outcome.reason,
        receipt_status=outcome.receipt_status,
        extra={"provider_message_id": message_id, "sent_at": now if message_id else None},
        group=task.group,
    ))
    if not applied:
        logger.info("Endpoint already final; resuming from the ledger", extra={"status": record.get("status")})
    elif task.group:
        groups.settle(book, aws.client("stepfunctions"), record, counted=True)
    metrics.add_metric(name=f"Endpoints{str(record.get('status', '')).title().replace('_', '')}",
                       unit=MetricUnit.Count, value=1)
    if task.task_token:
        resume_with_result(book, aws.client("stepfunctions"), record, task.task_token)
    return result_from_record(record).summary()


class SendGroup(BaseModel):
    """"Send to every endpoint at once": the batch's sendable endpoints (each names its family's
    sender function) and this function's own name among them."""

    model_config = ConfigDict(extra="ignore")

    context: BatchContext
    sender: str
    recipients: list[dict[str, Any]]


# Sends in flight at once in one group: the providers' calls are I/O; the pace, not this, bounds the rate.
GROUP_WORKERS = 16


def _read_parts(book: Ledger, batch_id: str, recipients: list[RecipientRef]) -> dict[str, StoredRecipient]:
    """The recipients' addresses and profiles, each part read once; none when the read fails
    (throttled past its retries): each send then reads its own, as it would alone."""
    if not recipients:
        return {}
    try:
        return book.recipients_of(batch_id, {r.endpoint_id: r.part for r in recipients})
    except (ClientError, BotoCoreError) as error:
        logger.warning("The recipients' parts were not read at once; each send reads its own",
                       extra={"error_type": type(error).__name__})
        return {}


def send_group(group: SendGroup, settings: ProviderSettings, deadline: float | None = None) -> dict[str, int]:
    """Send every endpoint of this family that was not sent yet, concurrently and paced, with no
    task token: the tasks that wait for the receipts link their pointers afterwards. An endpoint
    that cannot be sent now is left, untouched or SENDING, to its own task, which sends it
    (and retries a throttled send for minutes, which an invocation cannot wait); a rejection is
    noted on the record, so that task fails it with the same error instead of sending again."""
    book = ledger()
    mine = [RecipientRef.model_validate(item) for item in group.recipients if item.get("sender") == group.sender]
    # Their addresses and profiles: each part read once, not once an endpoint.
    stored = _read_parts(book, group.context.batch_id, mine)

    def one(recipient: RecipientRef) -> str:
        logger.thread_safe_append_keys(endpoint_id=recipient.endpoint_id, channel=recipient.channel)
        config = settings.provider_for(recipient.channel)
        if config is None or (deadline is not None and deadline <= time.monotonic()):
            return "left"
        try:
            slot = take_slot(_with_callback(config), deadline)
            if slot is None:
                return "paced"
            outcome = send(SendTask(context=group.context, recipient=recipient), settings, deadline, slot=slot,
                           stored=stored.get(recipient.endpoint_id))
        except ProviderRejected as error:
            book.note(group.context.batch_id, recipient.endpoint_id, send_error=ProviderRejected.__name__,
                      send_error_cause=str(error)[:1000])
            return "rejected"
        except (ProviderThrottled, ProviderUnavailable):
            return "left"
        except (JourneyActivityError, ClientError) as error:
            # The endpoint's own task meets the same problem and fails with it, in its own history.
            logger.warning("Not sent at once; its own task will try", extra={"error": type(error).__name__})
            return "left"
        return "sent" if outcome.get("status") == LedgerStatus.SENT.value else "final"

    with ThreadPoolExecutor(max_workers=max(1, min(GROUP_WORKERS, len(mine)))) as pool:
        outcomes = list(pool.map(one, mine))
    counts = {kind: outcomes.count(kind) for kind in ("sent", "final", "paced", "left", "rejected")}
    for kind, count in counts.items():
        if count:
            metrics.add_metric(name=f"GroupSends{kind.title()}", unit=MetricUnit.Count, value=count)
    logger.info("Sent at once", extra=counts)
    return counts


class Group(BaseModel):
    """One group of group wait mode (Validate's ``$.groups`` item): endpoints of one channel family."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=GROUP_ID.pattern)
    label: str = ""
    sender: str
    recipients: list[RecipientRef] = Field(min_length=1)


class GroupTask(BaseModel):
    """"Send the group and wait for its delivery receipts" (and "Wait for the group's remaining
    receipts", ``wait_only``): the group's one waiting task."""

    model_config = ConfigDict(extra="ignore")

    task_token: str | None = None
    context: BatchContext
    group: Group
    receipt: ReceiptWindow | None = None
    retry_count: int = 0
    wait_only: bool = False


# What the state machine retries (the same names, and so the same Retry, as an endpoint's task),
# most urgent first: a group attempt that left endpoints for any of these fails with the first.
_LEFT_FOR_RETRY: tuple[type[ProviderError], ...] = (ProviderUnavailable, ProviderThrottled)


# A group's endpoint whose provider failed or throttled once is sent again after a pause in this
# range, once, within the attempt: a blip of one provider call then costs one call, not a retried
# attempt of the whole group (a billed transition and a new invocation reading the group again).
GROUP_BLIP_PAUSE_SECONDS = (0.5, 1.5)


def _send_again_after_a_blip(endpoint: SendTask, settings: ProviderSettings, deadline: float | None,
                             send_by: float | None, pause: Callable[[], float],
                             stored: StoredRecipient | None = None) -> dict[str, Any]:
    """:func:`send`, and once more after ``pause()`` seconds when the provider failed or throttled
    (5xx, 429, unreachable) and nothing may have reached it, if the pause ends within the group's
    send window and the invocation's deadline. The second send runs the same protocol (its own
    lease and attempt); a second failure is raised, left for the state machine's Retry."""
    try:
        return send(endpoint, settings, deadline, stored=stored)
    except _LEFT_FOR_RETRY as error:
        if getattr(error, "provider_may_have_it", False):
            raise
        wait = pause()
        limits = [limit for limit in (send_by, deadline) if limit is not None]
        if limits and time.monotonic() + wait >= min(limits):
            raise
        logger.info("Sending again after a provider blip", extra={"error_type": type(error).__name__,
                                                                    "pause_seconds": round(wait, 2)})
        time.sleep(wait)
    return send(endpoint, settings, deadline, stored=stored)


def group_send_seconds(task: GroupTask) -> float | None:
    """How long an attempt may send before it stops and lets the state machine retry the rest:
    half the wait's heartbeat and half its timeout, as a single endpoint's slot wait (receipts
    keep the group alive only once sent)."""
    return half_receipt_window(task.receipt)


def _done_earlier(book: Ledger, record: dict[str, Any] | None) -> str | None:
    """"final" or "sent" when an earlier attempt of the group finished this endpoint's part; None
    when this attempt must send it (or link it again: sent, but its pointer is not linked)."""
    if record is None:
        return None
    if is_final(record):
        return "final"
    if record.get("status") != LedgerStatus.SENT.value:
        return None
    provider, message_id = str(record.get("provider", "")), record.get("provider_message_id")
    if message_id:
        pointer = book.pointer(provider, str(message_id))
    elif record.get("outcome_unknown"):
        pointer = book.key_pointer(provider, idempotency_key(str(record["pk"]), str(record["sk"])))
    else:
        return None
    return "sent" if pointer and pointer.get("batch_id") and not pointer.get("receipts") else None


def send_and_wait_group(task: GroupTask, settings: ProviderSettings, deadline: float | None = None, *,
                        pause: Callable[[], float] | None = None) -> dict[str, Any]:
    """Send the group's endpoints that were not sent yet (concurrently, paced, each by the same
    protocol as an endpoint's own task), then leave the group's task open for its receipts:
    every writer of a final status counts its endpoint off the group, and the last resumes it
    (:mod:`journey_activity.groups`). A rejection, a bad template or a missing profile ends its
    endpoint FAILED at once, with the reason an endpoint's own task would have recorded; an
    endpoint the provider throttled or failed on is sent once more after a pause
    (``pause``, seconds; :data:`GROUP_BLIP_PAUSE_SECONDS` by default); when that fails too it is
    left, and the attempt fails with that error for the state machine's Retry, whose next attempt
    sends only what is left."""
    if pause is None:
        pause = functools.partial(random.uniform, *GROUP_BLIP_PAUSE_SECONDS)
    from journey_activity.handlers.record_outcome import classify

    book, batch_id, group = ledger(), task.context.batch_id, task.group
    sfn = aws.client("stepfunctions")
    book.open_group(batch_id, group.id, size=len(group.recipients), task_token=task.task_token, label=group.label)
    errors: list[Exception] = []
    counts = dict.fromkeys(("sent", "final", "failed", "left"), 0)
    if not task.wait_only:
        # Sends start within the window (half the heartbeat: see group_send_seconds); each provider
        # call then has its own timeout, bounded by the invocation's deadline only, as an
        # endpoint's own task's: a call cut short by the window would fail for want of time alone.
        window = group_send_seconds(task)
        send_by = None if window is None else time.monotonic() + window

        # A retried attempt reads its group once and leaves alone what an earlier attempt finished:
        # a final endpoint, and a sent one whose pointer is linked (its receipt finds it).
        earlier = {record["sk"]: record for record in book.group_records(batch_id, group.id)} \
            if task.retry_count else {}
        # The group's addresses and profiles: each of its parts read once, not once an endpoint.
        stored = _read_parts(book, batch_id, group.recipients)

        def one(recipient: RecipientRef) -> str:
            logger.thread_safe_append_keys(endpoint_id=recipient.endpoint_id, channel=recipient.channel)
            done = _done_earlier(book, earlier.get(recipient.endpoint_id))
            if done:
                return done
            if send_by is not None and time.monotonic() >= send_by:
                errors.append(ProviderThrottled("the group's send window is over", None))
                return "left"
            endpoint = SendTask(context=task.context, recipient=recipient, receipt=task.receipt, group=group.id,
                                retry_count=task.retry_count, send_by=send_by)
            try:
                outcome = _send_again_after_a_blip(endpoint, settings, deadline, send_by, pause,
                                                   stored.get(recipient.endpoint_id))
            except (ProviderRejected, TemplateError, ProfileMissing) as error:
                status, reason, detail = classify(type(error).__name__, str(error))
                applied, record = book.finish(batch_id, recipient.endpoint_id, status, reason=reason, error=detail,
                                              extra={"channel": recipient.channel}, group=group.id)
                if applied:
                    groups.settle(book, sfn, record, counted=True)
                return "failed"
            except Exception as error:
                errors.append(error)
                return "left"
            return "sent" if outcome.get("status") == LedgerStatus.SENT.value else "final"

        with ThreadPoolExecutor(max_workers=max(1, min(GROUP_WORKERS, len(group.recipients)))) as pool:
            for kind in pool.map(one, group.recipients):
                counts[kind] += 1
        for kind, count in counts.items():
            if count:
                metrics.add_metric(name=f"GroupEndpoints{kind.title()}", unit=MetricUnit.Count, value=count)
    logger.info("Group sent", extra={"group": group.id, **counts})
    if errors:
        for error_class in _LEFT_FOR_RETRY:
            first = next((error for error in errors if isinstance(error, error_class)), None)
            if first is not None:
                raise error_class(f"{counts['left']} of the group's endpoints left for a retry: {first}", None)
        raise errors[0]
    # Token then counter (open_group), so a last receipt before this attempt's token was written
    # is seen here: see journey_activity.ledger.groups.
    remaining = book.group_remaining(batch_id, group.id)
    if remaining is not None and remaining <= 0:
        groups.resume_if_complete(book, sfn, batch_id, group.id, token=task.task_token)
    return {"group": group.id, **counts}


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event.get("group"), dict):
        group_task = GroupTask.model_validate(event)
        logger.thread_safe_append_keys(batch_id=group_task.context.batch_id, group=group_task.group.id,
                                       attempt=group_task.retry_count + 1,
                                       sender=os.environ.get("SENDER_FAMILY", "http"))
        return send_and_wait_group(group_task, get_provider_settings(), send_deadline(context))
    if "recipients" in event:
        group = SendGroup.model_validate(event)
        logger.thread_safe_append_keys(batch_id=group.context.batch_id, sender=os.environ.get("SENDER_FAMILY", "http"))
        return send_group(group, get_provider_settings(), send_deadline(context))
    task = SendTask.model_validate(event)
    logger.thread_safe_append_keys(batch_id=task.context.batch_id, endpoint_id=task.recipient.endpoint_id,
                       channel=task.recipient.channel, attempt=task.retry_count + 1,
                       sender=os.environ.get("SENDER_FAMILY", "http"))
    # Sends and provider errors per channel (one endpoint per invocation).
    metrics.add_dimension(name="Channel", value=task.recipient.channel)
    return send(task, get_provider_settings(), send_deadline(context))
