"""The sender and the provider's three kinds of final answer at send time: a synchronous outcome
(``SendResult.outcome``: recorded, and the sender's own task resumed at once with SendTaskSuccess),
an opted-out destination (``SKIPPED opted_out``, not FAILED), and a lost answer
(``ProviderOutcomeUnknown``: not retried, the endpoint waits for a receipt, found by its idempotency
key; a wait that ends without one is ``FAILED send_outcome_unknown``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from journey_activity import aws
from journey_activity.config import settings_from
from journey_activity.errors import ProviderOptedOut, ProviderOutcomeUnknown
from journey_activity.handlers import record_outcome
from journey_activity.handlers import send as sender
from journey_activity.handlers._runtime import ledger
from journey_activity.models.batch import BatchContext, LedgerStatus, Recipient
from journey_activity.models.execution import RecipientRef
from journey_activity.providers.base import SendRequest, SendResult, SyncOutcome
from journey_activity.receipts import Target, apply_parked
from tests.unit.test_security_callbacks import Context, environment  # noqa: F401 - fixture

TOKEN = "token-" + "s" * 300
ADDRESS = "device-token-1"


class JsonOf:
    """Equal to a JSON document with this content, whatever its keys' order (for Stubber)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and json.loads(other) == self.value

    def __repr__(self) -> str:
        return f"JsonOf({self.value!r})"


class _Answering:
    """A provider port answering as told: the sender's handling is under test, not a provider."""

    name = "push"

    def __init__(self, answer: SendResult | Exception) -> None:
        self.answer = answer
        self.requests: list[SendRequest] = []

    def send(self, request: SendRequest) -> SendResult:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def endpoint(environment, monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811 - the fixture above
    environment({"GCM": {"url": "https://push.example.com/send", "name": "push"}})
    book = ledger()
    book.put_recipients("batch-1", {"ep-1": Recipient(endpoint_id="ep-1", channel="GCM", address=ADDRESS)})
    return book


def _send(monkeypatch: pytest.MonkeyPatch, answer: SendResult | Exception) -> tuple[dict[str, Any], _Answering]:
    provider = _Answering(answer)
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    task = sender.SendTask(task_token=TOKEN, context=BatchContext(batch_id="batch-1", source="test"),
                           recipient=RecipientRef(endpoint_id="ep-1", channel="GCM", part=0))
    return sender.send(task, settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push"}})})), provider


@pytest.mark.parametrize(("outcome", "reason"), [
    (SyncOutcome("DELIVERED", receipt_status="SUCCESSFUL"), None),
    (SyncOutcome("FAILED", reason="permanent_failure", receipt_status="PERMANENT_FAILURE"), "permanent_failure"),
    (SyncOutcome("SKIPPED", reason="opted_out", receipt_status="OPT_OUT"), "opted_out"),
])
def test_a_synchronous_outcome_is_recorded_and_resumes_the_senders_own_task(endpoint, monkeypatch, outcome, reason):
    with Stubber(aws.client("stepfunctions")) as stub:
        expected = {"endpoint_id": "ep-1", "channel": "GCM", "status": outcome.status, "provider": "push",
                    "attempts": 1, "receipt_status": outcome.receipt_status}
        if reason:
            expected["reason"] = reason
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN,
                                                                    "output": JsonOf(expected)})
        answer, _ = _send(monkeypatch, SendResult("msg-sync-1", outcome=outcome))
        stub.assert_no_pending_responses()
    record = endpoint.get("batch-1", "ep-1")
    assert (record["status"], record.get("reason"), record["provider_message_id"]) == (outcome.status, reason,
                                                                                      "msg-sync-1")
    assert answer["status"] == outcome.status
    # Nothing waits for a receipt: no message pointer was linked.
    assert endpoint.pointer("push", "msg-sync-1") is None


def test_an_opted_out_destination_is_skipped_not_failed(endpoint, monkeypatch):
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": JsonOf(
            {"endpoint_id": "ep-1", "channel": "GCM", "status": "SKIPPED", "reason": "opted_out",
             "provider": "push", "attempts": 1})})
        answer, _ = _send(monkeypatch, ProviderOptedOut("DESTINATION_PHONE_NUMBER_OPTED_OUT", 400))
        stub.assert_no_pending_responses()
    record = endpoint.get("batch-1", "ep-1")
    assert (record["status"], record["reason"]) == ("SKIPPED", "opted_out")
    assert answer["status"] == "SKIPPED"


