"""What every item kind of the ledger shares: the table, its client, the TTL, and DynamoDB's calls.

:class:`Table` is the base of every kind's class (:mod:`.records`, :mod:`.pointers`,
:mod:`.recipients`, :mod:`.templates`, :mod:`.progress`, :mod:`.claims`, :mod:`.heartbeats`);
:class:`journey_activity.ledger.Ledger` is all of them over one table. Conditional updates answer a
failed condition with the item as it is (``ReturnValuesOnConditionCheckFailure``), so no writer
reads an item again to learn why.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from journey_activity import aws

# BatchGetItem takes at most 100 keys.
BATCH_GET_KEYS = 100
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def _from_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    for key, value in plain.items():
        # DynamoDB numbers come back as Decimal; the ledger stores only whole numbers.
        if type(value).__name__ == "Decimal":
            plain[key] = int(value)
    return plain


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _item_as_it_is(error: ClientError) -> dict[str, Any]:
    """The item a failed conditional update found (``ReturnValuesOnConditionCheckFailure``)."""
    return _from_item(error.response.get("Item")) or {}


class Table:
    """The ledger table: its name, its DynamoDB client (made on first use), and its items' TTL."""

    def __init__(self, table_name: str, ttl_days: int = 100, dynamodb: Any | None = None) -> None:
        self.table_name = table_name
        self.ttl_days = ttl_days
        self._dynamodb = dynamodb

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def _expires_at(self) -> int:
        return int(time.time()) + self.ttl_days * 86_400

    def _update(self, key: Mapping[str, Any], sets: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """One UpdateItem (``options`` as :meth:`_update_request` takes them); returns the item after
        the update. Raises ClientError on a failed condition."""
        request = self._update_request(key, sets, **options)
        response = self.dynamodb.update_item(**request, ReturnValues="ALL_NEW")
        return _from_item(response.get("Attributes")) or {}

    def _update_request(
        self,
        key: Mapping[str, Any],
        sets: Mapping[str, Any],
        *,
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
        add: Mapping[str, int] | None = None,
        if_not_exists: Mapping[str, Any] | None = None,
        append: Mapping[str, list[Any]] | None = None,
    ) -> dict[str, Any]:
        """An update's parameters, as UpdateItem and a TransactWriteItems ``Update`` both take them."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses: list[str] = []
        for index, (field, value) in enumerate(sets.items()):
            names[f"#s{index}"] = field
            values[f":s{index}"] = value
            clauses.append(f"#s{index} = :s{index}")
        for index, (field, value) in enumerate((if_not_exists or {}).items()):
            names[f"#n{index}"] = field
            values[f":n{index}"] = value
            clauses.append(f"#n{index} = if_not_exists(#n{index}, :n{index})")
        for index, (field, items) in enumerate((append or {}).items()):
            names[f"#l{index}"] = field
            values[f":l{index}"] = items
            values[":empty"] = []
            clauses.append(f"#l{index} = list_append(if_not_exists(#l{index}, :empty), :l{index})")
        expression = "SET " + ", ".join(clauses)
        if add:
            adds = []
            for index, (field, amount) in enumerate(add.items()):
                names[f"#a{index}"] = field
                values[f":a{index}"] = amount
                adds.append(f"#a{index} :a{index}")
            expression += " ADD " + ", ".join(adds)
        values.update(condition_values or {})
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": dict(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _to_item(values),
        }
        if condition:
            request["ConditionExpression"] = condition
            # A failed condition answers with the item as it is (no second read, no extra units).
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            aliases = (("#status", "status"), ("#pk", "pk"), ("#execution", "execution"), ("#version", "version"))
            names.update({alias: field for alias, field in aliases if alias in condition})
        return request

    def _get_written_once(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """An item written before the execution started and never changed (a template, a
        recipient): an eventually consistent read (half the units) is right whenever it finds
        the item; only a miss, which a replica not yet caught up can give, is read again strongly."""
        for consistent in (False, True):
            response = self.dynamodb.get_item(TableName=self.table_name, Key=dict(key), ConsistentRead=consistent)
            item = _from_item(response.get("Item"))
            if item is not None:
                return item
        return None

    def _query_all(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item a Query returns, page after page (``request`` without TableName)."""
        request = {**request, "TableName": self.table_name}
        items: list[dict[str, Any]] = []
        while True:
            response = self.dynamodb.query(**request)
            items.extend(_from_item(item) or {} for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _claim_interval(self, key: Mapping[str, Any], field: str, now: float, interval: float) -> bool:
        """Whether this caller's conditional write moved ``field`` (epoch milliseconds) to ``now``:
        the item exists and ``field`` is absent or at least ``interval`` seconds old. Of concurrent
        callers the first write wins; each other gets False."""
        try:
            self._update(key, {field: int(now * 1000)},
                         condition=f"attribute_exists(pk) AND (attribute_not_exists({field}) OR {field} <= :due)",
                         condition_values={":due": int((now - interval) * 1000)})
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def _batch_write(self, requests: list[dict[str, Any]], what: str) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            for attempt in range(8):
                response = self.dynamodb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise RuntimeError(f"DynamoDB left {len(pending[self.table_name])} {what} unwritten")

    def _batch_get(self, keys: list[dict[str, Any]], consistent: bool) -> list[dict[str, Any]]:
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": consistent}}
        items: list[dict[str, Any]] = []
        for attempt in range(8):
            response = self.dynamodb.batch_get_item(RequestItems=request)
            items.extend(_from_item(item) or {} for item in response.get("Responses", {}).get(self.table_name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"DynamoDB left {len(request[self.table_name]['Keys'])} recipients unread")
