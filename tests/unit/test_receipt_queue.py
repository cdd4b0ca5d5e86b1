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


GROUP_TOKEN = "token-group-" + "g" * 300


@pytest.fixture
def grouped(environment):  # noqa: F811 - the fixture above
    """A group of three e-mails, all sent, waiting for their receipts (group wait mode)."""
    environment({"EMAIL": {"type": "ses", "from_address": "news@example.com", "configuration_set": "journeys"}})
    book = ledger()
    book.open_group("batch-1", "g0", size=3, task_token=GROUP_TOKEN, label="Send EMAIL (3 endpoints)")
    for index in (1, 2, 3):
        assert book.begin_send("batch-1", f"ep-{index}", channel="EMAIL", provider="ses", about={"group": "g0"})[0]
        book.mark_sent("batch-1", f"ep-{index}", provider="ses", message_id=f"ses-g-{index}", task_token=None,
                       group="g0")
    return book


def test_a_batch_of_receipts_counts_its_group_off_in_one_write_and_resumes_it_once(grouped):
    """Three final receipts in one queue batch: three record writes and one write of the batch's
    progress with the group's counter (not one each), then the group's task resumed once."""
    from journey_activity_local.engine.dynamodb_units import metered

    with Stubber(aws.client("stepfunctions")) as stub, metered() as units:
        stub.add_response("send_task_success", {}, {"taskToken": GROUP_TOKEN, "output": ANY})
        answer = _handle(_event(*(_sns(_record("Delivery", f"ses-g-{index}")) for index in (1, 2, 3))))
        stub.assert_no_pending_responses()
    assert answer == {"batchItemFailures": []}
    assert units["progress_calls"] == 1
    assert [grouped.get("batch-1", f"ep-{index}")["status"] for index in (1, 2, 3)] == ["DELIVERED"] * 3
    assert grouped.group_remaining("batch-1", "g0") == 0
    assert grouped.progress("batch-1") == 3


def test_a_count_not_written_leaves_its_receipts_on_the_queue_and_their_redelivery_resumes(grouped, monkeypatch):
    """The count's write fails past its retries after the records became final: every receipt it
    counted stays on the queue; delivered again, they find their records final, check the group
    (complete: resumed) and heal its counter."""
    from botocore.exceptions import ClientError

    from journey_activity.ledger import Ledger
    from journey_activity.ledger.records import COUNT_ATTEMPTS

    calls: list[int] = []

    def refused(self: Ledger, batch_id: str, group: str, count: int = 1) -> tuple[int, int]:
        calls.append(count)
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                          "UpdateItem")

    real = Ledger.count_off
    monkeypatch.setattr(Ledger, "count_off", refused)
    bodies = [_sns(_record("Delivery", f"ses-g-{index}")) for index in (1, 2, 3)]
    with Stubber(aws.client("stepfunctions")) as stub:
        answer = _handle(_event(*bodies))
        stub.assert_no_pending_responses()  # nothing resumed: the count said nothing yet
    assert calls == [3] * COUNT_ATTEMPTS
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"sqs-{index}"} for index in range(3)]}
    assert grouped.group_remaining("batch-1", "g0") == 3
    monkeypatch.setattr(Ledger, "count_off", real)
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": GROUP_TOKEN, "output": ANY})
        for _ in range(2):  # the others find the group complete too: the resumed task refuses them
            stub.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)
        assert _handle(_event(*bodies)) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()


def test_a_count_never_made_is_healed_by_a_redelivery_while_the_group_is_still_open(grouped):
    """A function stopped after a receipt's final status and before its count (its tally never
    written): the redelivered receipt finds the group still open and lowers the counter to the
    endpoints still open, so the last receipt brings it to zero and resumes the group (without
    the heal it would stay at one, and the group would wait for its timeout)."""
    from journey_activity.ledger.records import counts_deferred

    sfn = aws.client("stepfunctions")
    first = _sns(_record("Delivery", "ses-g-1"))
    with Stubber(sfn) as stub, counts_deferred():  # applied, its count lost with the function
        receipt_queue.apply(grouped, "ses", next(iter(receipt_queue.parse(first).receipts)))
        stub.assert_no_pending_responses()
    assert grouped.group_remaining("batch-1", "g0") == 3
    with Stubber(sfn) as stub:
        assert _handle(_event(first)) == {"batchItemFailures": []}  # redelivered: checked, healed
        assert grouped.group_remaining("batch-1", "g0") == 2
        stub.add_response("send_task_heartbeat", {}, {"taskToken": GROUP_TOKEN})  # counted off, still open
        assert _handle(_event(_sns(_record("Delivery", "ses-g-2")))) == {"batchItemFailures": []}
        stub.add_response("send_task_success", {}, {"taskToken": GROUP_TOKEN, "output": ANY})
        assert _handle(_event(_sns(_record("Delivery", "ses-g-3")))) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    assert grouped.group_remaining("batch-1", "g0") == 0
