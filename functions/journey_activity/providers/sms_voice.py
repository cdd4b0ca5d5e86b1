"""AWS End User Messaging SMS and voice v2: ``SendTextMessage`` (SMS) and ``SendVoiceMessage`` (VOICE).

Each message carries the configuration set whose event destination feeds the receipt queue, and
our idempotency key in ``Context`` (``{"ja_key": key}``), which every event record carries back
in ``context``. The message is the rendered template (for VOICE, text or SSML as configured).

Errors: ``ThrottlingException`` is retried (ProviderThrottled), ``InternalServerException`` and
other 5xx too (ProviderUnavailable); ``ConflictException`` with reason
``DESTINATION_PHONE_NUMBER_OPTED_OUT`` ends the endpoint SKIPPED opted_out (ProviderOptedOut);
every other 4xx (``ValidationException``, ``AccessDeniedException``, ``ResourceNotFoundException``,
``ServiceQuotaExceededException`` such as a spent monthly limit, other conflicts) is a rejection.

Outcomes arrive as event records (``eventType``, ``isFinal``, ``messageId``), normalized by
:func:`receipts_from`, every documented type mapped (:data:`EVENT_STATUS`). ``TEXT_SUCCESSFUL``
with ``isFinal`` delivers, as ``TEXT_DELIVERED`` does (carriers use either); a non-final one is
progress. ``VOICE_COMPLETED`` means the message was played.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity.errors import ProviderOptedOut, ProviderRejected
from journey_activity.models.channels import ChannelType
from journey_activity.providers.aws_sdk import check_time_left, error_code, error_status, from_sdk_error, sdk_client
from journey_activity.providers.base import SendRequest, SendResult
from journey_activity.receipts import Outcome, Receipt, classify
from journey_activity.settings.providers import SmsVoiceProviderConfig

KEY_CONTEXT = "ja_key"
THROTTLING = frozenset({"ThrottlingException"})
REJECTED = frozenset({"ValidationException", "AccessDeniedException", "ResourceNotFoundException",
                      "ServiceQuotaExceededException", "ConflictException"})
OPTED_OUT_REASON = "DESTINATION_PHONE_NUMBER_OPTED_OUT"

# eventType -> our receipt word (receipts.classify's vocabulary); "successful" is resolved by isFinal.
EVENT_STATUS: dict[str, str] = {
    # Text (SMS)
    "TEXT_PENDING": "pending",
    "TEXT_QUEUED": "queued",
    "TEXT_SENT": "sent",
    "TEXT_SUCCESSFUL": "successful",
    "TEXT_DELIVERED": "delivered",
    "TEXT_INVALID": "rejected",
    "TEXT_INVALID_MESSAGE": "rejected",
    "TEXT_UNREACHABLE": "undeliverable",
    "TEXT_CARRIER_UNREACHABLE": "undeliverable",
    "TEXT_BLOCKED": "blocked",
    "TEXT_CARRIER_BLOCKED": "blocked",
    "TEXT_SPAM": "blocked",
    "TEXT_PROTECT_BLOCKED": "blocked",
    # No final status from the carrier within 72 hours.
    "TEXT_UNKNOWN": "failed",
    "TEXT_TTL_EXPIRED": "expired",
    # Voice
    "VOICE_INITIATED": "initiated",
    "VOICE_RINGING": "ringing",
    "VOICE_ANSWERED": "answered",
    "VOICE_COMPLETED": "delivered",
    "VOICE_BUSY": "undelivered",
    "VOICE_NO_ANSWER": "undelivered",
    "VOICE_FAILED": "failed",
    "VOICE_TTL_EXPIRED": "expired",
    # Media (MMS): not sent by this activity, mapped so such events are understood.
    "MEDIA_PENDING": "pending",
    "MEDIA_QUEUED": "queued",
    "MEDIA_SUCCESSFUL": "successful",
    "MEDIA_DELIVERED": "delivered",
    "MEDIA_INVALID": "rejected",
    "MEDIA_INVALID_MESSAGE": "rejected",
    "MEDIA_UNREACHABLE": "undeliverable",
    "MEDIA_CARRIER_UNREACHABLE": "undeliverable",
    "MEDIA_BLOCKED": "blocked",
    "MEDIA_CARRIER_BLOCKED": "blocked",
    "MEDIA_SPAM": "blocked",
    "MEDIA_UNKNOWN": "failed",
    "MEDIA_TTL_EXPIRED": "expired",
    "MEDIA_FILE_INACCESSIBLE": "rejected",
    "MEDIA_FILE_TYPE_UNSUPPORTED": "rejected",
    "MEDIA_FILE_SIZE_EXCEEDED": "rejected",
    # RCS: not sent by this activity either. A fallback to SMS is progress: the SMS's own events
    # follow (uncertain whether under the same message id: waiting is the safe side).
    "RCS_QUEUED": "queued",
    "RCS_SENT": "sent",
    "RCS_DELIVERED": "delivered",
    "RCS_READ": "read",
    "RCS_FAILED": "failed",
    "RCS_TTL_EXPIRED": "expired",
    "RCS_PROTECT_BLOCKED": "blocked",
    "RCS_FALLEN_BACK_TO_SMS": "fallen_back_to_sms",
}


class SmsVoiceProvider:
    """``"type": "sms-voice"``: ``SendTextMessage`` for SMS, ``SendVoiceMessage`` for VOICE, with the
    configuration set whose events are the receipts (through the receipt queue)."""

    def __init__(self, config: SmsVoiceProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def parameters(self, request: SendRequest) -> tuple[str, dict[str, Any]]:
        """(operation, request) for the endpoint's channel (checked against botocore's model in the tests)."""
        body = request.message if isinstance(request.message, str) else _as_text(request.message)
        common: dict[str, Any] = {
            "DestinationPhoneNumber": request.address,
            "MessageBody": body,
            "ConfigurationSetName": self.config.configuration_set,
            "Context": {KEY_CONTEXT: request.idempotency_key},
        }
        if self.config.origination_identity:
            common["OriginationIdentity"] = self.config.origination_identity
        if self.config.time_to_live is not None:
            common["TimeToLive"] = self.config.time_to_live
        if self.config.protect_configuration_id:
            common["ProtectConfigurationId"] = self.config.protect_configuration_id
        if request.channel == ChannelType.VOICE:
            if not self.config.origination_identity:
                raise ProviderRejected("SendVoiceMessage needs an origination_identity (a voice-capable number)")
            common["MessageBodyTextType"] = self.config.message_body_text_type
            if self.config.voice_id:
                common["VoiceId"] = self.config.voice_id
            if self.config.max_price:
                common["MaxPricePerMinute"] = self.config.max_price
            return "send_voice_message", common
        common["MessageType"] = self.config.message_type
        if self.config.max_price:
            common["MaxPrice"] = self.config.max_price
        return "send_text_message", common

    def send(self, request: SendRequest) -> SendResult:
        operation, parameters = self.parameters(request)
        check_time_left(request.deadline)
        client = sdk_client("pinpoint-sms-voice-v2", self.config.region, self.config.timeout_seconds)
        try:
            answer = getattr(client, operation)(**parameters)
        except ClientError as error:
            reason = str(error.response.get("Reason") or error.response.get("Error", {}).get("Reason") or "")
            if error_code(error) == "ConflictException" and reason == OPTED_OUT_REASON:
                raise ProviderOptedOut(f"ConflictException: {reason}", error_status(error)) from None
            raise from_sdk_error(error, throttling=THROTTLING, rejected=REJECTED) from None
        except BotoCoreError as error:
            raise from_sdk_error(error, throttling=THROTTLING, rejected=REJECTED) from None
        return SendResult(message_id=str(answer["MessageId"]))


def _as_text(message: Any) -> str:
    """A JSON message's text: its "text" (or "body"); a subject has no place in an SMS."""
    if isinstance(message, Mapping):
        for field in ("text", "body"):
            if isinstance(message.get(field), str):
                return str(message[field])
    raise ProviderRejected('an SMS or voice message given as JSON needs a "text" (or "body") string')


