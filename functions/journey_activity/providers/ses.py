"""Amazon SES v2 ``SendEmail`` for the EMAIL channel.

One recipient per message (the endpoint's address), sent with the configuration set whose event
destination feeds the receipt queue, and our idempotency key as the e-mail tag ``ja_key`` (ASCII
letters and digits: a valid tag value), which every event record carries back in ``mail.tags``.
The message is the rendered template: plain text (the subject from the provider's ``subject``),
or a JSON object ``{"subject", "text" (or "body"), "html"}`` (at least one of text and html).

Outcomes arrive as SES event records (``eventType``), normalized by :func:`receipts_from`:
``Delivery`` delivers; ``Bounce``, ``Reject`` and ``Rendering Failure`` fail (a bounce because the
address is on the account's suppression list is ``opted_out``, SKIPPED); ``Send``,
``DeliveryDelay`` and ``Subscription`` are progress (heartbeats); ``Complaint``, ``Open`` and
``Click`` prove the message was delivered, so they deliver too and, being final only once, never
turn a delivery into a failure, in whatever order they come.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity.errors import ProviderRejected
from journey_activity.providers.aws_sdk import check_time_left, from_sdk_error, sdk_client
from journey_activity.providers.base import SendRequest, SendResult
from journey_activity.receipts import Receipt
from journey_activity.settings.providers import SesProviderConfig

KEY_TAG = "ja_key"
THROTTLING = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
# LimitExceededException is "too many resources", not a rate: botocore lists it among throttling
# codes, but retrying cannot help.
REJECTED = frozenset({"MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException",
                      "SendingPausedException", "NotFoundException", "BadRequestException",
                      "LimitExceededException", "AccessDeniedException"})
# SES event type -> our receipt word (receipts.classify's vocabulary).
EVENT_STATUS: dict[str, str] = {
    "Send": "sent",
    "Delivery": "delivered",
    "Bounce": "bounced",
    "Reject": "rejected",
    "Rendering Failure": "rendering_failed",
    "DeliveryDelay": "delivery_delayed",
    "Subscription": "subscription",
    "Complaint": "complaint",
    "Open": "opened",
    "Click": "clicked",
}
SUPPRESSED_SUBTYPES = frozenset({"OnAccountSuppressionList"})


def _content(message: Any, default_subject: str) -> dict[str, Any]:
    if isinstance(message, Mapping):
        subject = str(message.get("subject") or default_subject)
        text = message.get("text") or message.get("body")
        body = {kind: {"Data": str(value), "Charset": "UTF-8"}
                for kind, value in (("Text", text), ("Html", message.get("html"))) if value}
        if not body:
            raise ProviderRejected('an e-mail message given as JSON needs "text" (or "body") or "html"')
    else:
        subject = default_subject
        body = {"Text": {"Data": "" if message is None else str(message), "Charset": "UTF-8"}}
    if not subject:
        raise ProviderRejected('the e-mail has no subject: set "subject" on the SES provider or send '
                               'a JSON message {"subject", "text", "html"}')
    return {"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}}


class SesProvider:
    """``"type": "ses"``: SES v2 ``SendEmail``, one recipient, the configuration set whose events
    are the receipts (through the receipt queue)."""

    def __init__(self, config: SesProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def send_email_parameters(self, request: SendRequest) -> dict[str, Any]:
        """The SendEmail request (checked against botocore's service model in the tests)."""
        parameters: dict[str, Any] = {
            "FromEmailAddress": self.config.from_address,
            "Destination": {"ToAddresses": [request.address]},
            "Content": _content(request.message, self.config.subject),
            "ConfigurationSetName": self.config.configuration_set,
            "EmailTags": [{"Name": KEY_TAG, "Value": request.idempotency_key}],
        }
        if self.config.from_identity_arn:
            parameters["FromEmailAddressIdentityArn"] = self.config.from_identity_arn
        if self.config.reply_to:
            parameters["ReplyToAddresses"] = list(self.config.reply_to)
        return parameters

    def send(self, request: SendRequest) -> SendResult:
        parameters = self.send_email_parameters(request)
        check_time_left(request.deadline)
        client = sdk_client("sesv2", self.config.region, self.config.timeout_seconds)
        try:
            answer = client.send_email(**parameters)
        except (ClientError, BotoCoreError) as error:
            raise from_sdk_error(error, throttling=THROTTLING, rejected=REJECTED) from None
        return SendResult(message_id=str(answer["MessageId"]))


def is_event(record: Mapping[str, Any]) -> bool:
    """An SES event record (configuration-set event publishing)."""
    return isinstance(record.get("mail"), Mapping) and "eventType" in record


def receipts_from(record: Mapping[str, Any]) -> list[Receipt]:
    """The receipts in one SES event record: one per recipient it names (a message has one)."""
    event_type = str(record.get("eventType", ""))
    mail = record.get("mail") or {}
    if event_type not in EVENT_STATUS or not isinstance(mail, Mapping) or not mail.get("messageId"):
        raise ValueError(f"not an SES event record (eventType {event_type!r})")
    status = EVENT_STATUS[event_type]
    detail: dict[str, Any] = record.get(_detail_field(event_type)) or {}
    error_code: str | None = None
    timestamp = detail.get("timestamp") or mail.get("timestamp")
    if event_type == "Bounce":
        error_code = f"{detail.get('bounceType', '')}/{detail.get('bounceSubType', '')}"
        if detail.get("bounceSubType") in SUPPRESSED_SUBTYPES:
            status = "opted_out"
    elif event_type == "Reject":
        error_code = str(detail.get("reason") or "") or None
    elif event_type == "Rendering Failure":
        error_code = str(detail.get("errorMessage") or "")[:256] or None
    elif event_type == "DeliveryDelay":
        error_code = str(detail.get("delayType") or "") or None
    tags = mail.get("tags") or {}
    keys = tags.get(KEY_TAG) if isinstance(tags, Mapping) else None
    key = keys[0] if isinstance(keys, list) and keys else None
    receipt = Receipt(message_id=str(mail["messageId"]), status=status, timestamp=timestamp,
                      error_code=error_code, idempotency_key=key, provider_event=event_type)
    return [receipt]


def _detail_field(event_type: str) -> str:
    """Where the record keeps the event's own detail (``deliveryDelay``, ``failure``...)."""
    return {"Rendering Failure": "failure", "DeliveryDelay": "deliveryDelay"}.get(
        event_type, event_type[:1].lower() + event_type[1:])
