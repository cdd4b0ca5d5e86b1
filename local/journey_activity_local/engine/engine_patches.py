"""Speed and memory patches of the embedded engine (moto 5.x), for the local run only.

Each one removes work moto repeats on every request without changing any answer: the same
responses, the same errors, the same wire formats. Each is idempotent, marked on what it
replaces, and covered by a test in ``tests/local/test_engine_patches.py`` that fails without it.
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

Memory patches: what a long local run kept that AWS does not, or kept in a form many times the
size of the data (README, "Benchmark": the engine grew 2.4 MB a batch). Each keeps every answer,
is idempotent and marked, and has a test that fails without it, as the speed patches:

- :func:`keep_live_interpreter_threads`: moto's interpreter appends every thread it starts (the
  execution's, each state's, each Map iteration's, each task-token wait: about 146 a batch) to
  ``TMP_THREADS``, a list nothing in moto reads, and never removes them. The list keeps the
  threads that have not finished.
- :func:`untrack_model_instances`: moto keeps every model object it ever creates, per class, for
  its server's dashboard (``/moto-api/``): every SQS message (two a routed event), every copy of
  the state machine an execution takes. They are not kept (the dashboard lists none).
- :func:`pack_closed_executions`: a closed execution keeps its whole interpreter environment: the
  history as live objects (about 540 KB for a batch's 421 events), a callback endpoint with its
  locks and events per task token, the states' data, the parsed input and output. At close, the
  history is packed (pickled, compressed: about 20 KB) and unpacked by GetExecutionHistory; the
  input and output are packed the same way and unpacked when read; each finished task token keeps
  only what SendTaskFailure's answer needs; the rest of the environment is let go. Events a
  finishing thread adds after the close are kept and answered after the packed ones. Every answer
  (DescribeExecution, ListExecutions, GetExecutionHistory, StartExecution's name check,
  SendTaskFailure) is the same. Past ``execution_histories_kept`` closed executions (500 by
  default, ``LocalOptions``), the oldest keeps only its history's first and last events and no
  task tokens (see README, Limits).
- :func:`intern_item_attribute_names`: every DynamoDB item kept its own copy of each attribute
  name (a ledger record has twenty); they share one.
"""

from __future__ import annotations

import collections
import copy
import functools
import pickle
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
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


class _LiveThreads(list[Any]):
    """moto's ``TMP_THREADS`` that keeps only threads not finished yet: when the list has doubled
    since it was last pruned, the finished threads go (amortized constant time per thread)."""

    def __init__(self, threads: Iterable[Any] = ()) -> None:
        super().__init__(threads)
        self._lock = threading.Lock()
        self._pruned_at = len(self)

    def append(self, thread: Any) -> None:
        with self._lock:
            if len(self) >= 2 * self._pruned_at + 64:
                # A thread moto appended but has not started yet has no ident: it stays.
                self[:] = [kept for kept in self if kept.ident is None or kept.is_alive()]
                self._pruned_at = len(self)
            super().append(thread)


# The modules of moto's interpreter that bind TMP_THREADS by name (``from ... import TMP_THREADS``).
INTERPRETER_THREAD_MODULES = (
    "moto.stepfunctions.parser.utils",
    "moto.stepfunctions.parser.backend.execution_worker",
    "moto.stepfunctions.parser.asl.component.program.program",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branch_worker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "moto.stepfunctions.parser.asl.component.test_state.program.test_state_program",
)


def keep_live_interpreter_threads() -> None:
    """moto's ``TMP_THREADS`` keeps the threads that have not finished, not every thread started."""
    utils = _module("moto.stepfunctions.parser.utils")
    if isinstance(utils.TMP_THREADS, _LiveThreads):
        return
    for name in INTERPRETER_THREAD_MODULES:
        _module(name)
    original = utils.TMP_THREADS
    live = _LiveThreads(thread for thread in original if thread.ident is None or thread.is_alive())
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", {})
        if namespace.get("TMP_THREADS") is original:
            namespace["TMP_THREADS"] = live


class _KeepsNothing(list[Any]):
    """A model class's ``instances_tracked`` that keeps nothing: see :func:`untrack_model_instances`."""

    def append(self, instance: Any) -> None:
        pass


# The services whose models the local run uses (imported first, so their classes are known).
TRACKED_SERVICES = ("dynamodb", "sqs", "sns", "events", "secretsmanager", "stepfunctions")


def untrack_model_instances() -> None:
    """moto's model classes keep no list of every instance they made. (moto resets the lists
    when a mock starts or ends: installed again for each environment.)"""
    model_data = _module("moto.core.model_instances").model_data
    for service in TRACKED_SERVICES:
        _module(f"moto.{service}.models")
    for service, models in list(model_data.items()):
        if service == "s3":  # its reset closes the files of the keys it tracks
            continue
        for model in list(models.values()):
            if not isinstance(model.__dict__.get("instances_tracked"), _KeepsNothing):
                model.instances_tracked = _KeepsNothing()


