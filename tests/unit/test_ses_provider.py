"""Amazon SES v2: the SendEmail request (checked by botocore's Stubber against the service model),
its errors (one attempt; an ambiguous failure is never retried), a real send on moto's sesv2, and
the event records of SES's own documentation normalized into receipts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from journey_activity.config import SesProviderConfig
from journey_activity.errors import (
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from journey_activity.providers import aws_sdk, ses
from journey_activity.providers.base import SendRequest
from journey_activity.receipts import Outcome, classify

EXAMPLES = json.loads((Path(__file__).parents[1] / "events" / "ses" / "sns_examples.json").read_text())["records"]
KEY = "k" * 40
CONFIG = SesProviderConfig(type="ses", from_address="News <news@example.com>", configuration_set="journeys",
                           subject="Hello", region="us-east-1")


def _request(message: Any = "Hi Ana") -> SendRequest:
    return SendRequest(batch_id="b", endpoint_id="e", channel="EMAIL", address="ana@example.com", message=message,
                       idempotency_key=KEY)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws_sdk.reset_clients()
    client = aws_sdk.sdk_client("sesv2", "us-east-1", CONFIG.timeout_seconds)
    with Stubber(client) as stub:
        yield stub, client
    aws_sdk.reset_clients()


def test_send_email_names_the_configuration_set_and_tags_the_key(stubbed):
    stub, _ = stubbed
    stub.add_response("send_email", {"MessageId": "0100-ses-1"}, expected_params={
        "FromEmailAddress": "News <news@example.com>",
        "Destination": {"ToAddresses": ["ana@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "Hello", "Charset": "UTF-8"},
                               "Body": {"Text": {"Data": "Hi Ana", "Charset": "UTF-8"}}}},
        "ConfigurationSetName": "journeys",
        "EmailTags": [{"Name": "ja_key", "Value": KEY}],
    })
    assert ses.SesProvider(CONFIG).send(_request()).message_id == "0100-ses-1"
    stub.assert_no_pending_responses()


def test_a_json_message_carries_its_subject_text_and_html(stubbed):
    stub, _ = stubbed
    stub.add_response("send_email", {"MessageId": "m"}, expected_params={
        "FromEmailAddress": "News <news@example.com>",
        "Destination": {"ToAddresses": ["ana@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "Shipped", "Charset": "UTF-8"},
                               "Body": {"Text": {"Data": "t", "Charset": "UTF-8"},
                                        "Html": {"Data": "<p>h</p>", "Charset": "UTF-8"}}}},
        "ConfigurationSetName": "journeys",
        "EmailTags": [{"Name": "ja_key", "Value": KEY}],
    })
    ses.SesProvider(CONFIG).send(_request({"subject": "Shipped", "body": "t", "html": "<p>h</p>"}))


@pytest.mark.parametrize(("message", "problem"), [
    ({"subject": "s"}, 'needs "text"'),
    ("plain", "has no subject"),
])
def test_a_message_ses_cannot_send_is_rejected_before_any_call(stubbed, message, problem):
    config = CONFIG.model_copy(update={"subject": ""})
    with pytest.raises(ProviderRejected, match=problem):
        ses.SesProvider(config).send(_request(message))


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("TooManyRequestsException", 429, ProviderThrottled),
    ("MessageRejected", 400, ProviderRejected),
    ("LimitExceededException", 400, ProviderRejected),
    ("NotFoundException", 404, ProviderRejected),
    ("ServiceUnavailable", 503, ProviderUnavailable),
    ("InternalFailure", 500, ProviderUnavailable),
])
def test_service_errors(stubbed, code, status, expected):
    stub, _ = stubbed
    stub.add_client_error("send_email", service_error_code=code, http_status_code=status)
    with pytest.raises(expected):
        ses.SesProvider(CONFIG).send(_request())


@pytest.mark.parametrize(("error", "expected"), [
    (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), ProviderOutcomeUnknown),
    (ConnectTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), ProviderUnavailable),
    (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), ProviderUnavailable),
])
def test_a_lost_answer_is_ambiguous_and_a_refused_connection_is_not(stubbed, monkeypatch, error, expected):
    _, client = stubbed

    def fail(**_: Any) -> None:
        raise error

    monkeypatch.setattr(client, "send_email", fail)
    with pytest.raises(expected):
        ses.SesProvider(CONFIG).send(_request())


def test_the_client_makes_one_attempt(stubbed):
    _, client = stubbed
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_a_real_send_on_motos_sesv2(fake_aws):
    import boto3
    from moto.ses.models import ses_backends

    aws_sdk.reset_clients()
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="news@example.com")
    config = CONFIG.model_copy(update={"from_address": "news@example.com"})
    result = ses.SesProvider(config).send(_request())
    sent = ses_backends["123456789012"]["us-east-1"].sent_messages
    assert [(m.id, m.destinations["ToAddresses"], m.subject) for m in sent] == [
        (result.message_id, ["ana@example.com"], "Hello")]
    aws_sdk.reset_clients()


@pytest.mark.parametrize(("event_type", "status", "outcome"), [
    ("Send", "sent", Outcome.PROGRESS),
    ("Delivery", "delivered", Outcome.DELIVERED),
    ("Bounce", "bounced", Outcome.FAILED),
    ("Reject", "rejected", Outcome.FAILED),
    ("Rendering Failure", "rendering_failed", Outcome.FAILED),
    ("DeliveryDelay", "delivery_delayed", Outcome.PROGRESS),
    ("Complaint", "complaint", Outcome.DELIVERED),
    ("Open", "opened", Outcome.DELIVERED),
    ("Click", "clicked", Outcome.DELIVERED),
])
def test_each_documented_record_becomes_one_receipt(event_type, status, outcome):
    record = EXAMPLES[event_type]
    assert ses.is_event(record)
    [receipt] = ses.receipts_from(record)
    assert receipt.message_id == "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
    assert (receipt.status, receipt.provider_event) == (status, event_type)
    assert classify(receipt.status) is outcome


def test_the_details_travel_as_error_codes():
    assert ses.receipts_from(EXAMPLES["Bounce"])[0].error_code == "Permanent/General"
    assert ses.receipts_from(EXAMPLES["Reject"])[0].error_code == "Bad content"
    assert ses.receipts_from(EXAMPLES["DeliveryDelay"])[0].error_code == "TransientCommunicationFailure"
    assert "rendering data" in ses.receipts_from(EXAMPLES["Rendering Failure"])[0].error_code


def test_our_key_comes_back_from_the_tags():
    record = json.loads(json.dumps(EXAMPLES["Delivery"]))
    assert ses.receipts_from(record)[0].idempotency_key is None
    record["mail"]["tags"]["ja_key"] = [KEY]
    assert ses.receipts_from(record)[0].idempotency_key == KEY


def test_an_account_suppression_bounce_is_an_opt_out():
    record = json.loads(json.dumps(EXAMPLES["Bounce"]))
    record["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    [receipt] = ses.receipts_from(record)
    assert (receipt.status, classify(receipt.status)) == ("opted_out", Outcome.SKIPPED)


@pytest.mark.parametrize("order", list(itertools.permutations(["Delivery", "Complaint", "Open", "Click"])))
def test_after_delivery_events_never_fail_a_delivery_in_any_order(order):
    """The first final outcome wins (the ledger's rule); every one of these is a delivery."""
    first_final = next(classify(ses.receipts_from(EXAMPLES[name])[0].status) for name in order)
    assert first_final is Outcome.DELIVERED


def test_a_record_that_is_not_ses_is_refused():
    with pytest.raises(ValueError, match="not an SES event record"):
        ses.receipts_from({"eventType": "Bounced", "mail": {"messageId": "x"}})