def test_a_task_already_gone_is_no_error_for_a_synchronous_outcome(endpoint, monkeypatch):
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400)
        answer, _ = _send(monkeypatch, SendResult("m", outcome=SyncOutcome("DELIVERED")))
    assert answer["status"] == "DELIVERED"
    assert endpoint.get("batch-1", "ep-1")["resume_error"] == "TaskTimedOut"


def test_a_lost_answer_is_not_raised_and_the_endpoint_waits_for_a_receipt(endpoint, monkeypatch):
    with Stubber(aws.client("stepfunctions")) as stub:  # no call to Step Functions at all
        answer, provider = _send(monkeypatch, ProviderOutcomeUnknown("read timeout after the request was sent"))
        stub.assert_no_pending_responses()
    assert answer == {"status": "SENT", "outcome_unknown": True}
    record = endpoint.get("batch-1", "ep-1")
    assert record["status"] == "SENT"
    assert record["outcome_unknown"] is True
    assert "provider_message_id" not in record

    # A retried task (the Lambda service's own retry) does not send it a second time.
    again, provider_again = _send(monkeypatch, SendResult("never"))
    assert again["resent"] is False
    assert provider_again.requests == []

    # A receipt carrying the idempotency key finds the endpoint through the key's pointer.
    pointer = endpoint.key_pointer("push", provider.requests[0].idempotency_key)
    assert (pointer["batch_id"], pointer["endpoint_id"]) == ("batch-1", "ep-1")


def test_a_receipt_parked_under_the_key_before_the_answer_was_lost_is_applied(endpoint, monkeypatch):
    key = sender.idempotency_key("batch-1", "ep-1")
    endpoint.park_keyed_receipt("push", key, {"message_id": "msg-9", "status": "delivered"})
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": JsonOf(
            {"endpoint_id": "ep-1", "channel": "GCM", "status": "DELIVERED", "provider": "push", "attempts": 1,
             "receipt_status": "delivered"})})
        _send(monkeypatch, ProviderOutcomeUnknown("connection reset after sending"))
        stub.assert_no_pending_responses()
    assert endpoint.get("batch-1", "ep-1")["status"] == "DELIVERED"


def test_a_wait_that_ends_without_a_receipt_after_a_lost_answer_is_send_outcome_unknown(endpoint, monkeypatch):
    _send(monkeypatch, ProviderOutcomeUnknown("read timeout"))
    event = {"context": {"batch_id": "batch-1", "source": "test"}, "recipient": {"endpoint_id": "ep-1",
                                                                                  "channel": "GCM"},
             "error": {"Error": "States.Timeout", "Cause": ""}}
    summary = record_outcome.handler(event, Context(function_name="RecordOutcomeFunction"))  # type: ignore[arg-type]
    assert (summary["status"], summary["reason"]) == ("FAILED", "send_outcome_unknown")


def test_a_wait_that_ends_without_a_receipt_after_an_accepted_send_is_still_timed_out(endpoint, monkeypatch):
    _send(monkeypatch, SendResult("msg-accepted"))
    event = {"context": {"batch_id": "batch-1", "source": "test"}, "recipient": {"endpoint_id": "ep-1",
                                                                                  "channel": "GCM"},
             "error": {"Error": "States.HeartbeatTimeout", "Cause": ""}}
    summary = record_outcome.handler(event, Context(function_name="RecordOutcomeFunction"))  # type: ignore[arg-type]
    assert (summary["status"], summary["reason"]) == ("TIMED_OUT", "no_receipt")


def test_apply_parked_is_unchanged_for_receipts_by_message_id(endpoint, monkeypatch):
    _send(monkeypatch, SendResult("msg-2"))
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_client_error("send_task_failure", service_error_code="TaskDoesNotExist", http_status_code=400)
        assert apply_parked(endpoint, aws.client("stepfunctions"), Target("batch-1", "ep-1", TOKEN),
                            [{"message_id": "msg-2", "status": "bounced"}]).value == "late"


