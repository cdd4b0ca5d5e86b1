"""AWS End User Messaging SMS and voice v2: SendTextMessage and SendVoiceMessage requests (botocore's
Stubber, against the service model), the errors (an opt-out is SKIPPED, never FAILED), every
documented event type mapped, the documentation's example record, and the local endpoint that
speaks the service's awsJson1.0 protocol to a real boto3 client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from journey_activity.config import SmsVoiceProviderConfig
from journey_activity.errors import (
    ProviderOptedOut,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from journey_activity.providers import aws_sdk, sms_voice
from journey_activity.providers.base import SendRequest
from journey_activity.receipts import Outcome, classify
from journey_activity_local.standins.registry import StandInSetup
from journey_activity_local.standins.sms_voice import SmsVoiceStandIn

EXAMPLE = json.loads((Path(__file__).parents[1] / "events" / "sms_voice" / "examples.json").read_text())["records"]
KEY = "d" * 40
CONFIG = SmsVoiceProviderConfig(type="sms-voice", configuration_set="journeys", origination_identity="pool-1",
                                voice_id="JOANNA", region="us-east-1")


def _request(channel: str = "SMS", message: Any = "Your code is 1234") -> SendRequest:
    return SendRequest(batch_id="b", endpoint_id="e", channel=channel, address="+14255550156", message=message,
                       idempotency_key=KEY)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", raising=False)
    aws_sdk.reset_clients()
    client = aws_sdk.sdk_client("pinpoint-sms-voice-v2", "us-east-1", CONFIG.timeout_seconds)
    with Stubber(client) as stub:
        yield stub, client
    aws_sdk.reset_clients()


def test_send_text_message_carries_the_configuration_set_and_the_key(stubbed):
    stub, _ = stubbed
    stub.add_response("send_text_message", {"MessageId": "sms-1"}, expected_params={
        "DestinationPhoneNumber": "+14255550156", "MessageBody": "Your code is 1234",
        "ConfigurationSetName": "journeys", "Context": {"ja_key": KEY}, "OriginationIdentity": "pool-1",
        "MessageType": "TRANSACTIONAL"})
    assert sms_voice.SmsVoiceProvider(CONFIG).send(_request()).message_id == "sms-1"
    stub.assert_no_pending_responses()


def test_send_voice_message_for_the_voice_channel(stubbed):
    stub, _ = stubbed
    stub.add_response("send_voice_message", {"MessageId": "voice-1"}, expected_params={
        "DestinationPhoneNumber": "+14255550156", "MessageBody": "Hello",
        "ConfigurationSetName": "journeys", "Context": {"ja_key": KEY}, "OriginationIdentity": "pool-1",
        "MessageBodyTextType": "TEXT", "VoiceId": "JOANNA"})
    assert sms_voice.SmsVoiceProvider(CONFIG).send(_request("VOICE", {"body": "Hello"})).message_id == "voice-1"


def test_voice_needs_an_origination_identity(stubbed):
    config = CONFIG.model_copy(update={"origination_identity": None})
    with pytest.raises(ProviderRejected, match="origination_identity"):
        sms_voice.SmsVoiceProvider(config).send(_request("VOICE"))


@pytest.mark.parametrize(("code", "status", "fields", "expected"), [
    ("ConflictException", 400, {"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opt-out-list",
                                "ResourceId": "Default"}, ProviderOptedOut),
    ("ConflictException", 400, {"Reason": "DESTINATION_PHONE_NUMBER_NOT_VERIFIED", "ResourceType": "phone-number",
                                "ResourceId": "x"}, ProviderRejected),
    ("ThrottlingException", 400, {}, ProviderThrottled),
    ("InternalServerException", 500, {}, ProviderUnavailable),
    ("ValidationException", 400, {"Reason": "DESTINATION_COUNTRY_BLOCKED"}, ProviderRejected),
    ("ServiceQuotaExceededException", 400, {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"}, ProviderRejected),
    ("AccessDeniedException", 400, {"Reason": "ACCOUNT_DISABLED"}, ProviderRejected),
])
def test_service_errors(stubbed, code, status, fields, expected):
    stub, _ = stubbed
    stub.add_client_error("send_text_message", service_error_code=code, http_status_code=status,
                          modeled_fields=fields or None)
    with pytest.raises(expected):
        sms_voice.SmsVoiceProvider(CONFIG).send(_request())


def test_a_lost_answer_is_ambiguous(stubbed, monkeypatch):
    _, client = stubbed

    def fail(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://sms-voice.us-east-1.amazonaws.com")

    monkeypatch.setattr(client, "send_text_message", fail)
    with pytest.raises(ProviderOutcomeUnknown):
        sms_voice.SmsVoiceProvider(CONFIG).send(_request())


def test_every_documented_event_type_is_mapped():
    model = botocore.session.get_session().get_service_model("pinpoint-sms-voice-v2")
    documented = {t for t in model.shape_for("EventType").enum if not t.endswith("ALL")}
    assert documented == set(sms_voice.EVENT_STATUS)


@pytest.mark.parametrize(("event_type", "final", "outcome"), [
    ("TEXT_DELIVERED", True, Outcome.DELIVERED),
    ("TEXT_SUCCESSFUL", True, Outcome.DELIVERED),
    ("TEXT_SUCCESSFUL", False, Outcome.PROGRESS),
    ("TEXT_PENDING", False, Outcome.PROGRESS),
    ("TEXT_QUEUED", False, Outcome.PROGRESS),
    ("TEXT_SENT", False, Outcome.PROGRESS),
    ("TEXT_INVALID", True, Outcome.FAILED),
    ("TEXT_CARRIER_UNREACHABLE", True, Outcome.FAILED),
    ("TEXT_BLOCKED", True, Outcome.FAILED),
    ("TEXT_SPAM", True, Outcome.FAILED),
    ("TEXT_UNKNOWN", True, Outcome.FAILED),
    ("TEXT_TTL_EXPIRED", True, Outcome.FAILED),
    ("TEXT_PROTECT_BLOCKED", True, Outcome.FAILED),
    ("VOICE_INITIATED", False, Outcome.PROGRESS),
    ("VOICE_RINGING", False, Outcome.PROGRESS),
    ("VOICE_ANSWERED", False, Outcome.PROGRESS),
    ("VOICE_COMPLETED", True, Outcome.DELIVERED),
    ("VOICE_BUSY", True, Outcome.FAILED),
    ("VOICE_NO_ANSWER", True, Outcome.FAILED),
    ("VOICE_FAILED", True, Outcome.FAILED),
])
def test_event_types(event_type, final, outcome):
    record = dict(EXAMPLE["TEXT_SUCCESSFUL"], eventType=event_type, isFinal=final)
    [receipt] = sms_voice.receipts_from(record)
    assert classify(receipt.status) is outcome
    assert receipt.provider_event == event_type
    assert (receipt.error_code == event_type) is (outcome is Outcome.FAILED)


def test_the_documented_example_delivers_and_our_key_comes_back_in_the_context():
    record = EXAMPLE["TEXT_SUCCESSFUL"]
    assert sms_voice.is_event(record)
    [receipt] = sms_voice.receipts_from(record)
    assert (receipt.message_id, receipt.status, receipt.idempotency_key) == (
        "862a8790-60c0-4430-9b2b-658bdexample", "delivered", None)
    keyed = json.loads(json.dumps(record))
    keyed["context"]["ja_key"] = KEY
    assert sms_voice.receipts_from(keyed)[0].idempotency_key == KEY


# -- the local endpoint, through a real boto3 client ------------------------------------------------


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    setup = StandInSetup(receipts_base_url="http://127.0.0.1:9", signing_secret="s" * 16,
                         behaviours={"+14255550100": "optout", "+14255550101": "throttled:1",
                                     "+14255550102": "reject"},
                         sms_voice_configuration_set="journeys")
    with SmsVoiceStandIn(setup) as standin:
        for name, value in standin.environment().items():
            monkeypatch.setenv(name, value)
        aws_sdk.reset_clients()
        yield standin
    aws_sdk.reset_clients()


def test_the_local_endpoint_speaks_the_services_protocol(endpoint):
    provider = sms_voice.SmsVoiceProvider(CONFIG)
    text = provider.send(_request())
    voice = provider.send(_request("VOICE"))
    assert [s["message_id"] for s in endpoint.sends] == [text.message_id, voice.message_id]
    assert [s["operation"] for s in endpoint.sends] == ["SendTextMessage", "SendVoiceMessage"]
    assert endpoint.sends[0]["params"]["Context"] == {"ja_key": KEY}
    # Its events carry the real message id and our key.
    assert [(e["eventType"], e["messageId"], e["context"]) for e in endpoint.events[:1]] == [
        ("TEXT_SUCCESSFUL", text.message_id, {"ja_key": KEY})]


def test_the_local_endpoint_answers_as_the_service_does(endpoint):
    import boto3
    from botocore.exceptions import ClientError

    provider = sms_voice.SmsVoiceProvider(CONFIG)
    with pytest.raises(ProviderOptedOut):
        provider.send(SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address="+14255550100",
                                  message="x", idempotency_key=KEY))
    with pytest.raises(ProviderThrottled):
        provider.send(SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address="+14255550101",
                                  message="x", idempotency_key="t" * 40))
    assert provider.send(SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address="+14255550101",
                                     message="x", idempotency_key="t" * 40)).message_id
    with pytest.raises(ProviderRejected, match="destination country is blocked"):
        provider.send(SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address="+14255550102",
                                  message="x", idempotency_key=KEY))
    client = boto3.client("pinpoint-sms-voice-v2", region_name="us-east-1")
    with pytest.raises(ClientError) as caught:
        client.send_text_message(DestinationPhoneNumber="+14255550156", MessageBody="x",
                                 ConfigurationSetName="not-ours")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        client.send_text_message(DestinationPhoneNumber="0012", MessageBody="x")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
