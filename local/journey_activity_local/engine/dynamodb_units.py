"""DynamoDB's capacity units, counted on the local run's DynamoDB calls as DynamoDB bills them.

moto answers DynamoDB's API but bills nothing, so this meter wraps moto's request handler (the
process-wide backend that every caller reaches, in-process or over moto's HTTP server) and
prices each call from the items it touches, by DynamoDB's rules ("DynamoDB read and write
operations", developer guide):

- reads: 1 unit per 4 KB, half for an eventually consistent read; a GetItem rounds its item up,
  a missing item still costs the minimum; a BatchGetItem rounds each item; a Query sums the
  sizes of every item its key condition reads (before any filter or projection), then rounds;
- writes: 1 unit per 1 KB of the larger of the item before and after; a conditional write whose
  condition fails still costs the item's size; BatchWriteItem prices each put or delete alone;
  a TransactWriteItems (which the product does not use) at twice a write's units per item.

Item sizes follow "Item sizes and formats": attribute names and string values in UTF-8 bytes,
numbers about one byte per two significant digits plus one, binary by length, booleans and null
one byte, lists and maps 3 bytes plus one per element.

Calls are tallied by kind: ``poll`` (the invoker's polling reads: the batch progress item, and
the Query filtered to final records; not a group's Query of its open records), ``progress`` (the
writers' updates of the progress item) or ``other``. Used by ``benchmarks/batch.py``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from journey_activity.ledger import progress_key

_READ_UNIT, _WRITE_UNIT = 4096, 1024
_PROGRESS_PREFIX = progress_key("")["pk"]
_lock = threading.Lock()
_tally: dict[str, float] = defaultdict(float)
_installed = False
# Where the counting happens when the ledger's DynamoDB runs in a process of its own (the local
# stack's: journey_activity_local.engine.dynamodb_process); None: moto in this process.
_remote: Any = None


def use_remote(remote: Any) -> None:
    """Read and reset the counts of ``remote`` (a :class:`DynamoDBProcess`) from now on; None: this
    process's own."""
    global _remote
    _remote = remote


# -- sizes -------------------------------------------------------------------------------------


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").lower().split("e")[0].replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's JSON (``{"S": "..."}``)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(len(v) if isinstance(v, bytes) else len(base64.b64decode(v)) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """The size of an item in DynamoDB's JSON; 0 for no item."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / _READ_UNIT))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / _WRITE_UNIT)))


# -- the items a request touches, from moto's backend ------------------------------------------


def _table(handler: Any, name: str) -> Any:
    try:
        return handler.dynamodb_backend.get_table(name)
    except Exception:  # a table that does not exist: the call itself will fail and say so
        return None


def _wire(item: Any) -> dict[str, Any] | None:
    return None if item is None else dict(item.to_json()["Attributes"])