def is_event(record: Mapping[str, Any]) -> bool:
    """An SMS, voice or media event record (configuration-set event destination)."""
    event_type = str(record.get("eventType", ""))
    return event_type.startswith(("TEXT_", "VOICE_", "MEDIA_", "RCS_")) and "messageId" in record


def receipts_from(record: Mapping[str, Any]) -> list[Receipt]:
    """The receipt in one event record (one message, one destination)."""
    event_type = str(record.get("eventType", ""))
    if event_type not in EVENT_STATUS or not record.get("messageId"):
        raise ValueError(f"not a known SMS and voice event record (eventType {event_type!r})")
    status = EVENT_STATUS[event_type]
    if status == "successful" and record.get("isFinal") is True:
        status = "delivered"
    context = record.get("context") or {}
    key = context.get(KEY_CONTEXT) if isinstance(context, Mapping) else None
    timestamp = record.get("eventTimestamp")
    failed = classify(status) is Outcome.FAILED
    return [Receipt(message_id=str(record["messageId"]), status=status,
                    timestamp=None if timestamp is None else str(timestamp),
                    error_code=event_type if failed else None,
                    detail=(str(record.get("messageStatusDescription") or "")[:1000] or None) if failed else None,
                    idempotency_key=key if isinstance(key, str) else None, provider_event=event_type)]
