"""The function Pinpoint invokes: start the batch's execution, answer with what is known in time.

Pinpoint waits at most 15 s and may retry a slow or failed call, so the execution name is
derived from the batch: a retry joins the execution already running (or finished) and
sends nothing twice. The answer holds every input endpoint exactly once; endpoints with
no final status by the deadline are ``PENDING`` (their outcome reaches Pinpoint later as
engagement events).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity.compile import compile_batch
from journey_activity.config import Settings, get_settings
from journey_activity.errors import ConfigurationError, PayloadError
from journey_activity.handlers._runtime import ledger, logger
from journey_activity.ledger import (
    MAX_TEMPLATE_BYTES,
    TEMPLATE_SK,
    Ledger,
    key_problem,
    pack_recipient,
    recipient_problem,
    result_from_record,
)
from journey_activity.models.batch import Batch, EndpointResult, ExecutionInput, LedgerStatus
from journey_activity.triggers import pinpoint

MAX_EXECUTION_INPUT_BYTES = 256 * 1024
# See peak_state_bytes: a compiled result (≈ 600 bytes) and its EventAttributes (5 x 2 x 128
# characters at most), rounded up; an endpoint id appears in the input, the Map's items and
# results, and Compile's results and attributes.
STATE_BYTES_PER_ENDPOINT = 2048
_ID_COPIES = 5
# A template larger than this travels by reference (in the ledger), not through every state.
INLINE_TEMPLATE_BYTES = 8 * 1024
_DESCRIBE_EVERY_SECONDS = 1.0
_CLOSED_RUN_FAILURES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


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


def keep_recipients(batch: Batch) -> tuple[Batch, dict[str, bytes]]:
    """Pack what the steps read of each endpoint that may be sent (address and profile) for the
    ledger; an endpoint the ledger cannot keep is skipped as invalid, with the reason."""
    packed: dict[str, bytes] = {}
    recipients = []
    for recipient in batch.recipients:
        if not recipient.endpoint_id:
            # No ledger item can be keyed by an empty id; the endpoint is answered, skipped.
            recipient = recipient.model_copy(update={"invalid": recipient.invalid or "the endpoint id is empty"})
        if recipient.invalid or recipient.opted_out or not recipient.active:
            recipients.append(recipient)
            continue
        data = pack_recipient(recipient)
        problem = recipient_problem(data)
        if problem:
            recipient = recipient.model_copy(update={"invalid": problem})
        else:
            packed[recipient.endpoint_id] = data
        recipients.append(recipient)
    return batch.model_copy(update={"recipients": recipients}), packed


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
    batch, packed = keep_recipients(batch)
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
    if packed:
        book.put_recipients(batch.context.batch_id, packed)
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


def close_open_endpoints(book: Ledger, batch: Batch, final: Iterable[str], status: str) -> dict[str, EndpointResult]:
    """The execution ended (failed, timed out, aborted) with endpoints still open: they end ``FAILED``
    in the ledger, as FinalizeFunction does; whichever of the two writes first, both answer the same."""
    done, closed = set(final), {}
    for recipient in batch.recipients:
        if recipient.endpoint_id in done:
            continue
        _, record = book.finish(batch.context.batch_id, recipient.endpoint_id, LedgerStatus.FAILED,
                                reason=f"execution_{status.lower()}", error=f"the execution ended {status}",
                                extra={"channel": recipient.channel})
        closed[recipient.endpoint_id] = result_from_record(record)
    return closed


def wait_for_results(book: Ledger, batch: Batch, arn: str, deadline: float) -> dict[str, EndpointResult]:
    """Poll the ledger until every endpoint is final or the deadline passes. A final status
    never changes: each poll asks only for the endpoints that became final since the last."""
    wanted = {r.endpoint_id for r in batch.recipients}
    results: dict[str, EndpointResult] = {}
    pause, next_describe = 0.05, time.monotonic() + _DESCRIBE_EVERY_SECONDS
    while True:
        records = book.final_results(batch.context.batch_id, known=results.keys())
        results.update({eid: result_from_record(rec) for eid, rec in records.items() if eid in wanted})
        if wanted <= results.keys():
            return results
        now = time.monotonic()
        if now >= next_describe:
            next_describe = now + _DESCRIBE_EVERY_SECONDS
            status = aws.client("stepfunctions").describe_execution(executionArn=arn)["status"]
            if status in _CLOSED_RUN_FAILURES:
                logger.error("The batch's execution ended without every outcome", extra={"status": status})
                return {**results, **close_open_endpoints(book, batch, results.keys(), status)}
        if now + pause >= deadline:
            return results
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


def _deadline(settings: Settings, context: LambdaContext | None, started: float) -> float:
    budget = settings.invoker_deadline_seconds
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        # Leave a second to compile and answer before the function itself times out.
        budget = min(budget, remaining() / 1000 - 1.0)
    return started + max(budget, 0.0)


def error_response(kind: str, message: str) -> dict[str, Any]:
    """Pinpoint ignores keys that are not its endpoint ids; people and logs read this one."""
    return {"error": {"type": kind, "message": message}}


@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    started = time.monotonic()
    try:
        batch = pinpoint.to_batch(event)
        settings = get_settings()
        logger.thread_safe_append_keys(batch_id=batch.context.batch_id)
        arn = start(batch, settings)
    except PayloadError as error:
        logger.error("Unusable payload", extra={"error": str(error)})
        return error_response("PayloadError", str(error))
    except ConfigurationError as error:
        logger.error("Invalid configuration", extra={"error": str(error)})
        return error_response("ConfigurationError", str(error))
    results = wait_for_results(ledger(), batch, arn, _deadline(settings, context, started))
    pending = len(batch.recipients) - len(results)
    logger.info("Answering", extra={"endpoints": len(batch.recipients), "pending": pending,
                                    "seconds": round(time.monotonic() - started, 3)})
    return pinpoint.to_response(compile_batch(batch.recipients, results, settings.event_attributes))
