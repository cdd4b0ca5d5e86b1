"""AWS End User Messaging Push: ``SendMessages`` to one device token per call (GCM, APNS, ADM, BAIDU...).

The call (``POST /v1/apps/{application-id}/messages``) sends to the raw token in
``MessageRequest.Addresses`` with the endpoint's channel type; the message is the rendered template,
as ``DefaultPushNotificationMessage`` (a string is the body; JSON gives ``title``, ``body`` or
``text``, ``data``, ``url``, ``action``, ``silent_push``). Our idempotency key travels in the
address's ``Context`` and as the request's ``TraceId``.

**The outcome is synchronous**: the answer's ``Result[token].DeliveryStatus`` is what FCM, APNs...
said, and no per-message event ever follows. So the sender records the outcome and resumes its own
task at once (:class:`SyncOutcome`); nothing waits for a receipt:

- ``SUCCESSFUL``: DELIVERED (the push service accepted the message for the device);
- ``OPT_OUT``: SKIPPED ``opted_out``;
- ``PERMANENT_FAILURE`` (a stale or invalid token...): FAILED ``permanent_failure``;
- ``DUPLICATE`` (the address twice in one request, which one address per call rules out): FAILED;
- ``THROTTLED``: ProviderThrottled and ``TEMPORARY_FAILURE``: ProviderUnavailable, retried by the
  state machine (the push service did not take the message);
- ``UNKNOWN_FAILURE`` and ``TIMEOUT`` (the docs list it; botocore's enum does not): the message may
  or may not be on its way and nothing will tell later, so FAILED ``send_outcome_unknown`` at once,
  never sent again. An answer lost in transit (a read timeout, a reset) ends the same way.

Request-level errors: ``TooManyRequestsException`` is retried (ProviderThrottled),
``InternalServerErrorException`` and other 5xx too (ProviderUnavailable); ``BadRequestException``,
``ForbiddenException``, ``NotFoundException``, ``PayloadTooLargeException`` and
``MethodNotAllowedException`` are rejections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity.errors import ProviderOutcomeUnknown, ProviderRejected, ProviderThrottled, ProviderUnavailable
from journey_activity.providers.aws_sdk import check_time_left, from_sdk_error, sdk_client
from journey_activity.providers.base import SendRequest, SendResult, SyncOutcome
from journey_activity.settings.providers import PushProviderConfig

KEY_CONTEXT = "ja_key"
THROTTLING = frozenset({"TooManyRequestsException"})
REJECTED = frozenset({"BadRequestException", "ForbiddenException", "NotFoundException",
                      "PayloadTooLargeException", "MethodNotAllowedException"})
ACTIONS = frozenset({"OPEN_APP", "DEEP_LINK", "URL"})
# DeliveryStatus -> the final outcome; the statuses not here are retried (THROTTLED,
# TEMPORARY_FAILURE) or unknown (anything else).
OUTCOMES: dict[str, SyncOutcome] = {
    "SUCCESSFUL": SyncOutcome("DELIVERED", receipt_status="successful"),
    "OPT_OUT": SyncOutcome("SKIPPED", reason="opted_out", receipt_status="opt_out"),
    "PERMANENT_FAILURE": SyncOutcome("FAILED", reason="permanent_failure", receipt_status="permanent_failure"),
    "DUPLICATE": SyncOutcome("FAILED", reason="duplicate_address", receipt_status="duplicate"),
    "UNKNOWN_FAILURE": SyncOutcome("FAILED", reason="send_outcome_unknown", receipt_status="unknown_failure"),
    "TIMEOUT": SyncOutcome("FAILED", reason="send_outcome_unknown", receipt_status="timeout"),
}
LOST_ANSWER = SyncOutcome("FAILED", reason="send_outcome_unknown", receipt_status="answer_lost")


def _notification(message: Any) -> dict[str, Any]:
    """``DefaultPushNotificationMessage`` from the rendered message."""
    if not isinstance(message, Mapping):
        return {"Body": "" if message is None else str(message)}
    notification: dict[str, Any] = {}
    for field, member in (("title", "Title"), ("url", "Url")):
        if message.get(field) is not None:
            notification[member] = str(message[field])
    body = message.get("body", message.get("text"))
    if body is not None:
        notification["Body"] = str(body)
    data = message.get("data")
    if data is not None:
        if not isinstance(data, Mapping):
            raise ProviderRejected('a push message\'s "data" must be an object of strings')
        notification["Data"] = {str(key): value if isinstance(value, str) else _json(value)
                                for key, value in data.items()}
    action = message.get("action")
    if action is not None:
        if str(action).upper() not in ACTIONS:
            raise ProviderRejected(f'a push message\'s "action" must be one of {sorted(ACTIONS)}')
        notification["Action"] = str(action).upper()
    if message.get("silent_push") is not None:
        notification["SilentPush"] = bool(message["silent_push"])
    if not notification.get("Body") and not notification.get("Data") and not notification.get("SilentPush"):
        raise ProviderRejected('a push message given as JSON needs "body" (or "text"), "data" or "silent_push"')
    return notification


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class PushProvider:
    """``"type": "push"``: ``SendMessages`` to one device token; the answer is final
    (:attr:`SendResult.outcome`), so nothing waits for a receipt."""

    def __init__(self, config: PushProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def send_messages_parameters(self, request: SendRequest) -> dict[str, Any]:
        """The SendMessages request (checked against botocore's service model in the tests)."""
        return {
            "ApplicationId": self.config.application_id,
            "MessageRequest": {
                "Addresses": {request.address: {"ChannelType": request.channel,
                                                "Context": {KEY_CONTEXT: request.idempotency_key}}},
                "MessageConfiguration": {"DefaultPushNotificationMessage": _notification(request.message)},
                "TraceId": request.idempotency_key,
            },
        }

    def send(self, request: SendRequest) -> SendResult:
        parameters = self.send_messages_parameters(request)
        check_time_left(request.deadline)
        client = sdk_client("pinpoint", self.config.region, self.config.timeout_seconds)
        try:
            answer = client.send_messages(**parameters)
        except (ClientError, BotoCoreError) as error:
            failure = from_sdk_error(error, throttling=THROTTLING, rejected=REJECTED)
            if isinstance(failure, ProviderOutcomeUnknown):
                # No event will ever say what happened: final now, never sent again.
                return SendResult(message_id="", status="unknown", outcome=LOST_ANSWER)
            raise failure from None
        return outcome_of(answer.get("MessageResponse") or {}, request.address)


def outcome_of(response: Mapping[str, Any], address: str) -> SendResult:
    """The SendResult for ``address`` in a ``MessageResponse``."""
    result = (response.get("Result") or {}).get(address)
    if not isinstance(result, Mapping):
        # The service answered for no such address: it may have sent nothing or something.
        return SendResult(message_id=str(response.get("RequestId") or ""), status="unknown", outcome=LOST_ANSWER)
    status = str(result.get("DeliveryStatus") or "")
    code = result.get("StatusCode")
    detail = f"{status}: {result.get('StatusMessage') or ''}".strip(": ")
    if status == "THROTTLED":
        raise ProviderThrottled(detail, int(code) if code else 429)
    if status == "TEMPORARY_FAILURE":
        raise ProviderUnavailable(detail, int(code) if code else None)
    outcome = OUTCOMES.get(status, OUTCOMES["UNKNOWN_FAILURE"])
    return SendResult(message_id=str(result.get("MessageId") or ""), status=status.lower(), outcome=outcome)
