"""The embedded engine's speed patches (journey_activity.local.engine_patches): each makes moto do
once what it did on every request, and answers exactly as before. Each test puts moto's own
function back first, applies the one patch, and counts the repeated work: without the patch the
count grows with the calls."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from journey_activity.local import engine_patches


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
