"""Speed patches of the embedded engine (moto 5.x), for the local run only.

Each one removes work moto repeats on every request without changing any answer: the same
responses, the same errors, the same wire formats. Each is idempotent, marked on what it
replaces, and covered by a test in ``tests/unit/test_engine_patches.py`` that fails without it.
Profile first (README, "Where the time goes"); these are where a local batch spent its CPU:

- :func:`cache_jsonpath_parsing`: the state machine interpreter parses every JSONPath
  (``$.recipient.sender``, ``$.context``...) with ``jsonpath_ng``, which builds a new PLY lexer
  and parser for each call: about 9 % of a batch's CPU. A parsed path is immutable (``find``
  and ``update`` read it), so one parse per distinct path string serves every evaluation.
- :func:`cache_update_expression_parsing`: moto's DynamoDB tokenizes and parses an UpdateItem's
  expression twice per call (in ``responses`` and in the backend). The tree is never modified
  where it is parsed: the validator deep-copies it before its passes rewrite nodes. So one
  parse per distinct expression string serves every call (the ledger uses a handful).
- :func:`copy_shared_expressions_by_pickle`: the validator deep-copies the (now shared) tree
  before every use, 0.7 ms for the ledger's larger expressions; unpickling a pickle of the tree,
  taken once per tree, builds the same copy in a tenth of that.
- :func:`cache_traverser_node_types`: each of the validator's ten passes rebuilds its
  ``_processing_map`` (a dict of bound methods) for every node it visits, twice, and matches the
  node against it with ABC instance checks. The map is fixed per pass object: each node type's
  processor is found once per pass.
- :func:`retention_without_queue_scan`: moto's SQS checks each message it hands out against the
  queue's retention period by computing every queue attribute, message counts included (a scan
  of the whole queue), per message: reading one batch costs the square of the queue's length.
  The retention period is read directly.
- :func:`dynamodb_items_as_json`: moto answers every DynamoDB item operation through its
  generic, shape-driven serializer, which looks up each attribute of each item by several aliases:
  a sixth of the engine's CPU in a batch. An item operation's result is already the wire's JSON
  (attribute values typed by DynamoDB's own ``{"S": ...}`` tags), but for binary values, which
  the wire carries as base64: it is written with ``json.dumps`` directly. Errors, and every other
  operation, keep moto's serializer. The parsed answers are the same (a test compares them).
- :func:`cache_action_names`: moto's request handler lists its class's methods
  (``inspect.getmembers``) on every request to find the action's method; the list is fixed per
  class: computed once per class.
- :func:`check_whole_expressions_once`: two of those passes (at most one SET, ADD, REMOVE clause;
  no overlapping paths) search the whole subtree below every expression node, which makes them
  quadratic; a violation anywhere below is a violation of the whole expression, so they look once,
  at the root, and reach the same verdicts.
- :func:`cache_backend_lookup`: moto's server finds the backend of each request by listing
  moto's package directory (``os.listdir`` and ``isdir`` on some 200 entries) and then trying
  its URL patterns. Neither changes while the process runs: listed once, and one lookup per host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

MARK = "_journey_activity_patch"
# Set on a parsed expression that cache_update_expression_parsing shares between calls.
SHARED = "_journey_activity_shared"


def _module(name: str) -> Any:
    """moto's modules, untyped as far as this module is concerned."""
    import importlib

    return importlib.import_module(name)


def _marked(function: Callable[..., Any]) -> Callable[..., Any]:
    setattr(function, MARK, True)
    return function


def _is_patched(function: Any) -> bool:
    return bool(getattr(function, MARK, False))


def cache_jsonpath_parsing(maxsize: int = 4096) -> None:
    """One ``jsonpath_ng`` parse per distinct path string in moto's ASL interpreter."""
    json_path = _module("moto.stepfunctions.parser.asl.utils.json_path")
    result_path = _module("moto.stepfunctions.parser.asl.component.common.path.result_path")

    # jsonpath_ng.ext: moto's EventBridge imports ``parse`` from it on each call.
    for module in (json_path, result_path, _module("jsonpath_ng.ext")):
        if not _is_patched(module.parse):
            module.parse = _marked(functools.lru_cache(maxsize=maxsize)(module.parse))


def cache_update_expression_parsing(maxsize: int = 1024) -> None:
    """One parse per distinct UpdateExpression string (the tree is copied before it is changed)."""
    parser = _module("moto.dynamodb.parsing.expressions").UpdateExpressionParser

    make = parser.__dict__["make"].__func__
    if _is_patched(make):
        return
    cached = functools.lru_cache(maxsize=maxsize)(make)

    @functools.wraps(make)
    def parse_once(cls: Any, expression_str: str) -> Any:
        tree = cached(cls, expression_str)
        tree.__dict__[SHARED] = True  # never changed in place: copy_shared_expressions_by_pickle
        return tree

    parser.make = classmethod(_marked(parse_once))


