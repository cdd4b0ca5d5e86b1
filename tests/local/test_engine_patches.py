"""The embedded engine's speed patches (journey_activity_local.engine.engine_patches): each makes moto do
once what it did on every request, and answers exactly as before. Each test puts moto's own
function back first, applies the one patch, and counts the repeated work: without the patch the
count grows with the calls."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from journey_activity_local.engine import engine_patches
from journey_activity_local.engine.stepfunctions_patches import deliver_early_callbacks, refuse_resumed_tasks


def _original(function: Any) -> Any:
    """moto's own function, whether or not an earlier local run patched it."""
    return getattr(function, "__wrapped__", function)


def _unpatched(owner: type, name: str) -> Any:
    found = owner.__dict__[name]
    return _original(getattr(found, "__func__", found))


def _counted(function: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    """``function`` wrapped to keep the positional arguments of every call."""
    calls: list[tuple[Any, ...]] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return function(*args, **kwargs)

    return counting, calls


def test_each_jsonpath_is_parsed_once(monkeypatch):
    from moto.stepfunctions.parser.asl.utils import json_path

    counting, calls = _counted(_original(json_path.parse))
    monkeypatch.setattr(json_path, "parse", counting)
    engine_patches.cache_jsonpath_parsing()
    data = {"recipient": {"sender": "arn:aws:lambda:us-east-1:1:function:Send", "ids": [1, 2]}}
    for _ in range(50):
        assert json_path.extract_json("$.recipient.sender", data) == data["recipient"]["sender"]
        assert json_path.extract_json("$.recipient.ids[1]", data) == 2
    assert calls == [("$.recipient.sender",), ("$.recipient.ids[1]",)]
    with pytest.raises(json_path.NoSuchJsonPathError):
        json_path.extract_json("$.missing", data)


def test_the_result_path_parser_is_cached_too(monkeypatch):
    from moto.stepfunctions.parser.asl.component.common.path import result_path

    counting, calls = _counted(_original(result_path.parse))
    monkeypatch.setattr(result_path, "parse", counting)
    engine_patches.cache_jsonpath_parsing()
    for _ in range(10):
        result_path.parse("$.outcome")
    assert calls == [("$.outcome",)]


def _table_client() -> Any:
    """A client with table ``t`` (pk, sk) on the current mock."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}])
    return client


@pytest.fixture
def table() -> Any:
    with mock_aws():
        yield _table_client()


def _update(client: Any, index: int) -> None:
    client.update_item(
        TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}},
        UpdateExpression="SET #s = :s, attempts = if_not_exists(attempts, :zero) + :one, note = :n REMOVE gone",
        ConditionExpression="attribute_not_exists(#s) OR #s <> :final",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": f"SENDING{index}"}, ":zero": {"N": "0"}, ":one": {"N": "1"},
                                   ":n": {"S": "x" * index}, ":final": {"S": "DELIVERED"}})


def test_each_update_expression_is_parsed_once_and_the_answers_are_unchanged(monkeypatch, table):
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    counting, calls = _counted(_unpatched(UpdateExpressionParser, "make"))
    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(counting))
    engine_patches.cache_update_expression_parsing()
    for index in range(20):
        _update(table, index)
    assert len(set(calls)) == len(calls) == 1
    item = table.get_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}})["Item"]
    assert item["status"] == {"S": "SENDING19"}
    assert item["attempts"] == {"N": "20"}
    assert item["note"] == {"S": "x" * 19}
    # A bad expression still fails, each time, as moto fails it.
    for _ in range(2):
        with pytest.raises(table.exceptions.ClientError, match="ValidationException"):
            table.update_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}},
                              UpdateExpression="SET a = :v SET b = :v", ExpressionAttributeValues={":v": {"S": "1"}})


def test_each_validator_pass_builds_its_node_map_once(monkeypatch, table):
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    from moto.dynamodb.parsing.validators import ActionCountValidator

    monkeypatch.setattr(DepthFirstTraverser, "traverse_node_recursively",
                        _unpatched(DepthFirstTraverser, "traverse_node_recursively"))
    counting, built = _counted(ActionCountValidator._processing_map)
    monkeypatch.setattr(ActionCountValidator, "_processing_map", counting)
    engine_patches.cache_traverser_node_types()
    updates = 10
    for index in range(updates):
        _update(table, index)
    # One validator per update (two for the update that creates the item).
    assert len(built) <= updates + 1
    with pytest.raises(table.exceptions.ClientError, match="ValidationException"):
        table.update_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}},
                          UpdateExpression="SET a = :v ADD c :one ADD d :one",
                          ExpressionAttributeValues={":v": {"S": "1"}, ":one": {"N": "1"}})


def test_the_servers_backend_lookup_is_done_once_per_host(monkeypatch):
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    counting_listing, listed = _counted(_original(backends.list_of_moto_modules))
    lookup = _unpatched(DomainDispatcherApplication, "get_backend_for_host")
    counting_lookup, looked = _counted(lookup)
    monkeypatch.setattr(backends, "list_of_moto_modules", counting_listing)
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", counting_lookup)
    engine_patches.cache_backend_lookup()
    app = DomainDispatcherApplication(create_backend_app)
    hosts = ["dynamodb.us-east-1.amazonaws.com", "states.us-east-1.amazonaws.com", "sqs", "dynamodb"]
    expected = [lookup(app, host) for host in hosts]
    listed_before = len(listed)
    for _ in range(20):
        assert [app.get_backend_for_host(host) for host in hosts] == expected
    assert len(looked) == len(hosts)
    assert len(listed) - listed_before <= 1
    assert expected == ["dynamodb", "stepfunctions", "sqs", "dynamodb"]


def test_a_handlers_action_names_are_listed_once_per_class(monkeypatch, table):
    from moto.core import responses

    counting, listed = _counted(_original(responses.method_names_from_class))
    monkeypatch.setattr(responses, "method_names_from_class", counting)
    engine_patches.cache_action_names()
    for index in range(10):
        _update(table, index)
        table.get_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}})
    assert len(listed) == len(set(listed)) == 1


def test_eventbridge_input_paths_are_parsed_once(monkeypatch):
    import jsonpath_ng.ext
    from moto.events.utils import EventTemplateParser

    counting, calls = _counted(_original(jsonpath_ng.ext.parse))
    monkeypatch.setattr(jsonpath_ng.ext, "parse", counting)
    engine_patches.cache_jsonpath_parsing()
    event = {"version": "0", "id": "1", "detail-type": "delivered", "source": "journey-activity",
             "account": "123456789012", "time": json.dumps("2026-11-24T00:00:00Z"), "region": "us-east-1",
             "resources": [],
             "detail": {"status": "DELIVERED"}, "ingestion-time": "2026-11-24T00:00:00Z"}
    for _ in range(10):
        assert EventTemplateParser.parse(None, {}, event)["detail"] == {"status": "DELIVERED"}
    assert len(calls) == len(set(calls))


def test_reading_a_queue_checks_retention_without_scanning_it(monkeypatch):
    from moto.sqs.models import Queue, SQSBackend

    monkeypatch.setattr(SQSBackend, "is_message_valid_based_on_retention_period",
                        _original(SQSBackend.is_message_valid_based_on_retention_period))
    engine_patches.retention_without_queue_scan()
    scans = 0
    messages = Queue.messages

    def counting(self: Any) -> Any:
        nonlocal scans
        scans += 1
        return messages.fget(self)

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for index in range(30):
            sqs.send_message(QueueUrl=url, MessageBody=str(index))
        monkeypatch.setattr(Queue, "messages", property(counting))
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 10
    # One scan to pick the messages; none per message handed out.
    assert scans <= 2


def test_dynamodb_item_answers_parse_the_same_from_json(monkeypatch):
    """Every item operation the ledger uses, over every attribute type, answered both ways: the
    client parses the same response (moto's serializer writes ConsumedCapacity's units as 1.0
    where the result holds 1, the same number)."""
    from moto.core.responses import ActionResult

    execute = _original(ActionResult.execute_result)
    monkeypatch.setattr(ActionResult, "execute_result", execute)
    answers: dict[str, list[Any]] = {"serializer": [], "json": []}

    def calls(client: Any) -> list[Any]:
        item = {"pk": {"S": "b"}, "sk": {"S": "e"}, "bin": {"B": b"\x00\x01zlib"}, "bs": {"BS": [b"\x02", b"\x03"]},
                "n": {"N": "12.5"}, "ns": {"NS": ["1", "2"]}, "ss": {"SS": ["a", "b"]}, "t": {"BOOL": True},
                "z": {"NULL": True}, "m": {"M": {"l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {}}]}}}}
        key = {"pk": {"S": "b"}, "sk": {"S": "e"}}
        out = [client.put_item(TableName="t", Item=item, ReturnValues="ALL_OLD"),
               client.get_item(TableName="t", Key=key, ConsistentRead=True),
               client.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"S": "e"}}),
               client.update_item(TableName="t", Key=key, UpdateExpression="SET n = n + :one",
                                  ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW"),
               client.update_item(TableName="t", Key=key, UpdateExpression="SET q = :q",
                                  ExpressionAttributeValues={":q": {"S": "x"}}, ReturnValues="UPDATED_OLD"),
               client.query(TableName="t", KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": "b"}}, ConsistentRead=True),
               client.batch_get_item(RequestItems={"t": {"Keys": [key], "ConsistentRead": True}}),
               client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**key, "sk": {"S": "f"}}}}]}),
               client.delete_item(TableName="t", Key={**key, "sk": {"S": "f"}}, ReturnValues="ALL_OLD")]
        try:
            client.update_item(TableName="t", Key=key, UpdateExpression="SET q = :q", ConditionExpression="q = :no",
                               ExpressionAttributeValues={":q": {"S": "y"}, ":no": {"S": "no"}},
                               ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except client.exceptions.ConditionalCheckFailedException as error:
            out.append(error.response.get("Item"))
        for answer in out:
            if isinstance(answer, dict):
                answer.pop("ResponseMetadata", None)
        return out

    from moto.core.serialize import ResponseSerializer

    serialize = ResponseSerializer.serialize
    serialized: list[str] = []

    def counting(self: Any, result: Any) -> Any:
        serialized.append(self.operation_model.name)
        return serialize(self, result)

    monkeypatch.setattr(ResponseSerializer, "serialize", counting)
    for way in ("serializer", "json"):
        if way == "json":
            engine_patches.dynamodb_items_as_json()
        serialized.clear()
        with mock_aws():
            answers[way] = calls(_table_client())
    assert answers["json"] == answers["serializer"]
    assert answers["json"][1]["Item"]["bin"] == {"B": b"\x00\x01zlib"}
    # With the patch, only the table's creation went through moto's serializer.
    assert serialized == ["CreateTable"]


def test_a_shared_expression_tree_is_copied_from_its_pickle(monkeypatch, table):
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    monkeypatch.setattr(UpdateExpressionParser, "make", classmethod(_unpatched(UpdateExpressionParser, "make")))
    deep_copied = 0

    def counting(value: Any, memo: Any = None) -> Any:
        nonlocal deep_copied
        deep_copied += type(value).__name__ == "UpdateExpression"
        return copy.deepcopy(value, memo)

    monkeypatch.setattr(validators, "deepcopy", counting)
    engine_patches.cache_update_expression_parsing()
    engine_patches.copy_shared_expressions_by_pickle()
    for index in range(10):
        _update(table, index)
    assert deep_copied == 0
    item = table.get_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}})["Item"]
    assert (item["status"], item["attempts"], item["note"]) == ({"S": "SENDING9"}, {"N": "10"}, {"S": "x" * 9})


def test_a_pass_finds_each_node_types_processor_once(monkeypatch, table):
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    for name in ("process", "nodes_to_be_processed", "traverse_node_recursively"):
        monkeypatch.setattr(DepthFirstTraverser, name, _unpatched(DepthFirstTraverser, name))
    engine_patches.cache_traverser_node_types()
    counting, matched = _counted(DepthFirstTraverser.nodes_to_be_processed)
    monkeypatch.setattr(DepthFirstTraverser, "nodes_to_be_processed", counting)
    for index in range(5):
        _update(table, index)
    assert matched == []  # the processor came from the per-type table, not an instance check per node
    item = table.get_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e"}})["Item"]
    assert (item["status"], item["attempts"]) == ({"S": "SENDING4"}, {"N": "5"})


def test_whole_expression_checks_look_once_and_reach_the_same_verdicts(monkeypatch, table):
    from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator

    for pass_class in (ActionCountValidator, OverlappingPathsValidator):
        monkeypatch.setattr(pass_class, "traverse", _original(pass_class.traverse))
    engine_patches.check_whole_expressions_once()
    counting, checked = _counted(ActionCountValidator.verify_action_counts)
    monkeypatch.setattr(ActionCountValidator, "verify_action_counts", counting)
    for index in range(5):
        _update(table, index)
    assert len(checked) <= 6  # one per validation (the update that creates the item validates twice)
    key = {"pk": {"S": "b"}, "sk": {"S": "e"}}
    with pytest.raises(table.exceptions.ClientError, match="The \"ADD\" section can only be used once"):
        table.update_item(TableName="t", Key=key, UpdateExpression="SET a = :v ADD c :one ADD d :one",
                          ExpressionAttributeValues={":v": {"S": "1"}, ":one": {"N": "1"}})
    with pytest.raises(table.exceptions.ClientError, match="overlap"):
        table.update_item(TableName="t", Key=key, UpdateExpression="SET m = :v, m.x = :v",
                          ExpressionAttributeValues={":v": {"S": "1"}})


# -- memory: what a long run keeps ----------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/r"


def _waiting_machine(queue_url: str) -> str:
    """A Map whose iterations each wait for a task token, sent on the queue (as the batch's
    receipt waits), with a heartbeat."""
    wait = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token", "item.$": "$"}},
            "HeartbeatSeconds": 30, "TimeoutSeconds": 60, "End": True}
    return json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Wait", "States": {"Wait": wait}},
        "End": True}}})


@pytest.fixture
def machine() -> Any:
    """moto's interpreter with a state machine waiting for tokens: ``(sfn, sqs, queue_url, arn)``.
    With the engine's fix of moto's early-callback race (a token answered as soon as it is out
    could otherwise be missed and the run wait out its heartbeat: tests/local/test_local_task_tokens.py)."""
    deliver_early_callbacks()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="m", definition=_waiting_machine(queue_url), roleArn=ROLE)[
            "stateMachineArn"]
        yield sfn, sqs, queue_url, arn


def _tokens(sqs: Any, queue_url: str, count: int) -> list[tuple[str, Any]]:
    """The (token, item) of ``count`` waiting iterations."""
    import time

    found: list[tuple[str, Any]] = []
    limit = time.monotonic() + 30
    while len(found) < count and time.monotonic() < limit:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(message["Body"])
            found.append((body["token"], body["item"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert len(found) == count
    return found


def _finished(sfn: Any, execution_arn: str) -> dict[str, Any]:
    import time

    limit = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < limit
        time.sleep(0.05)
    return dict(described)


def _run(machine: Any, name: str, items: int = 3) -> tuple[str, list[str]]:
    """One execution to its end (each token answered); its ARN and its tokens."""
    sfn, sqs, queue_url, arn = machine
    execution_arn = sfn.start_execution(stateMachineArn=arn, name=name,
                                        input=json.dumps({"items": list(range(items))}))["executionArn"]
    tokens = _tokens(sqs, queue_url, items)
    for token, item in tokens:
        sfn.send_task_success(taskToken=token, output=json.dumps({"sent": item}))
    assert _finished(sfn, execution_arn)["status"] == "SUCCEEDED"
    return execution_arn, [token for token, _ in tokens]


def _interpreter_thread_lists() -> list[Any]:
    import sys

    return [sys.modules[name] for name in engine_patches.INTERPRETER_THREAD_MODULES if name in sys.modules]


def test_the_interpreter_keeps_only_its_threads_still_running(monkeypatch, machine):
    import threading

    for name in engine_patches.INTERPRETER_THREAD_MODULES:
        __import__(name)
    moto_list: list[Any] = []
    for module in _interpreter_thread_lists():
        monkeypatch.setattr(module, "TMP_THREADS", moto_list)
    engine_patches.keep_live_interpreter_threads()
    from moto.stepfunctions.parser.utils import TMP_THREADS

    assert all(module.TMP_THREADS is TMP_THREADS for module in _interpreter_thread_lists())
    waiting, release = threading.Thread(target=lambda: release.wait()), threading.Event()
    not_started = threading.Thread(target=lambda: None)
    waiting.start()
    try:
        TMP_THREADS.append(waiting)
        TMP_THREADS.append(not_started)
        for index in range(12):
            _run(machine, f"run-{index}")
        # Each run started some 15 threads; moto's list kept them all.
        assert len(TMP_THREADS) < 100
        assert waiting in TMP_THREADS
        assert not_started in TMP_THREADS
    finally:
        release.set()  # a failed assertion must not leave pytest waiting for this thread at exit
        waiting.join()


def test_moto_keeps_no_list_of_every_message_and_state_machine_copy(monkeypatch, machine):
    from moto.core.model_instances import model_data
    from moto.sqs.models import Message
    from moto.stepfunctions.models import StateMachine

    for models in model_data.values():
        for model in models.values():
            monkeypatch.setattr(model, "instances_tracked", [])
    engine_patches.untrack_model_instances()
    _run(machine, "once", items=5)
    assert Message.instances_tracked == []
    assert StateMachine.instances_tracked == []
    _, sqs, queue_url, _ = machine
    sqs.send_message(QueueUrl=queue_url, MessageBody="still answered")
    assert sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"] == "still answered"


def _reachable(root: Any, *boundaries: Any) -> int:
    """How many objects (tracked by the garbage collector) ``root`` holds, not counting what it
    reaches through ``boundaries``, classes, modules and functions."""
    import gc
    import types

    stop = {id(boundary) for boundary in boundaries}
    seen, todo = {id(root)}, [root]
    while todo:
        for referent in gc.get_referents(todo.pop()):
            if (id(referent) in seen or id(referent) in stop or not gc.is_tracked(referent)
                    or isinstance(referent, type | types.ModuleType | types.FunctionType)):
                continue
            seen.add(id(referent))
            todo.append(referent)
    return len(seen)


def _execution(arn: str) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    return backend, backend.describe_execution(arn)


def _pack_closed_executions(monkeypatch: Any, histories_kept: int | None) -> list[dict[str, Any]]:
    """moto's own functions back, then the patch; what each execution answered just before it
    was packed (the backend's answers, as the API serializes them)."""
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    monkeypatch.setattr(ExecutionWorker, "_execution_logic", _unpatched(ExecutionWorker, "_execution_logic"))
    monkeypatch.setattr(EventManager, "get_event_history", _unpatched(EventManager, "get_event_history"))
    monkeypatch.setitem(engine_patches._retention, "histories_kept", engine_patches._retention["histories_kept"])
    before: list[dict[str, Any]] = []
    close = engine_patches._close

    def recording_close(execution: Any) -> None:
        before.append(_answers(execution))
        close(execution)

    monkeypatch.setattr(engine_patches, "_close", recording_close)
    engine_patches.pack_closed_executions(histories_kept)
    return before


def _answers(execution: Any) -> dict[str, Any]:
    return {"history": execution.to_history_output()["events"], "input": execution.execution_input,
            "input_data": execution.input_data, "output": execution.output, "status": execution.status,
            "stop_date": execution.stop_date, "name": execution.name}


def test_a_closed_execution_keeps_its_answers_packed_and_lets_go_of_its_interpreter(monkeypatch, machine):
    before = _pack_closed_executions(monkeypatch, histories_kept=None)
    sfn, _, _, arn = machine
    execution_arn, _ = _run(machine, "packed", items=8)
    backend, execution = _execution(execution_arn)
    assert len(before) == 1
    assert _answers(execution) == before[0]
    assert len(before[0]["history"]) > 30
    # The API's answers, from the packed execution.
    assert [event["id"] for event in sfn.get_execution_history(executionArn=execution_arn)["events"]] == [
        event["id"] for event in before[0]["history"]]
    described = sfn.describe_execution(executionArn=execution_arn)
    assert json.loads(described["input"]) == {"items": list(range(8))}
    assert json.loads(described["output"]) == before[0]["output"]
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == ["packed"]
    # What it holds: a few dozen objects (its interpreter environment: thousands).
    assert _reachable(execution, backend, execution.state_machine) < 100


def test_a_closed_executions_name_stays_taken_and_its_tokens_answer_as_before(monkeypatch, machine):
    _pack_closed_executions(monkeypatch, histories_kept=None)
    sfn, sqs, queue_url, arn = machine
    execution_arn, tokens = _run(machine, "taken")
    for item_input in ({"items": [0, 1, 2]}, {"items": [9]}):
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=arn, name="taken", input=json.dumps(item_input))
    # A closed execution's token is refused as AWS refuses it (the local run's refuse_resumed_tasks:
    # moto itself looks in every execution for SendTaskFailure and accepts it).
    refuse_resumed_tasks()
    with pytest.raises(sfn.exceptions.TaskTimedOut):
        sfn.send_task_failure(taskToken=tokens[0], error="Late", cause="a late receipt")
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_success(taskToken=tokens[0], output="{}")
    # A running execution started again with its name and input is the same execution.
    running = sfn.start_execution(stateMachineArn=arn, name="running", input=json.dumps({"items": [1]}))
    again = sfn.start_execution(stateMachineArn=arn, name="running", input=json.dumps({"items": [1]}))
    assert again["executionArn"] == running["executionArn"]
    (token, _), = _tokens(sqs, queue_url, 1)
    sfn.send_task_success(taskToken=token, output="{}")
    assert _finished(sfn, running["executionArn"])["status"] == "SUCCEEDED"
    assert _finished(sfn, execution_arn)["status"] == "SUCCEEDED"


def test_past_the_histories_kept_an_execution_keeps_its_first_and_last_events(monkeypatch, machine):
    before = _pack_closed_executions(monkeypatch, histories_kept=1)
    sfn, _, _, arn = machine
    first, tokens = _run(machine, "first")
    second, _ = _run(machine, "second")
    history = sfn.get_execution_history(executionArn=first)["events"]
    assert [(event["id"], event["type"]) for event in history] == [
        (event["id"], event["type"]) for event in (before[0]["history"][0], before[0]["history"][-1])]
    assert [event["type"] for event in history] == ["ExecutionStarted", "ExecutionSucceeded"]
    assert len(sfn.get_execution_history(executionArn=second)["events"]) == len(before[1]["history"])
    described = sfn.describe_execution(executionArn=first)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", before[0]["output"])
    assert sorted(e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]) == ["first", "second"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="first", input="{}")
    # Its task tokens are forgotten with its history.
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.send_task_failure(taskToken=tokens[0], error="Late")


