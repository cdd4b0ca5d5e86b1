"""State "Validate endpoints": split the batch into endpoints to send and endpoints skipped.

The execution carries endpoint ids and flags only; the addresses are read from the ledger
(the invoker wrote them there before starting the execution), and only for the endpoints that
pass the checks that need none.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity.errors import ConfigurationError
from journey_activity.handlers._runtime import ledger, logger, metrics, throttling_is_retried
from journey_activity.ledger import Ledger
from journey_activity.models.batch import EndpointResult, LedgerStatus
from journey_activity.models.execution import ExecutionInput
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


# Group mode: a group's endpoint references, as JSON, at most this many bytes (a reference is
# some 200 bytes; 100 of them are about 20 KB): the group travels in the Map's state and in its
# sender's payload, both limited to 256 KB with the batch's context and the task token.
GROUP_BYTES = 64_000
_CHANNEL_NAMES = {"EMAIL": "e-mail", "SMS": "SMS", "VOICE": "voice", "CUSTOM": "HTTP", "IN_APP": "in-app"}


def _label(recipients: list[dict[str, Any]]) -> str:
    """"Send SMS (48 endpoints)": what the group's task shows in the console and the view."""
    names = list(dict.fromkeys(_CHANNEL_NAMES.get(r["channel"], "push") for r in recipients))
    count = len(recipients)
    return f"Send {' and '.join(names)} ({count} endpoint{'s' if count != 1 else ''})"


def make_groups(sendable: list[dict[str, Any]], size: int, max_bytes: int = GROUP_BYTES) -> list[dict[str, Any]]:
    """Group mode's groups: the sendable endpoints of one sender function (channel family), in
    the batch's order, in chunks of at most ``size`` endpoints and ``max_bytes`` of JSON."""
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for item in sendable:
        by_sender.setdefault(item["sender"], []).append(item)
    groups: list[dict[str, Any]] = []
    for sender, items in by_sender.items():
        chunk: list[dict[str, Any]] = []
        chunk_bytes = 0
        for item in items:
            item_bytes = len(json.dumps(item)) + 1
            if chunk and (len(chunk) >= size or chunk_bytes + item_bytes > max_bytes):
                groups.append({"id": f"g{len(groups)}", "label": _label(chunk), "sender": sender,
                               "recipients": chunk})
                chunk, chunk_bytes = [], 0
            chunk.append(item)
            chunk_bytes += item_bytes
        if chunk:
            groups.append({"id": f"g{len(groups)}", "label": _label(chunk), "sender": sender, "recipients": chunk})
    return groups


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
    wait_mode = run.context.wait_mode or settings.wait_mode
    group_mode = wait_mode == "group"
    return {
        "context": run.context.model_dump(mode="json"),
        "wait_mode": wait_mode,
        "sendable": sendable,
        # Group mode: what "Send to each group" maps over (every sendable endpoint is in one group).
        **({"groups": make_groups(sendable, settings.group_size)} if group_mode else {}),
        # "Send to every endpoint at once" runs each of these functions once, over all of sendable
        # (objects, not bare ARNs: an item that is a string reads as an endpoint id in the view).
        "senders": [{"sender": sender} for sender in dict.fromkeys(item["sender"] for item in sendable)],
        "skipped": [result.summary() for result in skipped],
        "receipt": {
            "timeout_seconds": settings.receipt_timeout_seconds,
            "heartbeat_seconds": settings.receipt_heartbeat_seconds,
        },
    }
