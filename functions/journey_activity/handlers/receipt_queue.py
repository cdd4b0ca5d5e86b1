"""The receipt queue's function: AWS providers' events (SES, SMS and voice), through SNS into SQS.

IAM authenticates every step (the configuration set publishes to the topic, the topic to the
queue, Lambda's event source mapping reads it), so nothing here checks a signature. Each queue
message becomes receipts (:mod:`journey_activity.provider_events`), each applied as a callback's
is: parked under the message id until the sender has recorded it, else recorded and the waiting
task resumed. A message that cannot be applied now (throttled, a DynamoDB error) or cannot be
read is reported in ``batchItemFailures``: the queue delivers it again, and after
``maxReceiveCount`` deliveries it is kept in the dead-letter queue. Nothing is lost.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity import aws, groups
from journey_activity.handlers._runtime import ledger, logger, metrics
from journey_activity.ledger import Ledger
from journey_activity.provider_events import NotAnEvent, parse
from journey_activity.receipts import Receipt, park_or_apply_retrying
from journey_activity.settings.providers import ProviderSettings, get_provider_settings


def provider_name(settings: ProviderSettings, kind: str) -> str:
    """The name the senders recorded this kind's message ids under (one per kind: see Settings)."""
    names = {config.name for config in settings.channel_providers.values()
             if config is not None and config.type == kind}
    return names.pop() if len(names) == 1 else kind


def apply(book: Ledger, provider: str, receipt: Receipt) -> str:
    """Park or apply one receipt; returns what happened (for the logs and metrics)."""
    result, _ = park_or_apply_retrying(book, aws.client("stepfunctions"), provider, receipt)
    return result


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_provider_settings()
    book = ledger()
    failures: list[dict[str, str]] = []
    # The batch's final statuses are counted once per batch and group, after its events (see
    # journey_activity.groups.flush_counts).
    batch = groups.CountedBatch(book, aws.client("stepfunctions"), context)
    for message_id, message in batch.messages(event):
        try:
            parsed = parse(str(message.get("body", "")))
        except NotAnEvent as error:
            # Kept, not dropped: redelivered until the dead-letter queue holds it for a person.
            logger.error("Not a provider event; left for the dead-letter queue",
                         extra={"sqs_message_id": message_id, "problem": str(error)})
            metrics.add_metric(name="ProviderEventsUnreadable", unit=MetricUnit.Count, value=1)
            failures.append({"itemIdentifier": message_id})
            continue
        provider = provider_name(settings, parsed.kind)
        try:
            for receipt in parsed.receipts:
                result = apply(book, provider, receipt)
                logger.info("Provider event applied", extra={
                    "provider": provider, "message_id": receipt.message_id, "event": receipt.provider_event,
                    "receipt_status": receipt.status, "result": result})
                metrics.add_metric(name=f"Receipts{result.title()}", unit=MetricUnit.Count, value=1)
        except Exception as error:  # any failure of one message is that message's: retried
            logger.warning("Provider event not applied; the queue delivers it again",
                           extra={"sqs_message_id": message_id, "error_type": type(error).__name__,
                                  "error": str(error)[:300]})
            failures.append({"itemIdentifier": message_id})
    failures = batch.left(failures)
    if failures:
        logger.info("Messages left on the queue", extra={"failed": len(failures),
                                                          "received": len(event.get("Records", []))})
    # Lambda deletes every message of the batch but these (ReportBatchItemFailures).
    return {"batchItemFailures": failures}

