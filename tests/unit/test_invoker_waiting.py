"""The invoker at scale, on moto's DynamoDB and Step Functions: a poll is one small read while
nothing new is final, the execution is looked at once near the deadline, and throttling of
anything the invoker calls is answered (what is known, the rest PENDING) or a clear error."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from journey_activity import aws, config
from journey_activity.errors import StartUnavailable
from journey_activity.handlers import _runtime
from journey_activity.dispatch import start_before, wait_for_results
from journey_activity.ledger import Ledger, progress_key
from journey_activity.models.batch import Batch, BatchContext, LedgerStatus, Recipient
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


def test_the_progress_version_moves_once_per_record_made_final(book):
    assert book.progress(BATCH) == 0
    open_endpoint(book, "a")
    assert book.progress(BATCH) == 0  # an open record is no progress
    assert book.finish(BATCH, "a", LedgerStatus.DELIVERED)[0]
    assert book.progress(BATCH) == 1
    assert not book.finish(BATCH, "a", LedgerStatus.FAILED)[0]  # already final: no write, no move
    assert book.progress(BATCH) == 1
    from journey_activity.models.batch import EndpointResult
    book.record_skipped(BATCH, [EndpointResult(endpoint_id=e, channel="SMS", status=LedgerStatus.SKIPPED)
                                for e in ("s1", "s2")])
    assert book.progress(BATCH) == 3
    # The progress item lives in a partition of its own: the batch's records never include it.
    assert set(book.batch_records(BATCH)) == {"a", "s1", "s2"}
    assert "pk" in progress_key(BATCH)
    assert progress_key(BATCH)["pk"] != BATCH


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