def test_events_added_after_the_close_follow_the_packed_ones(monkeypatch, machine):
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext

    _pack_closed_executions(monkeypatch, histories_kept=None)
    sfn, _, _, _ = machine
    execution_arn, _ = _run(machine, "late")
    _, execution = _execution(execution_arn)
    packed = len(sfn.get_execution_history(executionArn=execution_arn)["events"])
    # A thread still finishing (a stopped execution's task) adds an event to the same manager.
    execution.exec_worker.env.event_manager.add_event(context=EventHistoryContext(previous_event_id=packed),
                                                      event_type="TaskStateAborted")
    events = sfn.get_execution_history(executionArn=execution_arn)["events"]
    assert len(events) == packed + 1
    assert (events[-1]["id"], events[-1]["type"]) == (packed + 1, "TaskStateAborted")


def test_every_item_shares_one_string_per_attribute_name(monkeypatch, table):
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    monkeypatch.setattr(LimitedSizeDict, "__setitem__", _unpatched(LimitedSizeDict, "__setitem__"))
    engine_patches.intern_item_attribute_names()
    for index in range(3):
        table.put_item(TableName="t", Item={"pk": {"S": "b"}, "sk": {"S": f"e{index}"},
                                            "updated_at": {"S": str(index)}})
        _update(table, index)
    items = [item for partition in dynamodb_backends["123456789012"]["us-east-1"].tables["t"].items.values()
             for item in partition.values()]
    names = [name for item in items for name in item.attrs if name == "updated_at"]
    assert len(names) == 3
    assert len({id(name) for name in names}) == 1
    assert table.get_item(TableName="t", Key={"pk": {"S": "b"}, "sk": {"S": "e1"}})["Item"]["updated_at"] == {"S": "1"}


