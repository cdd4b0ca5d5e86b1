"""A receipt whose resume failed (SendTaskSuccess throttled, or a 5xx) is resumed by the
queue's redelivery of that receipt, through the callback function's verification; a later duplicate is not
resumed again (the same receipt once more tries, and the resumed task refuses), and a task
already gone is acknowledged, not an error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from journey_activity import aws
from journey_activity.handlers._runtime import ledger
from journey_activity.receipts import APPLY_ATTEMPTS
from journey_activity.signing import signed_headers
from tests.unit.test_security_callbacks import DEFAULT_SECRET, environment, post  # noqa: F401 - fixture

TOKEN = "token-" + "t" * 600
RECEIPT = json.dumps({"message_id": "msg-resume", "status": "delivered"})


@pytest.fixture
def sent(environment):  # noqa: F811 - the fixture above
    environment()
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="http")[0]
    book.mark_sent("batch-1", "ep-1", provider="http", message_id="msg-resume", task_token=TOKEN)
    return book


def deliver() -> tuple[int, dict]:
    return post("http", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))



def test_a_throttled_resume_is_resumed_by_the_providers_retry(sent):

    with Stubber(aws.client("stepfunctions")) as stub:
        # SendTaskSuccess throttled (what reaches the code once botocore's retries ran out), on
        # every attempt the callback makes itself.
        for _ in range(APPLY_ATTEMPTS):
            stub.add_client_error("send_task_success", service_error_code="ThrottlingException",
                                  service_message="Rate exceeded", http_status_code=400,
                                  expected_params={"taskToken": TOKEN, "output": ANY})
        with pytest.raises(Exception, match="ThrottlingException"):
            deliver()  # the handler fails: the HTTP API answers 500 and the provider retries
        assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"

        # The provider's retry: the record is final already, but its task was never resumed.
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver() == (200, {"result": "delivered", "message_id": "msg-resume", "endpoint_id": "ep-1"})
        stub.assert_no_pending_responses()

        # A third copy tries once more; the task, resumed already, refuses (as AWS does for a
        # closed task): a duplicate.
        stub.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400,
                              expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver()[1]["result"] == "duplicate"
        stub.assert_no_pending_responses()
        # Another receipt after the outcome (an open) is a duplicate with no call at all (the
        # stubber would refuse one).
        opened = json.dumps({"message_id": "msg-resume", "status": "opened"})
        assert post("http", opened, signed_headers(DEFAULT_SECRET, opened))[1]["result"] == "duplicate"


def test_a_resume_that_fails_with_a_5xx_is_resumed_by_the_retry_too(sent):

    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(Exception, match="ServiceUnavailable"):
            deliver()  # not throttling: not applied again in the callback
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver()[1]["result"] == "delivered"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("gone", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_retry_whose_task_is_gone_is_acknowledged_and_not_tried_again(sent, gone):
    with Stubber(aws.client("stepfunctions")) as stub:
        for _ in range(APPLY_ATTEMPTS):
            stub.add_client_error("send_task_success", service_error_code="ThrottlingException",
                                  http_status_code=400)
        with pytest.raises(Exception, match="ThrottlingException"):
            deliver()
        stub.add_client_error("send_task_success", service_error_code=gone, http_status_code=400)
        assert deliver()[1]["result"] == "duplicate"
        assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"  # the outcome stands
        stub.assert_no_pending_responses()


def _after_the_first_pointer_read(monkeypatch: pytest.MonkeyPatch, then: Any) -> None:
    """``then()`` runs right after the receipt's first read of the message pointer: another
    invocation's write lands between that read and what the receipt does next."""
    from journey_activity.ledger import Ledger

    reads = {"count": 0}
    read = Ledger.pointer

    def and_then(self: Ledger, provider: str, message_id: str) -> Any:
        reads["count"] += 1
        pointer = read(self, provider, message_id)
        if reads["count"] == 1:
            then()
        return pointer

    monkeypatch.setattr(Ledger, "pointer", and_then)


def test_a_receipt_holding_a_stale_token_resumes_the_retried_senders_task(sent, monkeypatch):
    """The token lives on the message pointer. A retried sender links it again with its new
    token; a receipt that read the pointer just before holds the old one, whose task is gone.
    It reads the pointer again and resumes the task that waits now."""
    newer = "token-" + "n" * 600
    # The retried sender links with its token right after the receipt's first read.
    _after_the_first_pointer_read(monkeypatch, lambda: sent.link_pointer(
        "batch-1", "ep-1", provider="http", message_id="msg-resume", task_token=newer))
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400,
                              expected_params={"taskToken": TOKEN, "output": ANY})
        stub.add_response("send_task_success", {}, expected_params={"taskToken": newer, "output": ANY})
        assert deliver()[1]["result"] == "delivered"
        stub.assert_no_pending_responses()
    assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_a_receipt_reads_the_pointer_and_writes_only_the_outcome(sent):
    """The receipt of a linked pointer: one read (the pointer, which holds the token), the final
    status and the batch's progress; no park, no second read of the record, no note of the resume."""
    from journey_activity_local.engine.dynamodb_units import metered

    with Stubber(aws.client("stepfunctions")) as stub, metered() as units:
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver()[1]["result"] == "delivered"
    assert units["other_calls"] + units["progress_calls"] == 3
    assert (units["other_rcu"], units["other_wcu"], units["progress_wcu"]) == (1.0, 1.0, 1.0)


def test_a_receipt_throttled_a_few_times_is_applied_by_the_callback_itself(sent, monkeypatch):
    """Twilio does not retry a failed status callback: a throttled receipt must not be lost to a
    500. The callback applies it again, with jitter, and answers 200 on its own."""
    from journey_activity import receipts

    monkeypatch.setattr(receipts, "APPLY_FIRST_PAUSE_SECONDS", 0.001)
    with Stubber(aws.client("stepfunctions")) as stub:
        for _ in range(APPLY_ATTEMPTS - 1):
            stub.add_client_error("send_task_success", service_error_code="ThrottlingException",
                                  http_status_code=400, expected_params={"taskToken": TOKEN, "output": ANY})
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver() == (200, {"result": "delivered", "message_id": "msg-resume", "endpoint_id": "ep-1"})
        stub.assert_no_pending_responses()
    assert sent.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_a_task_that_links_while_the_receipt_is_applied_is_resumed(environment, monkeypatch):  # noqa: F811
    """Sent at once (no task waiting: the pointer has no token). The receipt reads the pointer (no
    token); right then the endpoint's task links its token and reads the record, not yet final;
    then the receipt makes the record final. Neither saw the other: the receipt reads the pointer
    again after its write and resumes the task (it used to answer without resuming anything, and
    the task ended TIMED_OUT)."""
    environment()
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="http")[0]
    book.mark_sent("batch-1", "ep-1", provider="http", message_id="msg-resume", task_token=None)

    def the_task_links() -> None:
        linked = book.link_pointer("batch-1", "ep-1", provider="http", message_id="msg-resume", task_token=TOKEN)
        assert not linked.get("receipts")  # nothing parked: the receipt applies, it does not park
        assert book.get("batch-1", "ep-1")["status"] == "SENT"  # what the task reads: not final

    _after_the_first_pointer_read(monkeypatch, the_task_links)
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver()[1]["result"] == "delivered"
        stub.assert_no_pending_responses()
    assert book.get("batch-1", "ep-1")["status"] == "DELIVERED"
