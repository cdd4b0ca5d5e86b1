"""A receipt whose resume failed (SendTaskSuccess throttled, or a 5xx) is resumed by the
provider's retry of that receipt, through the real callback handler; a later duplicate is not
resumed again, and a task already gone is acknowledged, not an error."""

from __future__ import annotations

import json

import pytest
from botocore.stub import ANY, Stubber

from journey_activity import aws
from journey_activity.handlers._runtime import ledger
from journey_activity.signing import signed_headers
from tests.unit.test_security_callbacks import DEFAULT_SECRET, environment, post  # noqa: F401 - fixture

TOKEN = "token-" + "t" * 600
RECEIPT = json.dumps({"message_id": "msg-resume", "status": "delivered"})


@pytest.fixture
def sent(environment):  # noqa: F811 - the fixture above
    environment()
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="http", task_token=TOKEN)[0]
    book.mark_sent("batch-1", "ep-1", provider="http", message_id="msg-resume")
    return book


def deliver() -> tuple[int, dict]:
    return post("http", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))



def test_a_throttled_resume_is_resumed_by_the_providers_retry(sent):

    with Stubber(aws.client("stepfunctions")) as stub:
        # SendTaskSuccess throttled (what reaches the code once botocore's retries ran out).
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException",
                              service_message="Rate exceeded", http_status_code=400,
                              expected_params={"taskToken": TOKEN, "output": ANY})
        with pytest.raises(Exception, match="ThrottlingException"):
            deliver()  # the handler fails: the HTTP API answers 500 and the provider retries
        record = sent.get("batch-1", "ep-1")
        assert record["status"] == "DELIVERED"
        assert "resumed_at" not in record

        # The provider's retry: the record is final already, but its task was never resumed.
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver() == (200, {"result": "delivered", "message_id": "msg-resume", "endpoint_id": "ep-1"})
        stub.assert_no_pending_responses()
        assert "resumed_at" in sent.get("batch-1", "ep-1")

        # A third copy is a plain duplicate: no call to Step Functions (the stubber would refuse one).
        assert deliver()[1]["result"] == "duplicate"


def test_a_resume_that_fails_with_a_5xx_is_resumed_by_the_retry_too(sent):

    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
        with pytest.raises(Exception, match="ServiceUnavailable"):
            deliver()
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": ANY})
        assert deliver()[1]["result"] == "delivered"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("gone", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_retry_whose_task_is_gone_is_acknowledged_and_not_tried_again(sent, gone):
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(Exception, match="ThrottlingException"):
            deliver()
        stub.add_client_error("send_task_success", service_error_code=gone, http_status_code=400)
        assert deliver()[1]["result"] == "late"
        record = sent.get("batch-1", "ep-1")
        assert record["status"] == "DELIVERED"
        assert record["resume_error"] == gone
        assert deliver()[1]["result"] == "duplicate"  # no more calls
        stub.assert_no_pending_responses()
