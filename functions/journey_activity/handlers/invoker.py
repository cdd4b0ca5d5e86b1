"""The function a journey invokes: start the batch's execution, answer with what is known in time.

The trigger (Pinpoint's custom channel, Amazon Connect's custom action) is recognized by the
event's shape (:mod:`journey_activity.triggers`). A slow or failed call can be retried, so the
execution name is derived from the batch: a retry joins the execution already running (or
finished) and sends nothing twice; endpoints carrying the trigger's idempotency key (Connect's
``IdempotencyToken``) are also claimed in the ledger, so a retry that regroups them sends none
twice (:mod:`journey_activity.claims`). The answer holds every input endpoint exactly once;
endpoints with no final status by the deadline are ``PENDING`` (their outcome arrives later as
engagement events).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from journey_activity import aws, claims, triggers
from journey_activity.compile import compile_batch
from journey_activity.config import Settings, get_settings
from journey_activity.errors import ConfigurationError, PayloadError, StartUnavailable
from journey_activity.handlers._runtime import ledger, logger, throttling_is_retried
from journey_activity.ledger import (
    MAX_TEMPLATE_BYTES,
    TEMPLATE_SK,
    Ledger,
    key_problem,
    pack_recipient,
    recipient_problem,
    result_from_record,
)
from journey_activity.models.batch import Batch, EndpointResult, ExecutionInput, LedgerStatus, Recipient
from journey_activity.transient import error_code, is_transient

MAX_EXECUTION_INPUT_BYTES = 256 * 1024
# See peak_state_bytes: a compiled result (≈ 600 bytes) and its EventAttributes (5 x 2 x 128
# characters at most), rounded up; an endpoint id appears in the input, the Map's items and
# results, and Compile's results and attributes.
STATE_BYTES_PER_ENDPOINT = 2048
_ID_COPIES = 5
# A template larger than this travels by reference (in the ledger), not through every state.
INLINE_TEMPLATE_BYTES = 8 * 1024
_CLOSED_RUN_FAILURES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# Polling: one GetItem of the batch's progress version per pause (1 read unit), growing from
# the first to the last pause; the batch's partition is queried only when the version moved.
_FIRST_PAUSE_SECONDS, _LAST_PAUSE_SECONDS = 0.05, 0.25
# The one look at the execution (DescribeExecution) comes this long before the deadline.
_LOOK_BEFORE_DEADLINE_SECONDS = 1.0
# A throttled start is tried again after a pause growing to this, while the deadline allows.
_START_RETRY_MAX_PAUSE_SECONDS = 1.0


def execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def peak_state_bytes(run: ExecutionInput) -> int:
    """A bound on the largest state of the batch's execution (Compile's output): the context,
    and per endpoint its id a few times, its flags and a compiled result with EventAttributes."""
    context = len(run.context.model_dump_json().encode())
    return context + sum(
        _ID_COPIES * len(r.endpoint_id.encode()) + len((r.invalid or "").encode()) + STATE_BYTES_PER_ENDPOINT
        for r in run.recipients
    )


def keep_recipients(batch: Batch) -> tuple[Batch, dict[str, Recipient]]:
    """The endpoints that may be sent, whose address and profile the ledger keeps for the steps;
    an endpoint the ledger cannot keep is skipped as invalid, with the reason."""
    kept: dict[str, Recipient] = {}
    recipients = []
    for recipient in batch.recipients:
        if not recipient.endpoint_id:
            # No ledger item can be keyed by an empty id; the endpoint is answered, skipped.
            recipient = recipient.model_copy(update={"invalid": recipient.invalid or "the endpoint id is empty"})
        if recipient.invalid or recipient.opted_out or not recipient.active:
            recipients.append(recipient)
            continue
        problem = recipient_problem(pack_recipient(recipient))
        if problem:
            recipient = recipient.model_copy(update={"invalid": problem})
        else:
            kept[recipient.endpoint_id] = recipient
        recipients.append(recipient)
    return batch.model_copy(update={"recipients": recipients}), kept


def start(batch: Batch, settings: Settings) -> str:
    """Start (or join) the batch's execution; returns its ARN.

    What the steps need of each endpoint goes into the ledger first; the execution carries
    ids, channels and flags only. Every write is keyed by the batch id, which the payload
    determines, so a retried invocation rewrites the same items and joins the same execution.
    """
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    for recipient in batch.recipients:
        problem = key_problem(recipient.endpoint_id)
        if problem:
            raise PayloadError(f"{problem} (one starts {recipient.endpoint_id[:40]!r})")
    template = batch.context.template or ""
    large_template = len(template.encode()) > INLINE_TEMPLATE_BYTES
    if large_template:
        if len(template.encode()) > MAX_TEMPLATE_BYTES:
            raise PayloadError(f"Data is {len(template.encode())} bytes; at most {MAX_TEMPLATE_BYTES} are supported")
        batch = batch.model_copy(
            update={"context": batch.context.model_copy(update={"template": None, "template_ref": TEMPLATE_SK})}
        )
    batch, kept = keep_recipients(batch)
    run = batch.execution_input()
    peak = peak_state_bytes(run)
    if peak > MAX_EXECUTION_INPUT_BYTES:
        raise PayloadError(
            f"the batch's endpoint ids would make its states about {peak} bytes, above Step Functions' "
            "256 KiB payload limit; send fewer endpoints or shorter ids"
        )
    book = ledger()
    if large_template:
        book.put_template(batch.context.batch_id, template)
    if kept:
        parts = book.put_recipients(batch.context.batch_id, kept)
        run = run.model_copy(update={"recipients": [
            r.model_copy(update={"part": parts.get(r.endpoint_id)}) for r in run.recipients]})
    name = batch.context.batch_id
    try:
        response = aws.client("stepfunctions").start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=run.model_dump_json()
        )
        return str(response["executionArn"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("The batch's execution already exists; joining it (a retried invocation)")
        return execution_arn(settings.state_machine_arn, name)


def start_before(deadline: float, batch: Batch, settings: Settings) -> str:
    """:func:`start`, tried again while AWS throttles it (or answers 5xx) and the deadline allows.

    Safe to repeat: every write ``start`` makes is keyed by the batch id, and StartExecution with
    the same name and input joins the running execution (``ExecutionAlreadyExists`` once it has
    closed), so a repeat, here or by the journey, never sends twice. When the deadline passes
    with nothing started, the invocation fails with :class:`StartUnavailable`: no endpoint is
    in flight, so answering ``PENDING`` would promise outcomes that never come, while a failed
    invocation is retried by the journey (Pinpoint) or fails the batch visibly (Connect).
    """
    pause, attempts = 0.1, 0
    while True:
        attempts += 1
        try:
            return start(batch, settings)
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                raise
            left = deadline - time.monotonic()
            logger.warning("Starting the batch's execution failed; trying again", extra={
                "error_code": error_code(error), "attempt": attempts, "seconds_left": round(left, 3)})
            if left <= pause:
                raise StartUnavailable(
                    f"AWS refused to start the batch's execution ({error_code(error)}) for {attempts} attempts "
                    "until the deadline; nothing was sent. Retrying the same invocation is safe: it sends "
                    "nothing twice") from error
            time.sleep(pause)
            pause = min(pause * 2, _START_RETRY_MAX_PAUSE_SECONDS)


def close_open_endpoints(book: Ledger, batch: Batch, final: Iterable[str], status: str) -> dict[str, EndpointResult]:
    """The execution ended (failed, timed out, aborted) with endpoints still open: they end ``FAILED``
    in the ledger, as FinalizeFunction does; whichever of the two writes first, both answer the same.
    A write that fails leaves its endpoint out (``PENDING``): FinalizeFunction closes it."""
    done, closed = set(final), {}
    for recipient in batch.recipients:
        if recipient.endpoint_id in done:
            continue
        try:
            _, record = book.finish(batch.context.batch_id, recipient.endpoint_id, LedgerStatus.FAILED,
                                    reason=f"execution_{status.lower()}", error=f"the execution ended {status}",
                                    extra={"channel": recipient.channel})
        except (ClientError, BotoCoreError) as error:
            logger.warning("An endpoint of the ended execution was left PENDING", extra={
                "endpoint_id": recipient.endpoint_id, "error_code": error_code(error)})
            continue
        closed[recipient.endpoint_id] = result_from_record(record)
    return closed


class _Poll:
    """What one invocation knows of its batch: the final results read so far, the progress
    version they were read at, and whether the ledger can still be read at all."""

    def __init__(self, book: Ledger, batch: Batch) -> None:
        self.book, self.batch_id = book, batch.context.batch_id
        self.wanted = {r.endpoint_id for r in batch.recipients}
        self.results: dict[str, EndpointResult] = {}
        self.version = 0
        self.readable = True

    @property
    def complete(self) -> bool:
        return self.wanted <= self.results.keys()

    def read(self, *, whatever_the_version: bool = False) -> None:
        """One small read of the progress version; the partition only when it moved (or when
        asked to look regardless). Any failure keeps what is known; a failure that waiting will
        not cure (access denied, no table) stops further reads."""
        if not self.readable:
            return
        try:
            version = self.book.progress(self.batch_id)
            if version == self.version and not whatever_the_version:
                return
            records = self.book.final_results(self.batch_id, known=self.results.keys())
        except (ClientError, BotoCoreError) as error:
            self.readable = is_transient(error)
            logger.warning("Reading the ledger failed; answering what is known", extra={
                "error_code": error_code(error), "will_retry": self.readable})
            return
        # The version is taken only once the records it counts were read.
        self.version = max(self.version, version)
        self.results.update({eid: result_from_record(rec) for eid, rec in records.items() if eid in self.wanted})


def look_at_execution(arn: str) -> str | None:
    """The execution's status, or None when it cannot be told (throttled, failed): never raises."""
    try:
        return str(aws.client("stepfunctions").describe_execution(executionArn=arn)["status"])
    except (ClientError, BotoCoreError) as error:
        logger.warning("Could not look at the batch's execution", extra={"error_code": error_code(error)})
        return None