# Set on a moto EventManager: the events packed so far (pickled, compressed); and on an execution
# whose environment was let go.
PACKED = "_journey_activity_packed"
CLOSED = "_journey_activity_closed"
# Full histories kept for this many of the most recent closed executions (None: all).
DEFAULT_EXECUTION_HISTORIES_KEPT = 500
_retention: dict[str, int | None] = {"histories_kept": DEFAULT_EXECUTION_HISTORIES_KEPT}
_retention_lock = threading.Lock()


def _pack(value: Any) -> bytes:
    return zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)


def _unpack(packed: bytes) -> Any:
    return pickle.loads(zlib.decompress(packed))  # noqa: S301 - our own pickle, in this process


def _packed_events(manager: Any) -> list[Any]:
    """The events of a moto EventManager packed so far (call with its mutex held)."""
    packed = manager.__dict__.get(PACKED)
    return [] if packed is None else list(_unpack(packed))


def _pack_history(manager: Any, keep: Callable[[list[Any]], list[Any]] = list) -> None:
    """Pack the manager's events (``keep`` chooses which); events added later are appended live."""
    with manager._mutex:
        events = manager._history_event_list
        manager.__dict__[PACKED] = _pack(keep(_packed_events(manager) + events))
        events.clear()


class _FinishedCallback:
    """A closed execution's finished task-token endpoint, as its pool's ``notify`` and ``heartbeat``
    see it: no consumer error (moto 5.x never reports one), nobody left to wake, and a heartbeat
    endpoint or not. The pool answers SendTaskFailure for it as before."""

    __slots__ = ("has_heartbeat",)
    consumer_error = None

    def __init__(self, has_heartbeat: bool) -> None:
        self.has_heartbeat = has_heartbeat

    def notify(self, outcome: Any) -> None:
        pass

    def notify_heartbeat(self) -> bool:
        return self.has_heartbeat


_FINISHED = {True: _FinishedCallback(True), False: _FinishedCallback(False)}


def _nobody_waits(event: Any) -> bool:
    return bool(event.is_set()) and not event._cond._waiters


def _finished(endpoint: Any) -> bool:
    """Nothing waits on this endpoint, nor will: its task's wait ended (or it was notified) and no
    thread is blocked on it."""
    if type(endpoint).__name__ != "CallbackEndpoint" or endpoint.consumer_error is not None:
        return False
    heartbeat = endpoint._heartbeat_endpoint
    return _nobody_waits(endpoint._notify_event) and (
        heartbeat is None or not heartbeat._next_heartbeat_event._cond._waiters)


def _compact_callbacks(pool: Any) -> None:
    """Finished endpoints replaced by their answer (a shared record); the others kept as they are.
    In place: a thread still finishing may add a token meanwhile."""
    for token, endpoint in list(pool._pool.items()):
        if _finished(endpoint):
            pool._pool[token] = _FINISHED[endpoint._heartbeat_endpoint is not None]


class _ClosedEnvironment:
    """What a closed execution's interpreter environment is still asked for: its history, its task
    tokens (SendTaskFailure looks in every execution), its map runs, and its (final) program state."""

    __slots__ = ("_program_state", "callback_pool_manager", "event_manager", "map_run_record_pool_manager")

    def __init__(self, env: Any) -> None:
        self.event_manager = env.event_manager
        self.callback_pool_manager = env.callback_pool_manager
        self.map_run_record_pool_manager = env.map_run_record_pool_manager
        self._program_state = env.program_state()

    def program_state(self) -> Any:
        return copy.deepcopy(self._program_state)

    def is_running(self) -> bool:
        return False

    def set_stop(self, stop_date: Any, cause: Any, error: Any) -> None:
        """moto's set_stop changes only a running program: a closed one stays as it ended."""


class _ClosedWorker:
    __slots__ = ("env",)

    def __init__(self, env: _ClosedEnvironment) -> None:
        self.env = env

    def stop(self, stop_date: Any, error: Any, cause: Any) -> None:
        self.env.set_stop(stop_date=stop_date, cause=cause, error=error)


def _packed_property(name: str) -> property:
    slot = f"_journey_activity_{name}"

    def get(self: Any) -> Any:
        return _unpack(self.__dict__[slot])

    def put(self: Any, value: Any) -> None:
        self.__dict__[slot] = _pack(value)

    return property(get, put)


@functools.cache
def _packed_execution_class() -> type:
    """moto's Execution whose input and output are kept packed and unpacked when read (each read
    gets its own copy, equal to what was stored)."""
    execution = _module("moto.stepfunctions.parser.backend.execution").Execution

    class PackedExecution(execution):  # type: ignore[misc, valid-type]
        execution_input = _packed_property("execution_input")
        output = _packed_property("output")

        @property
        def input_data(self) -> Any:
            # moto parses the input text once, at the start (Execution.__init__): the same value.
            import json

            if "_journey_activity_input_data" in self.__dict__:
                return _unpack(self.__dict__["_journey_activity_input_data"])
            return json.loads(self.execution_input)

        @input_data.setter
        def input_data(self, value: Any) -> None:
            self.__dict__["_journey_activity_input_data"] = _pack(value)

    PackedExecution.__name__ = PackedExecution.__qualname__ = execution.__name__
    return PackedExecution


