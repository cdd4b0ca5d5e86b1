"""The ledger's DynamoDB as the local run serves it, in a process of its own
(:mod:`journey_activity_local.engine.dynamodb_process`): one request at a time, a Query reading its
one partition, no tracking of replaced items. The shapes these patches replace are checked in
:mod:`journey_activity_local.engine.verified`."""

from __future__ import annotations

import functools
import threading
from typing import Any

# One request at a time, for the backend's methods and for moto's request handler around them.
ONE_REQUEST = threading.RLock()
_HANDLER_ACTIONS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_write_item",
                    "batch_get_item", "transact_write_items", "transact_get_items")


def _serialize_dynamodb(backend: Any) -> None:
    """Make moto's DynamoDB apply one request at a time, as DynamoDB applies each item write
    atomically; the handlers run on many threads here.

    The backend's methods alone are not enough: moto's request handler (``DynamoHandler``) reads
    the item before an update and turns the backend's *live* item into the answer after it, so
    an ``UpdateItem`` with ``ReturnValues`` could answer with the next request's write (two pacers
    were given the same send slot). The handler's actions take the same lock, so an answer is the
    state its own write left."""
    for name in ("update_item", "put_item", "get_item", "delete_item", "query", "scan", "batch_write_item",
                 "batch_get_item", "transact_write_items"):
        method = getattr(backend, name, None)
        if method is None:
            continue

        def locked(*args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with ONE_REQUEST:
                return __method(*args, **kwargs)

        setattr(backend, name, functools.wraps(method)(locked))
    _serialize_dynamodb_requests()


def _serialize_dynamodb_requests() -> None:
    from moto.dynamodb.responses import DynamoHandler

    for name in _HANDLER_ACTIONS:
        action = getattr(DynamoHandler, name, None)
        if action is None or getattr(action, "_journey_activity_patch", False):
            continue

        def one_request(self: Any, __action: Any = action) -> Any:
            with ONE_REQUEST:
                return __action(self)

        patched = functools.wraps(action)(one_request)
        setattr(patched, "_journey_activity_patch", True)  # noqa: B010 - marks the patch
        setattr(DynamoHandler, name, patched)


def _query_one_partition() -> None:
    """moto (5.x) answers every Query by sorting all the table's items, then filtering on the
    partition key: each of the invoker's polls of its batch costs time in proportion to the
    whole ledger (94 ms at 10,000 records), under the lock above. DynamoDB reads the one
    partition; so does this, for a Query on the table's own key (indexes are left as they are)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_journey_activity_patch", False):
        return
    query, all_items = Table.query, Table.all_items
    scope = threading.local()

    @functools.wraps(query)
    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        scope.partition = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            scope.partition = None

    @functools.wraps(all_items)
    def partition_items(self: Any) -> Any:
        partition = getattr(scope, "partition", None)
        if partition is None or partition[0] is not self:
            return all_items(self)
        return sorted((self.items.get(partition[1]) or {}).values(), key=lambda item: item.range_key)

    setattr(query_partition, "_journey_activity_patch", True)  # noqa: B010 - marks the patch
    Table.query = query_partition  # type: ignore[method-assign]
    Table.all_items = partition_items  # type: ignore[method-assign]


class _Untracked(list[Any]):
    """A list that keeps nothing: see :func:`_untrack_dynamodb_items`."""

    def append(self, item: Any) -> None:
        pass


def install_dynamodb_patches(backend: Any) -> None:
    """The ledger's DynamoDB as the local run serves it (in its own process: see
    :mod:`journey_activity_local.engine.dynamodb_process`): one request at a time, a Query reading its one
    partition, no tracking of replaced items."""
    _query_one_partition()
    _copy_each_table_once()
    _untrack_dynamodb_items()
    _serialize_dynamodb(backend)


def _copy_each_table_once() -> None:
    """moto (5.x) keeps a copy of the table for the rollback of a TransactWriteItems, deep-copied
    once per *item* of the transaction: a claim of 100 profiles copied the whole ledger 100 times
    (2.7 s a call, where DynamoDB answers in milliseconds). This copies each table once per
    transaction: the copies were identical (taken before any item is written)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend_class = models.DynamoDBBackend
    if getattr(backend_class.transact_write_items, "_journey_activity_patch", False):
        return
    real = models.copy
    scope = threading.local()

    class _OncePerTransaction:
        """What moto's DynamoDB models see as the ``copy`` module."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def deepcopy(self, value: Any, *args: Any, **kwargs: Any) -> Any:
            copies = getattr(scope, "copies", None)
            if copies is None or not isinstance(value, Table):
                return real.deepcopy(value, *args, **kwargs)
            if id(value) not in copies:
                copies[id(value)] = real.deepcopy(value, *args, **kwargs)
            return copies[id(value)]

    transact = backend_class.transact_write_items

    @functools.wraps(transact)
    def transact_copying_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        scope.copies = {}
        try:
            return transact(self, *args, **kwargs)
        finally:
            scope.copies = None

    setattr(transact_copying_once, "_journey_activity_patch", True)  # noqa: B010 - marks the patch
    models.copy = _OncePerTransaction()  # type: ignore[assignment]
    backend_class.transact_write_items = transact_copying_once  # type: ignore[method-assign]


def _untrack_dynamodb_items() -> None:
    """moto keeps every DynamoDB item object it ever creates (every version an update
    replaces, every projected copy) in ``Item.instances_tracked``, for its server's dashboard,
    until the mock ends: about 850 per batch, so a long local run grows in memory and in
    garbage-collection time. DynamoDB keeps the current items only; so does this. (moto resets
    the list when a mock ends: set again for each environment.)"""
    from moto.dynamodb.models.dynamo_type import Item

    Item.instances_tracked = _Untracked()  # type: ignore[attr-defined]
