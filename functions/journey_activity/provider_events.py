"""AWS providers' outcome events as the receipt queue holds them, turned into receipts.

SES and End User Messaging SMS and voice publish each event to the configuration set's SNS
topic; the topic delivers to the receipt queue. A queue message's body is then the SNS envelope
(``{"Type": "Notification", "Message": "<the event record as a JSON string>", ...}``), or the bare
record when the subscription uses raw message delivery, or an EventBridge event whose
``detail`` is the record (an EventBridge rule targeting the queue). Each record is normalized by
its provider's own module (:func:`journey_activity.providers.ses.receipts_from`,
:func:`journey_activity.providers.sms_voice.receipts_from`) into one or more receipts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from journey_activity.receipts import Receipt


class NotAnEvent(ValueError):  # noqa: N818 - says what the body is not
    """The queue message is not a provider event this function knows."""


@dataclass(frozen=True)
class ProviderEvent:
    kind: str  # the provider type: "ses" or "sms-voice"
    receipts: list[Receipt]


def _record(body: str) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except (TypeError, ValueError) as error:
        raise NotAnEvent(f"the message body is not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise NotAnEvent("the message body is not a JSON object")
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        try:
            document = json.loads(document["Message"])
        except ValueError as error:
            raise NotAnEvent(f"the SNS notification's Message is not JSON: {error}") from None
    elif isinstance(document.get("detail"), Mapping) and str(document.get("source", "")).startswith("aws."):
        document = document["detail"]
    if not isinstance(document, Mapping):
        raise NotAnEvent("the event record is not a JSON object")
    return document


def parse(body: str) -> ProviderEvent:
    """The receipts in one queue message; :class:`NotAnEvent` says why there are none."""
    from journey_activity.providers import ses, sms_voice

    record = _record(body)
    try:
        if ses.is_event(record):
            return ProviderEvent("ses", ses.receipts_from(record))
        if sms_voice.is_event(record):
            return ProviderEvent("sms-voice", sms_voice.receipts_from(record))
    except ValueError as error:
        raise NotAnEvent(str(error)) from None
    raise NotAnEvent("neither an SES nor an SMS and voice event record")