def wait_for_results(book: Ledger, batch: Batch, arn: str, deadline: float) -> dict[str, EndpointResult]:
    """Wait until every endpoint is final in the ledger or the deadline passes.

    Each poll reads the batch's progress version (one small item); the partition is read only
    when the version moved, and then only the endpoints newly final. FinalizeFunction writes the
    outcome of an execution that failed, timed out or was aborted into the ledger, so there is
    no DescribeExecution per poll: one look, shortly before the deadline and only while
    endpoints are still open, closes the endpoints of an execution that ended before the
    finalizer ran, with one read of the partition whatever the version (a writer that stopped
    between its record and the version is answered then). Nothing here raises: an endpoint not
    known final by the deadline is answered ``PENDING``.
    """
    poll = _Poll(book, batch)
    pause, looked = _FIRST_PAUSE_SECONDS, False
    while True:
        poll.read()
        if poll.complete or not poll.readable:
            return poll.results
        now = time.monotonic()
        if not looked and now + pause >= deadline - _LOOK_BEFORE_DEADLINE_SECONDS:
            looked = True
            poll.read(whatever_the_version=True)
            if poll.complete:
                return poll.results
            status = look_at_execution(arn)
            if status in _CLOSED_RUN_FAILURES:
                logger.error("The batch's execution ended without every outcome", extra={"status": status})
                return {**poll.results, **close_open_endpoints(book, batch, poll.results.keys(), str(status))}
        if now + pause >= deadline:
            return poll.results
        time.sleep(pause)
        pause = min(pause * 1.5, _LAST_PAUSE_SECONDS)


