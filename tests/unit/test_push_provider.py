"""AWS End User Messaging Push: the SendMessages request (botocore's Stubber, against the service
model), every DeliveryStatus mapped to a final outcome or a retry, a lost answer final at once and
never resent, and the local endpoint that speaks the Pinpoint API's restJson1 protocol to a real
boto3 client (and hands PutEvents to the local events endpoint)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from botocore.stub import Stubber

from journey_activity.config import PushProviderConfig
from journey_activity.errors import ProviderRejected, ProviderThrottled, ProviderUnavailable
from journey_activity.providers import aws_sdk, push
from journey_activity.providers.base import SendRequest
from journey_activity_local.engine.pinpoint_events import LocalPinpointEvents
from journey_activity_local.standins.push import PushStandIn
from journey_activity_local.standins.registry import StandInSetup

KEY = "p" * 40
TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
CONFIG = PushProviderConfig(type="push", application_id="app1", region="us-east-1")


def _request(message: Any = "Your order shipped", channel: str = "GCM", address: str = TOKEN,
             key: str = KEY) -> SendRequest:
    return SendRequest(batch_id="b", endpoint_id="e", channel=channel, address=address, message=message,
                       idempotency_key=key)


def _answer(status: str, code: int = 200, message_id: str | None = "m-1", address: str = TOKEN) -> dict[str, Any]:
    result: dict[str, Any] = {"DeliveryStatus": status, "StatusCode": code, "StatusMessage": status.lower()}
    if message_id:
        result["MessageId"] = message_id
    return {"MessageResponse": {"ApplicationId": "app1", "RequestId": "r-1", "Result": {address: result}}}


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_PINPOINT", raising=False)
    aws_sdk.reset_clients()
    client = aws_sdk.sdk_client("pinpoint", "us-east-1", CONFIG.timeout_seconds)
    with Stubber(client) as stub:
        yield stub, client
    aws_sdk.reset_clients()


def test_send_messages_sends_to_the_token_with_the_channel_and_our_key(stubbed):
    stub, _ = stubbed
    stub.add_response("send_messages", _answer("SUCCESSFUL"), expected_params={
        "ApplicationId": "app1",
        "MessageRequest": {
            "Addresses": {TOKEN: {"ChannelType": "APNS", "Context": {"ja_key": KEY}}},
            "MessageConfiguration": {"DefaultPushNotificationMessage": {
                "Title": "Hi", "Body": "Shipped", "Data": {"order": "42", "items": "[1,2]"}, "Action": "URL",
                "Url": "https://example.com/o/42"}},
            "TraceId": KEY}})
    result = push.PushProvider(CONFIG).send(_request(
        {"title": "Hi", "body": "Shipped", "data": {"order": "42", "items": [1, 2]}, "action": "url",
         "url": "https://example.com/o/42"}, channel="APNS"))
    assert result.message_id == "m-1"
    assert result.outcome is not None
    assert result.outcome.status == "DELIVERED"


@pytest.mark.parametrize(("status", "final", "reason"), [
    ("SUCCESSFUL", "DELIVERED", None),
    ("OPT_OUT", "SKIPPED", "opted_out"),
    ("PERMANENT_FAILURE", "FAILED", "permanent_failure"),
    ("DUPLICATE", "FAILED", "duplicate_address"),
    ("UNKNOWN_FAILURE", "FAILED", "send_outcome_unknown"),
    # In the documentation's list, not in botocore's enum: an answer the SDK still parses.
    ("TIMEOUT", "FAILED", "send_outcome_unknown"),
])
def test_every_final_delivery_status_is_an_outcome_at_once(status, final, reason):
    result = push.outcome_of(_answer(status)["MessageResponse"], TOKEN)
    assert result.outcome is not None
    assert (result.outcome.status, result.outcome.reason) == (final, reason)


def test_every_delivery_status_in_the_model_is_handled():
    model = botocore.session.get_session().get_service_model("pinpoint")
    retried = {"THROTTLED", "TEMPORARY_FAILURE"}
    assert set(model.shape_for("DeliveryStatus").enum) <= set(push.OUTCOMES) | retried


@pytest.mark.parametrize(("status", "error"), [("THROTTLED", ProviderThrottled),
                                               ("TEMPORARY_FAILURE", ProviderUnavailable)])
def test_a_status_that_says_nothing_was_taken_is_retried(status, error):
    with pytest.raises(error):
        push.outcome_of(_answer(status, 429 if status == "THROTTLED" else 503, None)["MessageResponse"], TOKEN)


def test_an_answer_for_another_address_is_an_unknown_outcome():
    result = push.outcome_of(_answer("SUCCESSFUL", address="other")["MessageResponse"], TOKEN)
    assert result.outcome == push.LOST_ANSWER


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("TooManyRequestsException", 429, ProviderThrottled),
    ("InternalServerErrorException", 500, ProviderUnavailable),
    ("BadRequestException", 400, ProviderRejected),
    ("NotFoundException", 404, ProviderRejected),
    ("ForbiddenException", 403, ProviderRejected),
    ("PayloadTooLargeException", 413, ProviderRejected),
])
def test_request_errors(stubbed, code, status, expected):
    stub, _ = stubbed
    stub.add_client_error("send_messages", service_error_code=code, http_status_code=status)
    with pytest.raises(expected):
        push.PushProvider(CONFIG).send(_request())


def test_a_lost_answer_is_final_at_once_and_a_refused_connection_is_retried(stubbed, monkeypatch):
    _, client = stubbed

    def lost(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://pinpoint.us-east-1.amazonaws.com")

    def refused(**_: Any) -> None:
        raise ConnectTimeoutError(endpoint_url="https://pinpoint.us-east-1.amazonaws.com")

    monkeypatch.setattr(client, "send_messages", lost)
    assert push.PushProvider(CONFIG).send(_request()).outcome == push.LOST_ANSWER
    monkeypatch.setattr(client, "send_messages", refused)
    with pytest.raises(ProviderUnavailable):
        push.PushProvider(CONFIG).send(_request())


@pytest.mark.parametrize("message", [{"title": "only a title"}, {"body": "x", "action": "launch"},
                                     {"body": "x", "data": ["not", "a", "map"]}])
def test_a_message_push_cannot_carry_is_refused_before_sending(message):
    with pytest.raises(ProviderRejected):
        push.PushProvider(CONFIG).send_messages_parameters(_request(message))


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with LocalPinpointEvents() as events:
        setup = StandInSetup(receipts_base_url="http://127.0.0.1:9", signing_secret="s" * 16, pinpoint_events=events,
                             behaviours={"t-optout": "optout", "t-throttled": "throttled:1", "t-flaky": "flaky:1",
                                         "t-bounce": "bounce", "t-reject": "reject", "t-throttle": "throttle",
                                         "t-never": "never"})
        with PushStandIn(setup) as standin:
            for name, value in standin.environment().items():
                monkeypatch.setenv(name, value)
            aws_sdk.reset_clients()
            yield standin, events
    aws_sdk.reset_clients()


def test_the_local_endpoint_speaks_the_services_protocol(endpoint):
    standin, events = endpoint
    provider = push.PushProvider(PushProviderConfig(**standin.provider_config("GCM")))
    result = provider.send(_request())
    assert result.outcome is not None
    assert result.outcome.status == "DELIVERED"
    [sent] = standin.sends
    assert (sent["message_id"], sent["address"], sent["channel"], sent["idempotency_key"]) == (
        result.message_id, TOKEN, "GCM", KEY)
    # The same endpoint variable serves PutEvents, handed to the local events endpoint.
    import boto3

    answer = boto3.client("pinpoint", region_name="us-east-1").put_events(
        ApplicationId="app1", EventsRequest={"BatchItem": {"e": {"Endpoint": {}, "Events": {
            "1": {"EventType": "journey.sent", "Timestamp": "2026-11-24T00:00:00Z"}}}}})
    assert answer["EventsResponse"]["Results"]["e"]["EventsItemResponse"]["1"]["StatusCode"] == 202
    assert len(events.events) == 1


def test_the_local_endpoint_answers_as_the_service_does(endpoint):
    import boto3
    from botocore.exceptions import ClientError

    standin, _ = endpoint
    provider = push.PushProvider(PushProviderConfig(**standin.provider_config("GCM")))

    def outcome(address: str) -> tuple[str, str | None]:
        result = provider.send(_request(address=address, key=address * 4))
        assert result.outcome is not None
        return result.outcome.status, result.outcome.reason

    assert outcome("t-optout") == ("SKIPPED", "opted_out")
    assert outcome("t-bounce") == ("FAILED", "permanent_failure")
    assert outcome("t-never") == ("FAILED", "send_outcome_unknown")
    with pytest.raises(ProviderThrottled):
        outcome("t-throttled")
    assert outcome("t-throttled") == ("DELIVERED", None)
    with pytest.raises(ProviderUnavailable):
        outcome("t-flaky")
    assert outcome("t-flaky") == ("DELIVERED", None)
    with pytest.raises(ProviderThrottled):
        outcome("t-throttle")
    with pytest.raises(ProviderRejected):
        outcome("t-reject")
    assert standin.duplicate_sends == 0
    client = boto3.client("pinpoint", region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        client.send_messages(ApplicationId="not-ours", MessageRequest={
            "Addresses": {TOKEN: {"ChannelType": "GCM"}},
            "MessageConfiguration": {"DefaultPushNotificationMessage": {"Body": "x"}}})
    assert caught.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        client.send_messages(ApplicationId=standin.application_id, MessageRequest={
            "Addresses": {TOKEN: {"ChannelType": "SMS"}},
            "MessageConfiguration": {"DefaultPushNotificationMessage": {"Body": "x"}}})
    assert caught.value.response["Error"]["Code"] == "BadRequestException"


def test_the_local_endpoint_loads_the_service_model_once():
    """Checking each request against botocore's model must not load the model each time (15 ms of
    the engine's CPU per request, enough to push answers past the SDK's timeout under load)."""
    from journey_activity_local.standins import push as push_standin
    from journey_activity_local.standins.registry import service_model

    service_model.cache_clear()
    request = {"Addresses": {TOKEN: {"ChannelType": "GCM"}},
               "MessageConfiguration": {"DefaultPushNotificationMessage": {"Body": "x"}}}
    for _ in range(20):
        push_standin._validate(request)
    assert service_model.cache_info().misses == 1