def copy_shared_expressions_by_pickle(limit: int = 1024) -> None:
    """The validator's copy of a shared expression tree: unpickled from one pickle per tree."""
    import copy
    import pickle

    validators = _module("moto.dynamodb.parsing.validators")
    deepcopy = validators.deepcopy
    if _is_patched(deepcopy):
        return
    pickles: dict[int, tuple[Any, bytes]] = {}

    @functools.wraps(copy.deepcopy)
    def copy_tree(value: Any, memo: Any = None) -> Any:
        if memo is None and getattr(value, "__dict__", {}).get(SHARED):
            entry = pickles.get(id(value))
            if entry is None or entry[0] is not value:
                if len(pickles) >= limit:
                    pickles.clear()
                entry = (value, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
                pickles[id(value)] = entry
            return pickle.loads(entry[1])  # noqa: S301 - our own pickle of moto's tree, in this process
        return copy.deepcopy(value, memo)

    validators.deepcopy = _marked(copy_tree)


def cache_traverser_node_types() -> None:
    """Each validator pass builds its node-type map once, and finds each node type's processor
    once, instead of rebuilding the map and matching it by ABC instance checks at every node."""
    ast_nodes = _module("moto.dynamodb.parsing.ast_nodes")
    traverser, node_class = ast_nodes.DepthFirstTraverser, ast_nodes.Node
    original_traverse = traverser.traverse_node_recursively
    if _is_patched(original_traverse):
        return

    def processor_for(self: Any, kind: type) -> Any:
        """The processor of a node of this type (the first matching class, as moto's ``process``
        picks it), or None."""
        state = self.__dict__
        if "_journey_activity_map" not in state:
            state["_journey_activity_map"], state["_journey_activity_by_type"] = self._processing_map(), {}
        by_type = state["_journey_activity_by_type"]
        if kind not in by_type:
            by_type[kind] = next((processor for class_key, processor in state["_journey_activity_map"].items()
                                  if issubclass(kind, class_key)), None)
        return by_type[kind]

    @functools.wraps(original_traverse)
    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if isinstance(node, node_class):
            parent_node = node.parent
            if node.children is not None:
                for index, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, index)
                    self.traverse_node_recursively(child_node, index)
            processor = processor_for(self, type(node))
            if processor is not None:
                node = processor(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    traverser.traverse_node_recursively = _marked(traverse_node_recursively)


def check_whole_expressions_once() -> None:
    """The action-count and overlapping-path checks at the expression's root only."""
    validators = _module("moto.dynamodb.parsing.validators")
    update_expression = _module("moto.dynamodb.parsing.ast_nodes").UpdateExpression
    for name, check in (("ActionCountValidator", "verify_action_counts"),
                        ("OverlappingPathsValidator", "check_for_overlapping_paths")):
        pass_class = getattr(validators, name)
        if _is_patched(pass_class.traverse):
            continue
        original = pass_class.traverse

        def traverse(self: Any, node: Any, __check: str = check, __original: Any = original) -> Any:
            if isinstance(node, update_expression):
                getattr(self, __check)(node)
                return node
            return __original(self, node)

        pass_class.traverse = _marked(functools.wraps(original)(traverse))


def cache_backend_lookup() -> None:
    """moto's server: its package listing once per process, and each host's backend once."""
    backends = _module("moto.backends")
    dispatcher = _module("moto.moto_server.werkzeug_app").DomainDispatcherApplication

    if not _is_patched(backends.list_of_moto_modules):
        listing = backends.list_of_moto_modules

        @functools.lru_cache(maxsize=1)
        def listed() -> tuple[str, ...]:
            return tuple(listing())

        backends.list_of_moto_modules = _marked(functools.wraps(listing)(lambda: listed()))
    lookup = dispatcher.get_backend_for_host
    if _is_patched(lookup):
        return

    @functools.wraps(lookup)
    def backend_for_host(self: Any, host: str | None) -> Any:
        if host is None:
            return None
        cache = self.__dict__.setdefault("_journey_activity_backends", {})
        if host not in cache:
            cache[host] = lookup(self, host)
        return cache[host]

    dispatcher.get_backend_for_host = _marked(backend_for_host)


def retention_without_queue_scan() -> None:
    """moto's SQS: a message's retention checked against the queue's period, read directly."""
    unix_time = _module("moto.core.utils").unix_time
    backend = _module("moto.sqs.models").SQSBackend

    check = backend.is_message_valid_based_on_retention_period
    if _is_patched(check):
        return

    @functools.wraps(check)
    def within_retention(self: Any, queue_name: str, message: Any) -> bool:
        period = int(self.get_queue(queue_name).message_retention_period)
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    backend.is_message_valid_based_on_retention_period = _marked(within_retention)


# Item operations whose results are DynamoDB JSON already (table operations keep the serializer).
DYNAMODB_ITEM_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                                      "BatchGetItem", "BatchWriteItem", "TransactGetItems",
                                      "TransactWriteItems"})


def _wire_json(value: Any) -> Any:
    """``json.dumps``' fallback: binary attribute values (B, BS) as the wire carries them."""
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dynamodb_items_as_json() -> None:
    """moto's DynamoDB item operations answered with ``json.dumps`` of their result."""
    import json

    responses = _module("moto.core.responses")
    action_result = responses.ActionResult
    execute = action_result.execute_result
    if _is_patched(execute):
        return

    @functools.wraps(execute)
    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        if (isinstance(result, dict) and context.service_model.service_name == "dynamodb"
                and context.operation_model.name in DYNAMODB_ITEM_OPERATIONS):
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(result, default=_wire_json)
        return execute(self, context)

    action_result.execute_result = _marked(execute_result)


def cache_action_names() -> None:
    """moto's handlers find an action's method among their class's methods, listed once per class."""
    responses = _module("moto.core.responses")

    if _is_patched(responses.method_names_from_class):
        return
    responses.method_names_from_class = _marked(functools.lru_cache(maxsize=256)(responses.method_names_from_class))


def install() -> None:
    """Every patch above (idempotent)."""
    cache_action_names()
    dynamodb_items_as_json()
    retention_without_queue_scan()
    cache_jsonpath_parsing()
    cache_update_expression_parsing()
    copy_shared_expressions_by_pickle()
    cache_traverser_node_types()
    check_whole_expressions_once()
    cache_backend_lookup()