def _close(execution: Any) -> None:
    """Let go of a closed execution's environment, keeping what its answers need, packed."""
    worker = execution.exec_worker
    env = getattr(worker, "env", None)
    if env is None or isinstance(env, _ClosedEnvironment) or env.is_running():
        return
    _pack_history(env.event_manager)
    _compact_callbacks(env.callback_pool_manager)
    closed = _packed_execution_class()
    values = {name: execution.__dict__[name] for name in ("execution_input", "output")}
    for name, value in values.items():
        execution.__dict__[f"_journey_activity_{name}"] = _pack(value)
    execution.__class__ = closed  # the properties answer from here on
    for name in (*values, "input_data"):
        execution.__dict__.pop(name, None)
    execution.exec_worker = _ClosedWorker(_ClosedEnvironment(env))
    execution.__dict__[CLOSED] = True
    _retain(execution)


def _first_and_last(events: list[Any]) -> list[Any]:
    return events if len(events) <= 2 else [events[0], events[-1]]


def _retain(execution: Any) -> None:
    """Keep the full histories of the most recent ``histories_kept`` closed executions; older ones
    keep their first and last events, and no task tokens."""
    backend = execution.state_machine.backend
    with _retention_lock:
        closed = backend.__dict__.setdefault("_journey_activity_closed_executions", collections.deque())
        closed.append(execution)
        kept = _retention["histories_kept"]
        forgotten = [closed.popleft() for _ in range(len(closed) - kept)] if kept is not None else []
    for old in forgotten:
        env = old.exec_worker.env
        _pack_history(env.event_manager, keep=_first_and_last)
        env.callback_pool_manager._pool = {}


def pack_closed_executions(histories_kept: int | None = DEFAULT_EXECUTION_HISTORIES_KEPT) -> None:
    """A closed execution keeps what its answers need, packed, and lets go of its environment.
    ``histories_kept`` (None: all): full histories of that many most recent closed executions."""
    if histories_kept is not None and histories_kept < 0:
        raise ValueError("histories_kept must be 0 or more (or None: every history)")
    _retention["histories_kept"] = histories_kept
    event_manager = _module("moto.stepfunctions.parser.asl.eval.event.event_manager").EventManager
    worker = _module("moto.stepfunctions.parser.backend.execution_worker").ExecutionWorker
    execution_class = _module("moto.stepfunctions.parser.backend.execution").Execution

    history = event_manager.get_event_history
    if not _is_patched(history):
        @functools.wraps(history)
        def get_event_history(self: Any) -> Any:
            with self._mutex:
                packed = self.__dict__.get(PACKED)
                later = copy.deepcopy(self._history_event_list)
            return later if packed is None else list(_unpack(packed)) + later

        event_manager.get_event_history = _marked(get_event_history)

    logic = worker._execution_logic
    if _is_patched(logic):
        return

    @functools.wraps(logic)
    def execution_logic(self: Any) -> None:
        logic(self)
        execution: Any = getattr(self._execution_communication, "execution", None)
        # Standard executions only (a synchronous one answers StartSyncExecution after this).
        if type(execution) is execution_class and execution.exec_worker is self:
            _close(execution)

    worker._execution_logic = _marked(execution_logic)


def intern_item_attribute_names() -> None:
    """moto's DynamoDB items keep their attribute names as the request's JSON decoder made them:
    a new string per name per write. Interned, every item shares one string per name."""
    limited = _module("moto.dynamodb.models.dynamo_type").LimitedSizeDict
    setitem = limited.__setitem__
    if _is_patched(setitem):
        return

    @functools.wraps(setitem)
    def set_interned(self: Any, key: Any, value: Any) -> None:
        setitem(self, sys.intern(key) if type(key) is str else key, value)

    limited.__setitem__ = _marked(set_interned)


def install_dynamodb() -> None:
    """The patches of moto's DynamoDB and its server (idempotent): what the ledger's own process
    (:mod:`journey_activity_local.engine.dynamodb_process`) needs."""
    cache_action_names()
    dynamodb_items_as_json()
    cache_update_expression_parsing()
    copy_shared_expressions_by_pickle()
    cache_traverser_node_types()
    check_whole_expressions_once()
    cache_backend_lookup()
    untrack_model_instances()
    intern_item_attribute_names()


def install(execution_histories_kept: int | None = DEFAULT_EXECUTION_HISTORIES_KEPT) -> None:
    """Every patch above (idempotent); ``execution_histories_kept``: see :func:`pack_closed_executions`."""
    install_dynamodb()
    retention_without_queue_scan()
    cache_jsonpath_parsing()
    keep_live_interpreter_threads()
    pack_closed_executions(execution_histories_kept)