@pytest.mark.usefixtures("fake_aws")
def test_the_observed_event_bus_keeps_each_event_as_its_text():
    from journey_activity_local.engine.event_bus import LocalEventBus

    bus = LocalEventBus("bus", "123456789012").create()
    entry = {"EventBusName": "bus", "Source": "journey-activity", "DetailType": "delivered",
             "Detail": json.dumps({"endpoint_id": "e1", "nested": {"a": [1, 2]}})}
    boto3.client("events").put_events(Entries=[entry, entry])
    received = bus.events()
    assert [event["detail"] for event in received] == [{"endpoint_id": "e1", "nested": {"a": [1, 2]}}] * 2
    assert all(isinstance(kept, str) for kept in bus._received)
    received[0]["detail"]["endpoint_id"] = "changed"  # each read is the caller's own copy
    assert bus.events()[0]["detail"]["endpoint_id"] == "e1"


def test_the_provider_standin_keeps_each_accepted_body_as_its_text():
    from journey_activity_local.standins.http import ProviderStandIn

    standin = ProviderStandIn(signing_secret="s" * 24, behaviours={"+1555": "never"})  # no receipt to post
    try:
        body = {"idempotency_key": "k1", "address": "+1555", "message": "Hi \u00e9", "callback_url": None,
                "metadata": {"journey_id": "j", "treatment_id": "0"}}
        assert standin.handle_send(json.dumps(body).encode()).status == 202
        assert standin.handle_send(json.dumps(body).encode()).status == 202  # a duplicate: not logged again
        assert standin.sends == [body]
        assert all(isinstance(kept, str) for kept in standin._sends)
        standin.sends[0]["message"] = "changed"  # each read is the caller's own copy
        assert standin.sends[0]["message"] == "Hi \u00e9"
    finally:
        standin.stop()