@pytest.mark.parametrize("answer", [SendResult("msg-7"), ProviderOutcomeUnknown("read timeout after sending")])
def test_a_retried_sender_links_the_pointer_its_first_attempt_did_not(endpoint, monkeypatch, answer):
    """Found by the soak under AWS throttling: the first attempt recorded the send, then stopped
    before linking its pointer (here: the invocation ran out of time). The retry must link it;
    otherwise every receipt from then on is parked on a pointer nobody reads, and the endpoint
    times out although it was delivered."""
    from journey_activity.ledger import Ledger

    stopped = TimeoutError("the invocation ran out of time")
    links = {"message": Ledger.link_pointer, "key": Ledger.link_key_pointer}
    first_links: list[str] = []

    def fail_once(kind: str) -> Any:
        def link(self: Ledger, *args: Any, **kwargs: Any) -> Any:
            if kind not in first_links:
                first_links.append(kind)
                raise stopped
            return links[kind](self, *args, **kwargs)
        return link

    monkeypatch.setattr(Ledger, "link_pointer", fail_once("message"))
    monkeypatch.setattr(Ledger, "link_key_pointer", fail_once("key"))
    with pytest.raises(TimeoutError):
        _send(monkeypatch, answer)
    assert endpoint.get("batch-1", "ep-1")["status"] == "SENT"

    again, provider_again = _send(monkeypatch, SendResult("never"))  # the state machine's retry
    assert again["resent"] is False
    assert provider_again.requests == []
    # A receipt arriving now finds the endpoint: the pointer is linked.
    receipt = {"message_id": "msg-7", "status": "delivered"}
    if isinstance(answer, SendResult):
        pointer = endpoint.park_receipt("push", "msg-7", receipt)
    else:
        pointer = endpoint.park_keyed_receipt("push", sender.idempotency_key("batch-1", "ep-1"), receipt)
    assert (pointer.get("batch_id"), pointer.get("endpoint_id")) == ("batch-1", "ep-1")
    assert pointer["task_token"] == TOKEN  # the retry's own task is the one a receipt resumes


@pytest.mark.parametrize("answer", [SendResult("msg-8"), ProviderOutcomeUnknown("reset after sending"),
                                    SendResult("msg-9", outcome=SyncOutcome("DELIVERED", receipt_status="SUCCESSFUL"))])
def test_a_throttled_write_after_the_provider_took_the_message_never_sends_it_again(endpoint, monkeypatch, answer):
    """The provider has the message; its record's write is throttled past the SDK's retries. The
    sender retries the write itself: failing the invocation would make the state machine's retry
    find the endpoint still SENDING and send again."""
    from botocore.exceptions import ClientError

    from journey_activity.ledger import Ledger

    update = Ledger._update
    throttled = 0

    def throttle_twice(self: Ledger, key: Any, sets: Any, **kwargs: Any) -> Any:
        nonlocal throttled
        after_send = "provider_message_id" in sets or "outcome_unknown" in sets or "finished_at" in sets
        if after_send and throttled < 2:
            throttled += 1
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                              "UpdateItem")
        return update(self, key, sets, **kwargs)

    monkeypatch.setattr(Ledger, "_update", throttle_twice)
    monkeypatch.setattr(sender.time, "sleep", lambda seconds: None)
    with Stubber(aws.client("stepfunctions")) as stub:
        if isinstance(answer, SendResult) and answer.outcome is not None:
            stub.add_response("send_task_success", {})
        result, provider = _send(monkeypatch, answer)
    assert throttled == 2
    assert len(provider.requests) == 1
    assert endpoint.get("batch-1", "ep-1")["status"] in ("SENT", "DELIVERED")
    assert result["status"] in ("SENT", "DELIVERED")


