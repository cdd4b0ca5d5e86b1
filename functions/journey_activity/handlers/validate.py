"""State "Validate endpoints": split the batch into endpoints to send and endpoints skipped.

The execution carries endpoint ids and flags only; the addresses are read from the ledger
(the invoker wrote them there before starting the execution), and only for the endpoints that
pass the checks that need none.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity.errors import ConfigurationError
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import Ledger
from journey_activity.models.batch import EndpointResult, ExecutionInput, LedgerStatus
from journey_activity.senders import family_for
from journey_activity.settings.validate import ValidateSettings, get_validate_settings
from journey_activity.validation import SkipReason, address_reason, flag_reason

PROFILE_MISSING_DETAIL = "the endpoint's address is not in the ledger (expired, or never written)"


def split(run: ExecutionInput, settings: ValidateSettings,
          book: Ledger) -> tuple[list[dict[str, Any]], list[EndpointResult]]:
    """``sendable`` holds each endpoint's id, channel and sender function (the Map's items)."""
    if not settings.sender_functions:
        raise ConfigurationError("SENDER_FUNCTIONS is not set: the state machine cannot choose a sender")
    verdicts: dict[str, tuple[SkipReason, str] | None] = {}
    for recipient in run.recipients:
        verdicts[recipient.endpoint_id] = flag_reason(recipient, settings)
    to_read = {r.endpoint_id: r.part for r in run.recipients if verdicts[r.endpoint_id] is None}
    addresses = book.recipient_addresses(run.context.batch_id, to_read) if to_read else {}
    sendable: list[dict[str, Any]] = []
    skipped: list[EndpointResult] = []
    for recipient in run.recipients:
        verdict = verdicts[recipient.endpoint_id]
        if verdict is None:
            address = addresses.get(recipient.endpoint_id)
            verdict = ((SkipReason.PROFILE_MISSING, PROFILE_MISSING_DETAIL) if address is None
                       else address_reason(recipient.channel, address, settings))
        if verdict is None:
            sendable.append({"endpoint_id": recipient.endpoint_id, "channel": recipient.channel,
                             "sender": settings.sender_functions[family_for(recipient.channel)],
                             **({"part": recipient.part} if recipient.part is not None else {})})
            continue
        reason, detail = verdict
        skipped.append(EndpointResult(endpoint_id=recipient.endpoint_id, channel=recipient.channel,
                                      status=LedgerStatus.SKIPPED, reason=reason.value, error=detail))
    return sendable, skipped


@throttling_is_retried
@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = ExecutionInput.model_validate(event)
    settings = get_validate_settings()
    logger.thread_safe_append_keys(batch_id=run.context.batch_id)
    book = ledger()
    sendable, skipped = split(run, settings, book)
    if skipped:
        book.record_skipped(run.context.batch_id, skipped)
    metrics.add_metric(name="EndpointsSkipped", unit=MetricUnit.Count, value=len(skipped))
    metrics.add_metric(name="EndpointsToSend", unit=MetricUnit.Count, value=len(sendable))
    logger.info("Validated batch", extra={"sendable": len(sendable), "skipped": len(skipped)})
    return {
        "context": run.context.model_dump(mode="json"),
        "sendable": sendable,
        # "Send to every endpoint at once" runs each of these functions once, over all of sendable
        # (objects, not bare ARNs: an item that is a string reads as an endpoint id in the view).
        "senders": [{"sender": sender} for sender in dict.fromkeys(item["sender"] for item in sendable)],
        "skipped": [result.summary() for result in skipped],
        "receipt": {
            "timeout_seconds": settings.receipt_timeout_seconds,
            "heartbeat_seconds": settings.receipt_heartbeat_seconds,
        },
    }