def _deadline(settings: Settings, context: LambdaContext | None, started: float) -> float:
    budget = settings.invoker_deadline_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        # Leave a second to compile and answer before the function itself times out.
        budget = min(budget, remaining() / 1000 - 1.0)
    return started + max(budget, 0.0)


def error_response(kind: str, message: str) -> dict[str, Any]:
    """An unusable payload or configuration: no trigger can use an answer, people and logs read this one."""
    return {"error": {"type": kind, "message": message}}


@throttling_is_retried
@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> Any:
    started = time.monotonic()
    try:
        adapter = triggers.adapter_for(event)
        settings = get_settings()
        batch = adapter.to_batch(event, settings)
        logger.thread_safe_append_keys(batch_id=batch.context.batch_id)
        if not batch.recipients:
            logger.info("Answering an empty batch")
            return adapter.to_response(batch, {})
        if not settings.state_machine_arn:
            raise ConfigurationError("STATE_MACHINE_ARN is not set")
        deadline = _deadline(settings, context, started)
        plan = claims.plan(ledger(), batch, claims.execution_exists(settings.state_machine_arn), deadline)
        arn = start_before(deadline, plan.batch, settings) if plan.batch.recipients else None
    except PayloadError as error:
        logger.error("Unusable payload", extra={"error": str(error)})
        return error_response("PayloadError", str(error))
    except ConfigurationError as error:
        logger.error("Invalid configuration", extra={"error": str(error)})
        return error_response("ConfigurationError", str(error))
    if plan.foreign:
        logger.info("Endpoints another execution sends are answered with its outcome",
                    extra={"foreign": len(plan.foreign), "execution": plan.batch.context.batch_id})
    results = wait_for_results(ledger(), plan.batch, arn, deadline) if arn else {}
    results.update(claims.foreign_results(ledger(), plan.foreign, deadline))
    pending = len(batch.recipients) - len(results)
    logger.info("Answering", extra={"endpoints": len(batch.recipients), "pending": pending,
                                    "seconds": round(time.monotonic() - started, 3)})
    return adapter.to_response(batch, compile_batch(batch.recipients, results, settings.event_attributes))
