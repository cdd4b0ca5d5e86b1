"""Callback-queue messages as the receipts API's SQS-SendMessage integration writes them
(template.yaml, ReceiptsIntegration), in the shape Lambda's SQS event gives them to the callback
function: the raw body, and each request part as a ``v=``-prefixed String attribute."""

from __future__ import annotations

import time
import uuid
from typing import Any

from journey_activity.handlers.callback import ATTRIBUTE_PREFIX


def _attribute(value: str) -> dict[str, Any]:
    return {"stringValue": ATTRIBUTE_PREFIX + value, "stringListValues": [], "binaryListValues": [],
            "dataType": "String"}


def queued(provider: str, body: str, headers: dict[str, str] | None = None, *, ja_key: str = "",
           domain: str = "api.example.com", sent_at: float | None = None) -> dict[str, Any]:
    """The record one ``POST /receipts/{provider}`` becomes (queued at ``sent_at``, default now)."""
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    parts = {"provider": provider, "signature": lowered.get("x-signature", ""),
             "timestamp": lowered.get("x-signature-timestamp", ""),
             "twilio_signature": lowered.get("x-twilio-signature", ""), "ja_key": ja_key, "domain": domain}
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle-" + uuid.uuid4().hex,
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1",
                       "SentTimestamp": str(int((time.time() if sent_at is None else sent_at) * 1000))},
        "messageAttributes": {name: _attribute(value) for name, value in parts.items()},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:journey-activity-CallbackQueue",
        "awsRegion": "us-east-1",
    }
