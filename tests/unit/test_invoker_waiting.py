"""The invoker at scale, on moto's DynamoDB and Step Functions: a poll is one small read while
nothing new is final, the execution is looked at once near the deadline, and throttling of
anything the invoker calls is answered (what is known, the rest PENDING) or a clear error."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from journey_activity import aws, config, dispatch
from journey_activity.dispatch import (
    MAX_EXECUTION_INPUT_BYTES,
    MAX_PART_PROFILES,
    peak_state_bytes,
    split,
    start_before,
    start_parts,
    unkeyable,
    wait_for_parts,
    wait_for_results,
)
from journey_activity.errors import StartUnavailable
from journey_activity.handlers import _runtime
from journey_activity.ledger import TEMPLATE_SK, Ledger
from journey_activity.models.batch import Batch, BatchContext, LedgerStatus, Recipient
from journey_activity.models.execution import ExecutionInput
from tests.conftest import LEDGER_KEYS

BATCH = "pinpoint-0123"
ROLE = "arn:aws:iam::123456789012:role/sfn"
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def batch_of(*endpoint_ids: str, batch_id: str = BATCH) -> Batch:
    return Batch(context=BatchContext(batch_id=batch_id, source="pinpoint"),
                 recipients=[Recipient(endpoint_id=e, channel="SMS", address="+14155550100") for e in endpoint_ids])


def refuse(code: str, status: int = 400) -> Any:
    """A before-call hook answering as AWS does when it refuses a call (botocore raises ClientError)."""
    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return (AWSResponse("https://aws.invalid", status, {}, None),
                {"Error": {"Code": code, "Message": "Rate exceeded"}, "ResponseMetadata": {"HTTPStatusCode": status}})
    return hook


class Calls:
    """Counts each API call a client makes, by operation name."""

    def __init__(self, client: Any) -> None:
        self.seen: Counter[str] = Counter()
        client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1


@pytest.fixture
def aws_env(fake_aws, monkeypatch):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    monkeypatch.setenv("LEDGER_TABLE", "ledger")
    machine = boto3.client("stepfunctions").create_state_machine(name="batch", definition=DEFINITION, roleArn=ROLE)
    monkeypatch.setenv("STATE_MACHINE_ARN", machine["stateMachineArn"])
    config.reset_settings_cache()
    aws.reset_clients()
    _runtime.reset()
    yield {"dynamodb": dynamodb, "machine": machine["stateMachineArn"]}
    config.reset_settings_cache()
    aws.reset_clients()
    _runtime.reset()


@pytest.fixture
def book(aws_env):
    return Ledger("ledger", dynamodb=aws_env["dynamodb"])


def open_endpoint(book: Ledger, endpoint_id: str) -> None:
    send, _ = book.begin_send(BATCH, endpoint_id, channel="SMS", provider="http", about={"journey_id": "j" * 600})
    assert send


def test_while_nothing_is_final_each_poll_is_one_getitem_and_the_execution_is_looked_at_once(book, aws_env):
    for endpoint_id in ("a", "b"):
        open_endpoint(book, endpoint_id)
    dynamodb, sfn = Calls(aws_env["dynamodb"]), Calls(aws.client("stepfunctions"))
    arn = f"{aws_env['machine'].replace(':stateMachine:', ':execution:')}:{BATCH}"  # never started: the look fails
    results = wait_for_results(book, batch_of("a", "b"), arn, time.monotonic() + 1.6)
    assert results == {}
    assert dynamodb.seen["GetItem"] >= 3
    # One Query, the look's read regardless of the version; none for the polls.
    assert dynamodb.seen["Query"] == 1
    assert sfn.seen == Counter({"DescribeExecution": 1})


def test_the_partition_is_read_when_the_version_moved_and_only_then(book, aws_env):
    for endpoint_id in ("a", "b"):
        open_endpoint(book, endpoint_id)
    book.finish(BATCH, "a", LedgerStatus.DELIVERED)
    book.finish(BATCH, "b", LedgerStatus.FAILED, reason="bounced")
    dynamodb = Calls(aws_env["dynamodb"])
    results = wait_for_results(book, batch_of("a", "b"), "arn:unused", time.monotonic() + 5)
    assert {k: v.status for k, v in results.items()} == {"a": "DELIVERED", "b": "FAILED"}
    assert dynamodb.seen == Counter({"GetItem": 1, "Query": 1})


def test_a_record_final_without_its_version_is_answered_late_never_wrong(book, aws_env):
    """The writer stopped between its two writes: the record is final, the version not moved.
    Polls see no change and answer nothing about it; the look before the deadline reads it."""
    for endpoint_id in ("a", "b"):
        open_endpoint(book, endpoint_id)
    aws_env["dynamodb"].update_item(TableName="ledger", Key={"pk": {"S": BATCH}, "sk": {"S": "b"}},
                                    UpdateExpression="SET #s = :d", ExpressionAttributeNames={"#s": "status"},
                                    ExpressionAttributeValues={":d": {"S": "DELIVERED"}})
    dynamodb = Calls(aws_env["dynamodb"])
    results = wait_for_results(book, batch_of("a", "b"), "arn:unused", time.monotonic() + 1.8)
    assert {k: v.status for k, v in results.items()} == {"b": "DELIVERED"}  # "a" is open: PENDING
    assert book.progress(BATCH) == 0
    assert dynamodb.seen["GetItem"] >= 3  # polls before the look saw no change and read nothing more
    assert dynamodb.seen["Query"] == 1  # the look's read, whatever the version


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttled_reads_answer_what_is_known_and_the_rest_pending(book, aws_env, code):
    for endpoint_id in ("a", "b"):
        open_endpoint(book, endpoint_id)
    book.finish(BATCH, "a", LedgerStatus.DELIVERED)
    wanted = batch_of("a", "b")
    known = wait_for_results(book, wanted, "arn:unused", time.monotonic() + 0.3)
    assert set(known) == {"a"}
    # From now on every read is throttled, as DynamoDB does once botocore's retries ran out.
    aws_env["dynamodb"].meta.events.register("before-call.dynamodb.GetItem", refuse(code))
    aws_env["dynamodb"].meta.events.register("before-call.dynamodb.Query", refuse(code))
    aws.client("stepfunctions").meta.events.register("before-call.states.DescribeExecution",
                                                     refuse("ThrottlingException"))
    assert wait_for_results(book, wanted, "arn:unused", time.monotonic() + 1.3) == {}


def test_a_read_refused_for_good_stops_waiting_at_once(book, aws_env):
    open_endpoint(book, "a")
    aws_env["dynamodb"].meta.events.register("before-call.dynamodb.GetItem", refuse("AccessDeniedException"))
    dynamodb = Calls(aws_env["dynamodb"])
    assert wait_for_results(book, batch_of("a"), "arn:unused", time.monotonic() + 30) == {}
    assert dynamodb.seen == Counter({"GetItem": 1})


def test_a_throttled_start_is_tried_again_within_the_deadline_and_starts_once(aws_env):
    sfn = aws.client("stepfunctions")
    throttled = {"left": 3}

    def sometimes(**kwargs: Any) -> Any:
        if throttled["left"]:
            throttled["left"] -= 1
            return refuse("ThrottlingException")(**kwargs)
        return None

    sfn.meta.events.register("before-call.states.StartExecution", sometimes)
    settings = config.get_settings()
    arn = start_before(time.monotonic() + 30, batch_of("a"), settings)
    assert throttled["left"] == 0
    # The journey's retry of the same invocation joins the same execution: nothing starts twice.
    assert start_before(time.monotonic() + 30, batch_of("a"), settings) == arn
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=aws_env["machine"])["executions"]] == [BATCH]


def test_a_start_throttled_until_the_deadline_is_a_clear_error_and_the_retry_sends_once(aws_env):
    sfn = aws.client("stepfunctions")
    sfn.meta.events.register("before-call.states.StartExecution", refuse("ThrottlingException"))
    settings = config.get_settings()
    with pytest.raises(StartUnavailable, match=r"ThrottlingException.*nothing was sent.*Retrying"):
        start_before(time.monotonic() + 0.5, batch_of("a"), settings)
    assert sfn.list_executions(stateMachineArn=aws_env["machine"])["executions"] == []
    aws.reset_clients()  # a fresh client: the throttling has passed
    start_before(time.monotonic() + 5, batch_of("a"), settings)
    start_before(time.monotonic() + 5, batch_of("a"), settings)
    assert len(aws.client("stepfunctions").list_executions(stateMachineArn=aws_env["machine"])["executions"]) == 1


def test_a_start_refused_for_another_reason_is_not_retried(aws_env):
    sfn = aws.client("stepfunctions")
    calls = Calls(sfn)
    sfn.meta.events.register("before-call.states.StartExecution", refuse("AccessDeniedException"))
    with pytest.raises(Exception, match="AccessDenied"):
        start_before(time.monotonic() + 30, batch_of("a"), config.get_settings())
    assert calls.seen["StartExecution"] == 1


# --- A batch of any size: parts, each one execution --------------------------------------------------


def test_a_batch_splits_into_parts_named_from_it_in_input_order_and_the_same_way_every_time():
    ids = [f"p-{index:04d}" for index in range(600)]
    parts = split(batch_of(*ids, batch_id="connect-abc"))
    assert [len(p.recipients) for p in parts] == [MAX_PART_PROFILES] * 4 + [600 - 4 * MAX_PART_PROFILES]
    assert [p.context.batch_id for p in parts] == [f"connect-abc-{n}" for n in range(1, 6)]
    assert [r.endpoint_id for p in parts for r in p.recipients] == ids
    assert split(batch_of(*ids, batch_id="connect-abc")) == parts  # a retried invocation: the same parts
    assert [p.context.batch_id for p in split(batch_of(*ids[:MAX_PART_PROFILES], batch_id="b"))] == ["b"]
    for part in parts:
        assert peak_state_bytes(part) <= MAX_EXECUTION_INPUT_BYTES


def test_the_execution_input_is_what_the_steps_validate_with_no_personal_data(aws_env):
    """The invoker writes the input without the steps' models: the same JSON they would write,
    the context (a large template by reference), each endpoint by reference with its part."""
    text = "Hello {{User.Name}} é漢字😀 \u2028 \x01 \"</script>\\" + "x" * dispatch.INLINE_TEMPLATE_BYTES
    batch = Batch(context=BatchContext(batch_id=BATCH, source="pinpoint", template=text, wait_mode="group"),
                  recipients=[Recipient(endpoint_id="kept-é", channel="SMS", address="+14155550100",
                                        profile={"User": {"Name": "Ana"}}),
                              Recipient(endpoint_id="out", channel="EMAIL", address="a@example.com", opted_out=True),
                              Recipient(endpoint_id="gone", channel="SMS", active=False),
                              Recipient(endpoint_id="bad", channel="GCM", invalid="no \x02 token",
                                        invalid_reason="invalid_endpoint")])
    name, written = dispatch.prepare(batch, config.get_settings())
    run = ExecutionInput.model_validate_json(written)
    assert name == BATCH
    assert run.context == batch.context.model_copy(update={"template": None, "template_ref": TEMPLATE_SK})
    assert [(r.endpoint_id, r.opted_out, r.active, r.invalid, r.part) for r in run.recipients] == [
        ("kept-é", False, True, None, 0), ("out", True, True, None, None), ("gone", False, False, None, None),
        ("bad", False, True, "no \x02 token", None)]
    assert written == run.model_dump_json()  # as pydantic writes it
    assert [text for text in ("+1415", "a@example.com", "Ana") if text in written] == []


def test_long_ids_make_smaller_parts_each_within_the_payload_limit():
    ids = [f"{index:03d}" + "i" * 1017 for index in range(120)]  # 1,020 bytes: a ledger key still
    parts = split(batch_of(*ids))
    assert len(parts) > 1
    assert all(peak_state_bytes(p) <= MAX_EXECUTION_INPUT_BYTES for p in parts)
    assert sum(len(p.recipients) for p in parts) == 120


def test_an_id_that_cannot_key_the_ledger_is_answered_skipped_and_enters_no_execution():
    batch = batch_of("fine", "x" * 1025, "")
    kept, answered = unkeyable(batch)
    assert [r.endpoint_id for r in kept.recipients] == ["fine"]
    assert {k[:3]: (v.status, v.reason) for k, v in answered.items()} == {
        "xxx": ("SKIPPED", "invalid_endpoint"), "": ("SKIPPED", "invalid_endpoint")}


def test_a_part_aws_will_not_start_is_answered_not_started_and_the_others_run(aws_env, monkeypatch):
    monkeypatch.setattr("journey_activity.dispatch.MAX_PART_PROFILES", 2)
    sfn = aws.client("stepfunctions")

    def last_part_throttled(params: Any, **kwargs: Any) -> Any:
        name = json.loads(params["body"])["name"]  # the request as it goes out
        return refuse("ThrottlingException")(**kwargs) if name.endswith("-3") else None

    sfn.meta.events.register("before-call.states.StartExecution", last_part_throttled)
    # Room for three parts' claims and writes on a loaded machine; the third part is throttled until then.
    begun = start_parts(batch_of("a", "b", "c", "d", "e"), config.get_settings(), time.monotonic() + 4.0)
    assert [batch.context.batch_id for batch, _ in begun.runs] == [f"{BATCH}-1", f"{BATCH}-2"]
    assert {k: (v.status, v.reason) for k, v in begun.answered.items()} == {"e": ("PENDING", "not_started")}
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=aws_env["machine"])["executions"]}
    assert names == {f"{BATCH}-1", f"{BATCH}-2"}


def test_no_part_started_fails_the_invocation(aws_env):
    aws.client("stepfunctions").meta.events.register("before-call.states.StartExecution",
                                                     refuse("ThrottlingException"))
    with pytest.raises(StartUnavailable):
        start_parts(batch_of("a", "b"), config.get_settings(), time.monotonic() + 0.4)


def test_parts_are_waited_for_together_and_a_send_the_provider_accepted_is_answered_sent(book, aws_env):
    other = "pinpoint-0123-2"
    open_endpoint(book, "a")
    book.finish(BATCH, "a", LedgerStatus.DELIVERED)
    send, _ = book.begin_send(other, "b", channel="SMS", provider="http", about={})
    assert send
    book.mark_sent(other, "b", provider="http", message_id="msg-1", task_token="token-b")
    dynamodb = Calls(aws_env["dynamodb"])
    waited = wait_for_parts(book, [(batch_of("a"), "arn:unused"), (batch_of("b", "c", batch_id=other), "arn:x")],
                            time.monotonic() + 1.6)
    assert {k: (v.status, v.journey_status.value) for k, v in waited.results.items()} == {
        "a": ("DELIVERED", "DELIVERED"), "b": ("SENT", "SENT")}  # "c" was never sent: PENDING when answered
    # The first part was complete after one poll; only the open part was polled after that.
    assert waited.progress_reads == dynamodb.seen["GetItem"]


def test_a_call_to_aws_still_running_when_the_answer_is_due_does_not_hold_the_answer(book, aws_env):
    """A ledger read that hangs (a loaded or throttled table, up to botocore's read timeout)
    after some outcomes were read: the answer goes out by ``answer_by`` with what is known."""
    for endpoint_id in ("a", "b"):
        open_endpoint(book, endpoint_id)
    book.finish(BATCH, "a", LedgerStatus.DELIVERED)
    reads = {"count": 0}
    release = threading.Event()

    def hang_after_the_first(**_: Any) -> None:
        reads["count"] += 1
        if reads["count"] > 1:
            release.wait(10)

    aws_env["dynamodb"].meta.events.register("before-call.dynamodb.GetItem", hang_after_the_first)
    began = time.monotonic()
    waited = wait_for_parts(book, [(batch_of("a", "b"), "arn:unused")], began + 0.5, answer_by=began + 1.0)
    release.set()
    assert waited.overran
    assert {k: v.status for k, v in waited.results.items()} == {"a": "DELIVERED"}
    assert reads["count"] == 2  # the first read, then the one that hung: never a third


def test_starting_stops_before_the_deadline_and_the_rest_is_answered_not_started(aws_env, monkeypatch):
    """A slow StartExecution (a loaded or throttled service): the first part is started, later ones
    only while the answer can still go out in time; every endpoint is in a run or answered."""
    monkeypatch.setattr("journey_activity.dispatch.MAX_PART_PROFILES", 2)
    launch = dispatch.launch

    def slow_launch(*args: Any) -> str:
        time.sleep(1.0)
        return launch(*args)

    monkeypatch.setattr(dispatch, "launch", slow_launch)
    ids = ("a", "b", "c", "d", "e", "f")
    begun = start_parts(batch_of(*ids), config.get_settings(), time.monotonic() + 2.0)
    started = [r.endpoint_id for batch, _ in begun.runs for r in batch.recipients]
    assert started[:2] == ["a", "b"]
    assert {k: (v.status, v.reason) for k, v in begun.answered.items()} == {
        k: ("PENDING", "not_started") for k in ids if k not in started}
    assert "e" in begun.answered
    assert "f" in begun.answered


def test_a_start_still_running_when_the_answer_is_due_does_not_hold_the_answer(aws_env, monkeypatch):
    """A ledger call that hangs (a loaded or throttled table, up to botocore's timeouts and retries):
    the answer goes out at its time, every endpoint PENDING not_started, and the start, told to
    stop, starts nothing once the call returns."""
    from journey_activity.dispatch import start_parts_by

    release = threading.Event()
    prepare = dispatch.prepare

    def hanging_prepare(*args: Any) -> Any:  # the part's ledger writes: a call that does not return
        release.wait(10)
        return prepare(*args)

    monkeypatch.setattr(dispatch, "prepare", hanging_prepare)
    began = time.monotonic()
    begun = start_parts_by(batch_of("a", "b"), config.get_settings(), began + 5.0, answer_at=began + 0.5)
    assert begun.overran
    assert begun.runs == []
    assert {k: (v.status, v.reason) for k, v in begun.answered.items()} == {
        "a": ("PENDING", "not_started"), "b": ("PENDING", "not_started")}
    release.set()
    time.sleep(1.0)  # the start thread goes on from the call that hung, and stops before the next
    assert aws.client("stepfunctions").list_executions(stateMachineArn=aws_env["machine"])["executions"] == []


def test_a_start_execution_in_flight_when_the_answer_is_due_is_answered_unconfirmed(aws_env, monkeypatch):
    """StartExecution still running at answer time may yet start the part: its endpoints are
    PENDING start_unconfirmed, never not_started (which says nothing will be sent)."""
    from journey_activity.dispatch import start_parts_by

    release = threading.Event()
    launch = dispatch.launch

    def slow_launch(*args: Any) -> str:
        release.wait(15)
        return launch(*args)

    monkeypatch.setattr(dispatch, "launch", slow_launch)
    began = time.monotonic()
    # Room for the claims and the ledger writes before the answer (two endpoints: milliseconds on an
    # idle machine), then StartExecution hangs.
    begun = start_parts_by(batch_of("a", "b"), config.get_settings(), began + 20.0, answer_at=began + 4.0)
    release.set()
    assert begun.overran
    assert {k: (v.status, v.reason) for k, v in begun.answered.items()} == {
        "a": ("PENDING", "start_unconfirmed"), "b": ("PENDING", "start_unconfirmed")}


def test_a_start_that_ends_in_time_is_answered_as_it_started(aws_env):
    from journey_activity.dispatch import start_parts_by

    began = time.monotonic()
    begun = start_parts_by(batch_of("a", "b"), config.get_settings(), began + 5.0, answer_at=began + 5.0)
    assert not begun.overran
    assert [batch.context.batch_id for batch, _ in begun.runs] == [BATCH]


def test_an_error_of_the_start_before_the_answer_is_raised(aws_env):
    from journey_activity.dispatch import start_parts_by

    aws.client("stepfunctions").meta.events.register("before-call.states.StartExecution",
                                                     refuse("ThrottlingException"))
    with pytest.raises(StartUnavailable):
        start_parts_by(batch_of("a"), config.get_settings(), time.monotonic() + 0.4,
                       answer_at=time.monotonic() + 3.0)
