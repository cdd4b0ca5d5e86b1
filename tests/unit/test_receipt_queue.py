"""The receipt queue's function, through its real handler with Lambda's SQS event: the SNS envelope,
a raw record and an EventBridge event all read; partial batch failures (``batchItemFailures``) for
what cannot be read or applied, so the queue keeps it; early events parked; and a send whose answer
was lost found by the idempotency key its events carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from journey_activity import aws
from journey_activity.handlers import receipt_queue
from journey_activity.handlers._runtime import ledger
from tests.unit.test_security_callbacks import Context, environment  # noqa: F401 - fixture

EXAMPLES = json.loads((Path(__file__).parents[1] / "events" / "ses" / "sns_examples.json").read_text())["records"]
TOKEN = "token-" + "q" * 300
KEY = "c" * 40


def _record(event_type: str, message_id: str, key: str | None = KEY) -> dict[str, Any]:
    record = json.loads(json.dumps(EXAMPLES[event_type]))
    record["mail"]["messageId"] = message_id
    if key:
        record["mail"]["tags"]["ja_key"] = [key]
    return record


def _sns(record: dict[str, Any]) -> str:
    """The body SQS holds for an SNS notification (raw message delivery off)."""
    return json.dumps({"Type": "Notification", "MessageId": "9b5b1c2e-0000-4000-8000-000000000001",
                       "TopicArn": "arn:aws:sns:us-east-1:123456789012:provider-events",
                       "Message": json.dumps(record), "Timestamp": "2026-11-24T03:00:00.000Z",
                       "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://example.com/c.pem",
                       "UnsubscribeURL": "https://example.com/u"})


def _event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"sqs-{index}", "receiptHandle": f"rh-{index}", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:receipts", "awsRegion": "us-east-1"}
                        for index, body in enumerate(bodies)]}


def _handle(event: dict[str, Any]) -> dict[str, Any]:
    return receipt_queue.handler(event, Context(function_name="ReceiptQueueFunction"))  # type: ignore[arg-type]


@pytest.fixture
def sent(environment):  # noqa: F811 - the fixture above
    environment({"EMAIL": {"type": "ses", "from_address": "news@example.com", "configuration_set": "journeys"}})
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="EMAIL", provider="ses")[0]
    book.mark_sent("batch-1", "ep-1", provider="ses", message_id="ses-msg-1", task_token=TOKEN)
    return book


def test_a_delivery_resumes_the_task_and_progress_heartbeats(sent):
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
        stub.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})
        answer = _handle(_event(_sns(_record("Send", "ses-msg-1")), _sns(_record("Delivery", "ses-msg-1"))))
        stub.assert_no_pending_responses()
    assert answer == {"batchItemFailures": []}
    record = sent.get("batch-1", "ep-1")
    assert (record["status"], record["receipt_status"]) == ("DELIVERED", "delivered")


@pytest.mark.parametrize("shape", ["raw", "eventbridge"])
def test_a_raw_record_and_an_eventbridge_event_read_the_same(sent, shape):
    record = _record("Bounce", "ses-msg-1")
    body = record if shape == "raw" else {"version": "0", "source": "aws.ses", "detail-type": "Email Bounced",
                                          "detail": record}
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_failure", {}, {"taskToken": TOKEN, "error": "DeliveryFailed", "cause": ANY})
        assert _handle(_event(json.dumps(body))) == {"batchItemFailures": []}
    assert sent.get("batch-1", "ep-1")["reason"] == "bounced"


def test_what_cannot_be_read_stays_on_the_queue_and_the_rest_is_applied(sent):
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})
        answer = _handle(_event("not json", json.dumps({"Type": "Notification", "Message": "{}"}),
                                _sns(_record("Delivery", "ses-msg-1"))))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "sqs-0"}, {"itemIdentifier": "sqs-1"}]}
    assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_a_throttled_resume_leaves_the_message_for_the_retry_which_resumes(sent):
    body = _sns(_record("Delivery", "ses-msg-1"))
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
        assert _handle(_event(body)) == {"batchItemFailures": [{"itemIdentifier": "sqs-0"}]}
        stub.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})
        assert _handle(_event(body)) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_an_event_before_the_message_id_is_recorded_is_parked_then_applied_by_the_sender(environment):  # noqa: F811
    environment({"EMAIL": {"type": "ses", "from_address": "news@example.com", "configuration_set": "journeys"}})
    book = ledger()
    book.begin_send("batch-1", "ep-1", channel="EMAIL", provider="ses")
    with Stubber(aws.client("stepfunctions")):  # no call: nothing to resume yet
        assert _handle(_event(_sns(_record("Delivery", "ses-early")))) == {"batchItemFailures": []}
    _, pointer = book.mark_sent("batch-1", "ep-1", provider="ses", message_id="ses-early", task_token=TOKEN)
    assert [r["status"] for r in pointer["receipts"]] == ["delivered"]


def test_a_send_whose_answer_was_lost_is_found_by_its_key(environment):  # noqa: F811
    environment({"EMAIL": {"type": "ses", "from_address": "news@example.com", "configuration_set": "journeys"}})
    book = ledger()
    book.begin_send("batch-1", "ep-1", channel="EMAIL", provider="ses")
    book.mark_outcome_unknown("batch-1", "ep-1", provider="ses", idempotency_key=KEY, error="ReadTimeoutError",
                              task_token=TOKEN)
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": ANY})
        assert _handle(_event(_sns(_record("Delivery", "never-recorded")))) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    assert book.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_the_provider_name_is_the_configured_one(environment):  # noqa: F811
    from journey_activity.config import ConfigurationError, settings_from

    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"EMAIL": {"type": "ses", "name": "mail", "from_address": "a@example.com", "configuration_set": "c"}})})
    assert receipt_queue.provider_name(settings, "ses") == "mail"
    assert receipt_queue.provider_name(settings, "sms-voice") == "sms-voice"
    with pytest.raises(ConfigurationError, match='every "sms-voice" provider must have the same name'):
        settings_from({"CHANNEL_PROVIDERS": json.dumps({
            "SMS": {"type": "sms-voice", "name": "a", "configuration_set": "c"},
            "VOICE": {"type": "sms-voice", "name": "b", "configuration_set": "c"}})})
