"""The local engine's DynamoDB reads one partition for a Query, as DynamoDB does: same answers as
moto's full sort, for every form of Query the ledger (or anyone) sends."""

from __future__ import annotations

import boto3
import pytest

from journey_activity_local.engine.dynamodb_patches import _query_one_partition, _untrack_dynamodb_items
from tests.conftest import LEDGER_KEYS


@pytest.fixture
def dynamodb(fake_aws):
    _query_one_partition()
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="ledger",
        KeySchema=LEDGER_KEYS["KeySchema"],
        AttributeDefinitions=[*LEDGER_KEYS["AttributeDefinitions"], {"AttributeName": "status", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-status",
                                 "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    # Written out of order, three partitions interleaved.
    for number in (7, 3, 9, 0, 5, 1, 8, 2, 6, 4):
        for batch in ("b-2", "b-1", "b-3"):
            client.put_item(TableName="ledger", Item={
                "pk": {"S": batch}, "sk": {"S": f"e{number}"},
                "status": {"S": "SENT" if number % 2 else "DELIVERED"}, "n": {"N": str(number)},
            })
    return client


def keys(response):
    return [(item["pk"]["S"], item["sk"]["S"]) for item in response["Items"]]


def test_a_query_returns_its_partition_in_key_order(dynamodb):
    response = dynamodb.query(TableName="ledger", KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": {"S": "b-1"}}, ConsistentRead=True)
    assert keys(response) == [("b-1", f"e{n}") for n in range(10)]
    assert response["Count"] == response["ScannedCount"] == 10


def test_backwards_with_a_key_condition_a_filter_and_pages(dynamodb):
    request = {"TableName": "ledger", "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
               "FilterExpression": "#s = :sent", "ExpressionAttributeNames": {"#s": "status"},
               "ExpressionAttributeValues": {":pk": {"S": "b-3"}, ":low": {"S": "e2"}, ":high": {"S": "e8"},
                                             ":sent": {"S": "SENT"}},
               "ScanIndexForward": False, "Limit": 2}
    seen = []
    while True:
        response = dynamodb.query(**request)
        seen += keys(response)
        if "LastEvaluatedKey" not in response:
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    assert seen == [("b-3", "e7"), ("b-3", "e5"), ("b-3", "e3")]


def test_an_unknown_partition_is_empty_and_creates_nothing(dynamodb):
    response = dynamodb.query(TableName="ledger", KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": {"S": "b-9"}})
    assert response["Items"] == []
    assert dynamodb.scan(TableName="ledger", Select="COUNT")["Count"] == 30


def test_index_queries_and_scans_still_see_every_partition(dynamodb):
    by_status = dynamodb.query(TableName="ledger", IndexName="by-status", KeyConditionExpression="#s = :d",
                               ExpressionAttributeNames={"#s": "status"},
                               ExpressionAttributeValues={":d": {"S": "DELIVERED"}})
    assert sorted(keys(by_status)) == sorted((b, f"e{n}") for b in ("b-1", "b-2", "b-3") for n in (0, 2, 4, 6, 8))
    assert len(dynamodb.scan(TableName="ledger")["Items"]) == 30


def test_item_versions_are_not_kept_once_replaced(dynamodb):
    """moto keeps every item object it creates until the mock ends (every version an update
    replaced); the local run keeps what DynamoDB keeps, so a long run does not grow."""
    from moto.dynamodb.models.dynamo_type import Item

    assert len(Item.instances_tracked) >= 30  # the fixture's writes, as moto keeps them
    _untrack_dynamodb_items()
    for version in range(50):
        dynamodb.update_item(TableName="ledger", Key={"pk": {"S": "b-1"}, "sk": {"S": "e1"}},
                             UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": str(version)}})
    assert len(Item.instances_tracked) == 0
    item = dynamodb.get_item(TableName="ledger", Key={"pk": {"S": "b-1"}, "sk": {"S": "e1"}})["Item"]
    assert item["n"] == {"N": "49"}
    response = dynamodb.query(TableName="ledger", KeyConditionExpression="pk = :pk",
                              ExpressionAttributeValues={":pk": {"S": "b-1"}})
    assert len(response["Items"]) == 10
