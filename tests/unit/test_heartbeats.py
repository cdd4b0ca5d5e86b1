"""Progress receipts heartbeat the waiting task at most once per endpoint per interval (a third
of HeartbeatSeconds), whatever their number, and a throttled heartbeat is dropped, not an error
(F7: one SendTaskHeartbeat per progress event throttled outside the largest Regions)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from journey_activity.handlers._runtime import ledger
from journey_activity.receipts import Outcome, Target, apply_receipt, heartbeat_interval
from tests.unit.test_security_callbacks import environment  # noqa: F401 - fixture

TOKEN = "token-heartbeat"


class Clock:
    """An injected clock: time moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class StepFunctions:
    """SendTaskHeartbeat recorded, or refused with ``error``."""

    def __init__(self, error: str | None = None) -> None:
        self.heartbeats: list[str] = []
        self.error = error

    def send_task_heartbeat(self, taskToken: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.heartbeats.append(taskToken)
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "Rate exceeded"}}, "SendTaskHeartbeat")
        return {}


@pytest.fixture
def sent(environment, monkeypatch):  # noqa: F811 - the fixture above
    monkeypatch.setenv("RECEIPT_HEARTBEAT_SECONDS", "300")
    environment()
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="http")[0]
    book.mark_sent("batch-1", "ep-1", provider="http", message_id="msg-1", task_token=TOKEN)
    return book


def progress(book: Any, sfn: StepFunctions, clock: Clock, status: str = "sending") -> Outcome:
    return apply_receipt(book, sfn, Target("batch-1", "ep-1", TOKEN), {"message_id": "msg-1", "status": status},
                         clock=clock)


def test_the_interval_is_a_third_of_heartbeat_seconds(monkeypatch):
    monkeypatch.setenv("RECEIPT_HEARTBEAT_SECONDS", "90")
    assert heartbeat_interval() == 30


def test_many_progress_receipts_send_one_heartbeat_per_interval(sent):
    sfn, clock = StepFunctions(), Clock()
    outcomes = [progress(sent, sfn, clock) for _ in range(20)]
    assert set(outcomes) == {Outcome.PROGRESS}
    assert sfn.heartbeats == [TOKEN]
    clock.now += 99  # still inside the 100-second interval
    progress(sent, sfn, clock)
    assert len(sfn.heartbeats) == 1
    clock.now += 1  # the interval has passed: the next receipt heartbeats once more
    for _ in range(5):
        progress(sent, sfn, clock)
    assert len(sfn.heartbeats) == 2


def test_every_progress_receipt_is_still_noted_on_the_record(sent):
    sfn, clock = StepFunctions(), Clock()
    progress(sent, sfn, clock, "sending")
    progress(sent, sfn, clock, "sent")
    assert sent.get("batch-1", "ep-1")["last_receipt_status"] == "sent"


def test_a_throttled_heartbeat_is_dropped_and_does_not_fail_the_receipt(sent):
    sfn, clock = StepFunctions(error="ThrottlingException"), Clock()
    assert progress(sent, sfn, clock) is Outcome.PROGRESS
    # Its interval is spent: no retry storm of heartbeats inside it.
    assert progress(sent, sfn, clock) is Outcome.PROGRESS
    assert len(sfn.heartbeats) == 1


def test_a_gone_task_makes_the_progress_receipt_late(sent):
    assert progress(sent, StepFunctions(error="TaskTimedOut"), Clock()) is Outcome.LATE


def test_another_error_of_the_heartbeat_is_raised_for_a_retry(sent):
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        progress(sent, StepFunctions(error="ServiceUnavailable"), Clock())


def test_concurrent_claims_let_one_receipt_send(sent):
    now = Clock()()
    claims = [sent.claim_heartbeat("batch-1", "ep-1", now, 100.0) for _ in range(3)]
    assert claims == [True, False, False]


def test_a_heartbeat_claim_never_creates_a_record(sent):
    assert sent.claim_heartbeat("batch-1", "ep-unknown", Clock()(), 100.0) is False
    assert sent.get("batch-1", "ep-unknown") is None