def test_a_retried_sender_whose_endpoint_a_receipt_made_final_resumes_its_own_task(endpoint, monkeypatch):
    """A receipt may make the record final between a retried attempt's start and its link (it
    resumed the last attempt's token, whose task is gone): the retry resumes its own task."""
    _send(monkeypatch, SendResult("msg-8"))  # the first attempt: SENT, pointer linked with TOKEN
    from journey_activity.ledger import Ledger

    link = Ledger.link_pointer

    def receipt_meanwhile(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        endpoint.finish("batch-1", "ep-1", LedgerStatus.DELIVERED, receipt_status="delivered")
        return link(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "link_pointer", receipt_meanwhile)
    with Stubber(aws.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, expected_params={"taskToken": TOKEN, "output": JsonOf(
            {"endpoint_id": "ep-1", "channel": "GCM", "status": "DELIVERED", "provider": "push", "attempts": 1,
             "receipt_status": "delivered"})})
        again, provider_again = _send(monkeypatch, SendResult("never"))
        stub.assert_no_pending_responses()
    assert again["resent"] is False
    assert provider_again.requests == []


def test_a_send_writes_the_record_twice_and_links_the_pointer_once(endpoint, monkeypatch):
    """SENDING, SENT, the pointer's link (with the token), and one read of the recipient."""
    from journey_activity_local.engine.dynamodb_units import metered

    with metered() as units:
        _send(monkeypatch, SendResult("msg-count"))
    assert units["other_wcu"] == 3
    assert units["other_rcu"] == 0.5  # the recipient, read eventually consistent
    assert endpoint.pointer("push", "msg-count")["task_token"] == TOKEN
    assert "task_token" not in endpoint.get("batch-1", "ep-1")


def _paced_task(heartbeat: float) -> Any:
    return sender.SendTask(task_token=TOKEN, context=BatchContext(batch_id="batch-1", source="test"),
                           recipient=RecipientRef(endpoint_id="ep-1", channel="GCM", part=0),
                           receipt={"timeout_seconds": heartbeat * 4, "heartbeat_seconds": heartbeat})


def test_a_waiting_task_never_waits_for_a_send_slot_past_half_its_heartbeat(endpoint, monkeypatch):
    """A task's heartbeat clock runs while it waits for a paced provider's slot: a slot further
    ahead than half the heartbeat is refused (ProviderThrottled, retried by Step Functions with a
    fresh clock), the endpoint is not sent and its lease is given back; within it, it is sent."""
    from journey_activity import pacing

    provider = _Answering(SendResult("msg-paced-1"))
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push", "send_rate": 1}})})
    # Every slot of the next 5 s is taken by other senders.
    pacer = pacing.Pacer(endpoint.table_name)
    taken = [pacer.take("push", 1, within=30) for _ in range(6)]
    assert all(taken)
    assert sender.slot_wait_seconds(_paced_task(4)) == 2
    with pytest.raises(sender.ProviderThrottled, match="within 2 s"):
        sender.send(_paced_task(4), settings)
    assert provider.requests == []
    assert endpoint.get("batch-1", "ep-1")["status"] != "SENT"
    assert sender.slot_wait_seconds(_paced_task(60)) == sender.PACE_WAIT_SECONDS
    monkeypatch.setattr(pacing.Slot, "wait", lambda self: None)  # the slot's time, without the sleep
    with Stubber(aws.client("stepfunctions")):
        sender.send(_paced_task(60), settings)
    assert [request.endpoint_id for request in provider.requests] == ["ep-1"]


def _group_task(heartbeat: float, endpoint_ids: tuple[str, ...] = ("ep-1",)) -> Any:
    return sender.GroupTask(task_token=TOKEN, context=BatchContext(batch_id="batch-1", source="test"),
                            group={"id": "g0", "label": "Send push (1 endpoint)", "sender": "push-fn",
                                   "recipients": [{"endpoint_id": e, "channel": "GCM", "part": 0}
                                                  for e in endpoint_ids]},
                            receipt={"timeout_seconds": heartbeat * 4, "heartbeat_seconds": heartbeat})


def test_a_group_starts_sends_within_its_window_and_gives_each_call_its_whole_timeout(endpoint, monkeypatch):
    """The group's send window is half its heartbeat: no send starts after it (the attempt fails
    ProviderThrottled, retried later with a fresh clock); a send started within it has its
    provider's whole timeout, bounded by the invocation's deadline only (a call cut short by the
    window would fail for want of time alone: as unavailable, or as a lost answer)."""
    provider = _Answering(SendResult("msg-group-1"))
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push", "timeout_seconds": 5}})})
    with pytest.raises(sender.ProviderThrottled, match="send window is over"):
        sender.send_and_wait_group(_group_task(heartbeat=0.000_001), settings)  # over before the first send
    assert provider.requests == []
    with Stubber(aws.client("stepfunctions")):
        outcome = sender.send_and_wait_group(_group_task(heartbeat=2), settings)  # a 1 s window, a 5 s timeout
    assert outcome["sent"] == 1
    assert [(request.endpoint_id, request.deadline) for request in provider.requests] == [("ep-1", None)]
    assert endpoint.get("batch-1", "ep-1")["group"] == "g0"


class _Blipping(_Answering):
    """Fails the first ``failures`` calls with ``error``, then answers."""

    def __init__(self, answer: SendResult, error: Exception, failures: int) -> None:
        super().__init__(answer)
        self.error, self.failures = error, failures

    def send(self, request: SendRequest) -> SendResult:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            raise self.error
        return self.answer


@pytest.mark.parametrize("error", [sender.ProviderUnavailable("push: 503", 503),
                                   sender.ProviderThrottled("push: 429", 429)])
def test_a_group_sends_an_endpoint_again_after_one_provider_blip(endpoint, monkeypatch, error):
    """One failed or throttled call is sent again within the attempt, after the pause: the group's
    attempt ends without failing (no retry of the whole group); a second failure is the attempt's,
    left for the state machine's Retry, and the endpoint's lease is given back for it."""
    pauses: list[float] = []

    def pause() -> float:
        pauses.append(0.0)
        return 0.0

    provider = _Blipping(SendResult("msg-blip-1"), error, failures=1)
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push"}})})
    with Stubber(aws.client("stepfunctions")):
        outcome = sender.send_and_wait_group(_group_task(heartbeat=60), settings, pause=pause)
    assert (outcome["sent"], outcome["left"]) == (1, 0)
    assert [request.endpoint_id for request in provider.requests] == ["ep-1", "ep-1"]
    assert pauses == [0.0]
    assert endpoint.get("batch-1", "ep-1")["status"] == "SENT"

    endpoint.put_recipients("batch-2", {"ep-1": Recipient(endpoint_id="ep-1", channel="GCM", address=ADDRESS)})
    twice = _Blipping(SendResult("msg-blip-2"), error, failures=2)
    monkeypatch.setattr(sender, "provider_for", lambda config: twice)
    task = _group_task(heartbeat=60).model_copy(update={"context": BatchContext(batch_id="batch-2", source="test")})
    with pytest.raises(type(error), match="left for a retry"):
        sender.send_and_wait_group(task, settings, pause=pause)
    assert len(twice.requests) == 2
    assert endpoint.get("batch-2", "ep-1")["status"] != "SENT"


def test_a_group_leaves_a_blip_for_the_retry_when_the_pause_would_end_past_its_window(endpoint, monkeypatch):
    """No second send starts after the group's send window: the attempt fails for the Retry."""
    provider = _Blipping(SendResult("msg-blip-3"), sender.ProviderUnavailable("push: 503", 503), failures=1)
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push"}})})
    with pytest.raises(sender.ProviderUnavailable, match="left for a retry"):
        sender.send_and_wait_group(_group_task(heartbeat=2), settings, pause=lambda: 5.0)  # a 1 s window
    assert len(provider.requests) == 1


def test_a_group_reads_its_recipients_parts_once_not_once_an_endpoint(endpoint, monkeypatch):
    """Three endpoints in one part: one read of the part for the group (BatchGetItem), none per endpoint."""
    from journey_activity.ledger import Ledger
    from journey_activity_local.engine.dynamodb_units import metered

    endpoint.put_recipients("batch-1", {e: Recipient(endpoint_id=e, channel="GCM", address=f"device-{e}")
                                        for e in ("ep-1", "ep-2", "ep-3")})
    reads: list[str] = []
    one_by_one = Ledger.recipient
    monkeypatch.setattr(Ledger, "recipient", lambda self, *args: reads.append(args[1]) or one_by_one(self, *args))
    provider = _Answering(SendResult("msg-parts"))
    monkeypatch.setattr(sender, "provider_for", lambda config: provider)
    settings = settings_from({"CHANNEL_PROVIDERS": json.dumps(
        {"GCM": {"url": "https://push.example.com/send", "name": "push"}})})
    with Stubber(aws.client("stepfunctions")), metered() as units:
        outcome = sender.send_and_wait_group(_group_task(heartbeat=60, endpoint_ids=("ep-1", "ep-2", "ep-3")),
                                             settings)
    assert outcome["sent"] == 3
    assert reads == []
    assert sorted(request.address for request in provider.requests) == ["device-ep-1", "device-ep-2", "device-ep-3"]
    # The part (one eventually consistent read unit at most), the group item, the counter.
    assert units["other_rcu"] <= 0.5 + 2