def _stored(handler: Any, table_name: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _table(handler, table_name)
    if table is None:
        return None
    hash_value = key.get(table.hash_key_attr)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    if hash_value is None:
        return None
    partition = table.items.get(DynamoType(hash_value))
    if partition is None:
        return None
    if range_value is None:
        return _wire(partition) if not isinstance(partition, dict) else None
    return _wire(partition.get(DynamoType(range_value)))


def _partition(handler: Any, body: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """The hash key value a Query names, and every item stored under it (what it reads)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _table(handler, body["TableName"])
    if table is None or body.get("IndexName"):
        return None, []
    names = body.get("ExpressionAttributeNames") or {}
    values = body.get("ExpressionAttributeValues") or {}
    for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", body.get("KeyConditionExpression") or ""):
        if names.get(name, name) == table.hash_key_attr and placeholder in values:
            stored = table.items.get(DynamoType(values[placeholder])) or {}
            items = list(stored.values()) if isinstance(stored, dict) else [stored]
            return str(next(iter(values[placeholder].values()))), [_wire(item) or {} for item in items]
    return None, []


def _kind(body: Mapping[str, Any], key: Mapping[str, Any] | None = None, *, write: bool = False) -> str:
    """``poll`` for the invoker's polling reads, ``progress`` for writes of the progress item
    (what the polling costs the writers), ``other`` for the rest."""
    pk = next(iter((key or {}).get("pk", {}).values()), "")
    if isinstance(pk, str) and pk.startswith(_PROGRESS_PREFIX):
        return "progress" if write else "poll"
    # The invoker's read of newly final records; a group's check of its open records (group wait
    # mode, filtered on the records' group) is the group's, not the polling's.
    if (not write and "FilterExpression" in body and "KeyConditionExpression" in body
            and "group" not in (body.get("ExpressionAttributeNames") or {}).values()):
        return "poll"
    return "other"


def _add(kind: str, read: float = 0.0, write: float = 0.0) -> None:
    with _lock:
        _tally[f"{kind}_rcu"] += read
        _tally[f"{kind}_wcu"] += write
        _tally[f"{kind}_calls"] += 1


# -- pricing each operation ---------------------------------------------------------------------


def _price_get_item(handler: Any, call: Any) -> Any:
    body = handler.body
    size = item_size(_stored(handler, body["TableName"], body["Key"]))
    try:
        return call()
    finally:
        _add(_kind(body, body["Key"]), read=read_units(size, bool(body.get("ConsistentRead"))))


def _price_query(handler: Any, call: Any) -> Any:
    body = handler.body
    _, items = _partition(handler, body)
    try:
        return call()
    finally:
        _add(_kind(body), read=read_units(sum(item_size(i) for i in items), bool(body.get("ConsistentRead"))))


def _price_write(handler: Any, call: Any) -> Any:
    body = handler.body
    key = body.get("Key") or _key_of(handler, body["TableName"], body.get("Item") or {})
    before = item_size(_stored(handler, body["TableName"], key))
    try:
        return call()
    finally:
        # A failed conditional put is billed for the larger of the item stored and the one sent.
        after = max(item_size(_stored(handler, body["TableName"], key)), item_size(body.get("Item")))
        _add(_kind(body, key, write=True), write=write_units(max(before, after)))


def _key_of(handler: Any, table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    table = _table(handler, table_name)
    if table is None:
        return {}
    names = [table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])]
    return {name: item[name] for name in names if name in item}


def _price_batch_write(handler: Any, call: Any) -> Any:
    requests = [(table, request) for table, requests in (handler.body.get("RequestItems") or {}).items()
                for request in requests]
    befores = []
    for table, request in requests:
        key = (request.get("DeleteRequest") or {}).get("Key") or _key_of(
            handler, table, (request.get("PutRequest") or {}).get("Item") or {})
        befores.append((table, key, item_size(_stored(handler, table, key))))
    try:
        return call()
    finally:
        for table, key, before in befores:
            _add(_kind({}, key, write=True), write=write_units(max(before, item_size(_stored(handler, table, key)))))


def _price_batch_get(handler: Any, call: Any) -> Any:
    for table, request in (handler.body.get("RequestItems") or {}).items():
        for key in request.get("Keys") or []:
            _add(_kind({}, key), read=read_units(item_size(_stored(handler, table, key)),
                                                 bool(request.get("ConsistentRead"))))
    return call()


def _price_transact_write(handler: Any, call: Any) -> Any:
    """TransactWriteItems: each Put, Update, Delete and ConditionCheck at twice a write's units
    (DynamoDB's transactional rate: two write units per KB of the item), the transaction
    carried out or cancelled, as a failed conditional write is billed."""
    befores = []
    for action in handler.body.get("TransactItems") or []:
        for request in action.values():
            table = request.get("TableName", "")
            key = request.get("Key") or _key_of(handler, table, request.get("Item") or {})
            befores.append((table, key, max(item_size(_stored(handler, table, key)), item_size(request.get("Item")))))
    try:
        return call()
    finally:
        for table, key, before in befores:
            after = item_size(_stored(handler, table, key))
            _add(_kind({}, key, write=True), write=2 * write_units(max(before, after)))


_PRICERS = {"get_item": _price_get_item, "query": _price_query, "put_item": _price_write,
            "update_item": _price_write, "delete_item": _price_write, "batch_write_item": _price_batch_write,
            "batch_get_item": _price_batch_get, "transact_write_items": _price_transact_write}


def install() -> None:
    """Price every DynamoDB call moto answers from now on (once per process)."""
    global _installed
    from moto.dynamodb.responses import DynamoHandler

    from journey_activity_local.engine.dynamodb_patches import ONE_REQUEST

    with _lock:
        if _installed or _remote is not None:  # the remote process counts
            return
        for name, pricer in _PRICERS.items():
            method = getattr(DynamoHandler, name)

            def priced(self: Any, __method: Any = method, __pricer: Any = pricer) -> Any:
                # Inside the request's turn (dynamodb_patches): the pricer reads the items the
                # request touches, before and after it, while no other request writes them.
                with ONE_REQUEST:
                    return __pricer(self, lambda: __method(self))

            setattr(DynamoHandler, name, functools.wraps(method)(priced))
        _installed = True


def reset() -> None:
    if _remote is not None:
        _remote.reset_units()
        return
    with _lock:
        _tally.clear()


def snapshot() -> dict[str, float]:
    """Units and calls since the last reset, by kind: ``poll_rcu``, ``other_wcu``, ``poll_calls``…"""
    if _remote is not None:
        return dict(_remote.units())
    with _lock:
        return {key: round(value, 3) for key, value in sorted(_tally.items())}


@contextlib.contextmanager
def metered() -> Iterator[dict[str, float]]:
    """``with metered() as units:`` — after the block, ``units`` holds what the block cost."""
    install()
    reset()
    units: dict[str, float] = {}
    try:
        yield units
    finally:
        units.update(snapshot())
