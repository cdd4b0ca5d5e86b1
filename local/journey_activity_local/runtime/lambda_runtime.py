"""Lambda's execution model, locally: execution environments as worker processes.

Per function, a pool of worker processes. Each worker is one execution environment: it imports
the function's handler once (its init phase: a cold start), then runs one invocation at a time,
and is reused warm for the next, as Lambda reuses environments. When every environment of a
function is busy, a new one starts. Concurrent invocations therefore share no module state
(a logger's keys, a cache, a client), as in Lambda.

A worker that runs past the function's ``Timeout`` is killed and replaced, and the invocation
fails as Lambda reports a timeout: ``{"errorType": "Sandbox.Timedout", "errorMessage":
"RequestId: ... Error: Task timed out after N.00 seconds"}`` with ``X-Amz-Function-Error:
Unhandled``, which Step Functions' Lambda integration turns into the error name
``Sandbox.Timedout``. A worker that dies mid-invocation is reported as ``Runtime.ExitError``.

Workers are forked from a preloaded parent (multiprocessing's forkserver with boto3, botocore,
pydantic and Powertools imported once), so a cold start costs the fork and the import of the
function's own code, not the libraries' import. Each worker gets only its function's
environment variables (plus Lambda's reserved ones), and its AWS calls go over HTTP to the
moto server of the local engine (``AWS_ENDPOINT_URL``).

Per-process set-up (fault injection, guards) goes in :attr:`WorkerSetup.initializers`: picklable
``(callable, args)`` pairs every worker runs once, after its environment is set and before its
handler is imported. During each invocation :data:`CURRENT_FUNCTION` (and the process's
``AWS_LAMBDA_FUNCTION_NAME``) name the function.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from journey_activity_local.runtime import current_function
from journey_activity_local.runtime.current_function import CURRENT_FUNCTION

log = logging.getLogger(__name__)


# Imported once in the forkserver, so that workers forked from it start with them loaded: the
# libraries a function's deployment package carries, and the package's modules whose import
# reads no environment variable. A handler's own module (and the Powertools logger and metrics
# it makes at import from its environment) is imported in each environment's init.
# (The forkserver skips a name that does not import.)
PRELOADED_MODULES = (
    "journey_activity_local.runtime.lambda_runtime", "journey_activity_local.runtime.botocore_warmup",
    "boto3", "boto3.session", "botocore.session", "botocore.client", "botocore.config", "urllib3",
    "pydantic", "pydantic.main", "pydantic.fields", "pydantic.functional_validators", "pydantic.types",
    "pydantic.json_schema", "pydantic._internal._generate_schema", "annotated_types", "zoneinfo", "jmespath",
    "boto3.dynamodb.types", "boto3.dynamodb.conditions",
    "aws_lambda_powertools", "aws_lambda_powertools.logging", "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.typing", "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parameters",
    "journey_activity.config", "journey_activity.ledger.book", "journey_activity.receipts",
    "journey_activity.providers", "journey_activity.templating", "journey_activity.models.pinpoint",
    "journey_activity.models.batch", "journey_activity.models.execution", "journey_activity.triggers.pinpoint",
    "journey_activity.compile", "journey_activity.reporting", "journey_activity.validation", "journey_activity.signing",
)
# Lambda's init phase may take up to 10 s; locally at least that, or the function's timeout when
# longer (a loaded machine imports slowly, and a slow import is not what this enforces).
INIT_SECONDS = 10.0
# How long an environment that is told to stop may take before it is killed.
STOP_SECONDS = 2.0
# Lambda's default on-demand environment has 128 MB; the template's MemorySize overrides it.
DEFAULT_MEMORY_MB = 128

Initializer = tuple[Callable[..., Any], tuple[Any, ...]]


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs, sent to it once (picklable)."""

    function: str
    handler: str
    timeout: float
    memory_mb: int
    environment: dict[str, str]
    sys_path: tuple[str, ...] = ()
    # Run once per worker, in order, after the environment is set and before the handler import.
    initializers: tuple[Initializer, ...] = ()
    # Called in the worker after each invocation; what it returns goes back to the engine with
    # the outcome (per-process counters, e.g. calls the guards refused), for LambdaRegistry.absorb.
    report: Callable[[], Any] | None = None
    # Where the function's stdout and stderr go (its log, as CloudWatch Logs holds it on AWS);
    # unset: this process's stderr.
    log_path: str | None = None


@dataclass(frozen=True)
class Outcome:
    """An invocation's result: ``error`` is Lambda's error payload when the function failed."""

    payload: bytes
    error: dict[str, Any] | None = None
    cold_start: bool = False
    report: Any = None


# Lambda's throttle reasons (botocore's lambda model, ThrottleReason), for a 429's ``Reason``.
RESERVED_LIMIT_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_EXCEEDED = "ConcurrentInvocationLimitExceeded"


class ThrottledInvocation(Exception):  # noqa: N818 - a condition, raised and caught here
    """No concurrency left for an invocation: all of the function's reservation is in use
    (``ReservedFunctionConcurrentInvocationLimitExceeded``), or, for a function without one, all
    of the account's unreserved concurrency (``ConcurrentInvocationLimitExceeded``). Lambda
    answers 429 ``TooManyRequestsException`` with that ``Reason``."""

    def __init__(self, function: str, limit: int, reason: str = RESERVED_LIMIT_EXCEEDED) -> None:
        what = (f"{function} has reserved concurrency {limit}" if reason == RESERVED_LIMIT_EXCEEDED
                else f"the account's unreserved concurrency ({limit}) that {function} draws on is")
        super().__init__(f"Rate Exceeded. {what}, all in use")
        self.function = function
        self.limit = limit
        self.reason = reason


# Lambda's default concurrency quota of an account in a Region ("Concurrent executions" in Service
# Quotas; new accounts may have less). Every function's concurrent invocations count against it.
ACCOUNT_CONCURRENCY = 1000
# Lambda keeps this much of the account's concurrency unreserved: a reservation that would leave
# less is refused (PutFunctionConcurrency's InvalidParameterValueException, so a stack that sets
# it fails to create).
UNRESERVED_MINIMUM = 100


class ConcurrencyConfigError(ValueError):
    """Reserved concurrency that Lambda would refuse (it leaves less than 100 unreserved)."""


class AccountConcurrency:
    """An account's Lambda concurrency, as Lambda shares it out: a function with reserved
    concurrency runs at most that many invocations at once (and no other function can use them);
    every other function draws on the unreserved pool, the account's limit less all
    reservations. An invocation counts from its admission to its answer (its cold start, and
    locally its wait for a free environment, included)."""

    def __init__(self, limit: int = ACCOUNT_CONCURRENCY, reserved: Mapping[str, int | None] | None = None) -> None:
        self.limit = limit
        self.reserved = {name: count for name, count in (reserved or {}).items() if count is not None}
        total = sum(self.reserved.values())
        if self.reserved and limit - total < UNRESERVED_MINIMUM:
            named = ", ".join(f"{name} {count}" for name, count in sorted(self.reserved.items()))
            raise ConcurrencyConfigError(
                f"Specified ReservedConcurrentExecutions ({named}: {total} in all) decrease the account's "
                f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}] (account "
                f"concurrency {limit}): Lambda refuses it, and the stack fails to create. Reserve less (0: none), "
                "or raise the account's concurrency quota")
        self.unreserved = max(limit - total, 0)
        self.in_use = 0  # unreserved concurrency in use
        self.peak = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One unit of unreserved concurrency for an invocation, or False when all are in use."""
        with self._lock:
            if self.in_use >= self.unreserved:
                return False
            self.in_use += 1
            self.peak = max(self.peak, self.in_use)
            return True

    def give(self) -> None:
        with self._lock:
            self.in_use -= 1


# -- the worker side ----------------------------------------------------------------------------


class LocalContext:
    """What a Lambda handler reads from its context object."""

    def __init__(self, setup: WorkerSetup, request_id: str) -> None:
        self.function_name = setup.function
        self.function_version = "$LATEST"
        self.invoked_function_arn = setup.environment.get("_LOCAL_FUNCTION_ARN", setup.function)
        self.memory_limit_in_mb = setup.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{setup.function}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + setup.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _error_payload(error: BaseException, request_id: str, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorMessage": str(error),
        "errorType": error_type or type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_exception(error)[-6:],
    }


def _drop_disabled_metrics() -> None:
    """Lambda publishes a function's metrics at the end of every invocation. With metrics
    disabled (the local default) Powertools never empties its process-wide metric set, and
    once one metric holds 100 values it serializes and prints the set anyway (failing if no
    namespace is set). Locally they are dropped instead."""
    if "aws_lambda_powertools.metrics" not in sys.modules:
        return
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        from aws_lambda_powertools import Metrics

        Metrics().clear_metrics()


def _import_handler(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def _platform_ready() -> None:
    """A first process forked from the forkserver: it exists once the preloads are done."""


def worker_main(setup: WorkerSetup, connection: Connection) -> None:
    """One execution environment: init, then invocations one at a time until told to stop."""
    # Everything inherited from the forkserver (the preloaded libraries) is left out of this
    # process's garbage collections: a full collection would otherwise walk (and copy, page by
    # page) the whole preloaded heap in every worker.
    gc.freeze()
    # `kill -USR1 <worker>` prints where a stuck handler is (to the function's log).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A function's stdout is its log (CloudWatch in Lambda); locally it goes to the log file, else
    # to stderr, so that a command's stdout carries only its answer.
    with contextlib.suppress(OSError):
        if setup.log_path:
            log = os.open(setup.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.dup2(log, 2)
            os.close(log)
        os.dup2(2, 1)
    for entry in reversed(setup.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ.clear()
    os.environ.update(setup.environment)
    # Calls from threads the handler starts are this function's too (guarded, faults injected).
    current_function.serve(setup.function)
    started = time.perf_counter()
    try:
        for initializer, args in setup.initializers:
            initializer(*args)
        handler = _import_handler(setup.handler)
    except Exception as error:  # an init failure fails the invocation that started it
        kind = "Runtime.ImportModuleError" if isinstance(error, ImportError) else type(error).__name__
        connection.send(("init_error", _error_payload(error, "", kind)))
        return
    connection.send(("ready", time.perf_counter() - started))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the local engine is gone
            return
        if message is None:
            return
        request_id, raw = message
        kind, value = _invoke(setup, handler, request_id, raw)
        connection.send((kind, value, setup.report() if setup.report is not None else None))



def _invoke(setup: WorkerSetup, handler: Callable[..., Any], request_id: str, raw: bytes) -> tuple[str, Any]:
    token = CURRENT_FUNCTION.set(setup.function)
    try:
        event = json.loads(raw or b"null")
        result = handler(event, LocalContext(setup, request_id))
        try:
            return "ok", json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            return "error", _error_payload(
                TypeError(f"Unable to marshal response: {error}"), request_id, "Runtime.MarshalError")
    except Exception as error:  # every handler error becomes a function error
        return "error", _error_payload(error, request_id)
    finally:
        CURRENT_FUNCTION.reset(token)
        _drop_disabled_metrics()


# -- the engine side ----------------------------------------------------------------------------


WORKER_NAME_PREFIX = "lambda-"


def _without_main_module() -> None:
    """multiprocessing re-imports the caller's ``__main__`` in the forkserver (when it preloads)
    and in every child, so that objects pickled from it resolve: that would re-run a caller's
    unguarded script (a benchmark, a notebook), and costs a cold start an import of pytest or
    the CLI. Workers need nothing from ``__main__`` (their target and setup live in importable
    modules), so for the forkserver and for workers the preparation data names no main module."""
    from multiprocessing import spawn

    original = spawn.get_preparation_data
    if getattr(original, "_journey_activity_patch", False):
        return

    def get_preparation_data(name: str) -> dict[str, Any]:
        data: dict[str, Any] = original(name)
        if name == "ignore" or name.startswith(WORKER_NAME_PREFIX):  # the forkserver, a worker
            for key in ("main_path", "init_main_from_path", "init_main_from_name"):
                data.pop(key, None)
        return data

    get_preparation_data._journey_activity_patch = True  # type: ignore[attr-defined]
    spawn.get_preparation_data = get_preparation_data


def _context() -> Any:
    _without_main_module()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED_MODULES))
    return context


class ExecutionEnvironment:
    """One worker process, used by one invocation at a time."""

    def __init__(self, setup: WorkerSetup, generation: int) -> None:
        self.setup = setup
        self.generation = generation
        parent, child = multiprocessing.Pipe()
        self._connection = parent
        self.process = _context().Process(target=worker_main, args=(setup, child), daemon=True,
                                          name=f"{WORKER_NAME_PREFIX}{setup.function}")
        started = time.perf_counter()
        self.process.start()
        child.close()
        self.init_error: dict[str, Any] | None = None
        limit = max(INIT_SECONDS, setup.timeout)
        if not self._connection.poll(limit):
            self.kill()
            self.init_error = {"errorType": "Sandbox.Timedout",
                               "errorMessage": f"Error: init phase timed out after {limit:.2f} seconds"}
        else:
            try:
                kind, value = self._connection.recv()
            except EOFError:
                kind, value = "init_error", {"errorType": "Runtime.ExitError",
                                             "errorMessage": f"Error: Runtime exited with error: {self._exit()}"}
            if kind != "ready":
                self.init_error = value
                self.kill()
        # The whole cold start as a caller waits for it: the fork and the function's init.
        self.cold_start_seconds = time.perf_counter() - started
        self.alive = self.init_error is None

    def invoke(self, request_id: str, raw: bytes) -> Outcome:
        self._connection.send((request_id, raw))
        if not self._connection.poll(self.setup.timeout):
            self.kill()
            return Outcome(b"", {"errorType": "Sandbox.Timedout",
                                 "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                                 f"{self.setup.timeout:.2f} seconds"})
        try:
            kind, value, report = self._connection.recv()
        except (EOFError, OSError):
            status = self._exit()
            self.kill()
            return Outcome(b"", {"errorType": "Runtime.ExitError",
                                 "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {status}"})
        if kind == "ok":
            return Outcome(value, report=report)
        return Outcome(b"", value, report=report)

    def _exit(self) -> str:
        self.process.join(timeout=STOP_SECONDS)
        code = self.process.exitcode
        return f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"

    def stop(self) -> None:
        """Let it end (an idle environment); killed if it does not."""
        self.ask_to_stop()
        self.process.join(timeout=STOP_SECONDS)
        self.kill()

    def ask_to_stop(self) -> None:
        """Tell an idle environment to end, without waiting (:meth:`stop` waits)."""
        if self.alive:
            with contextlib.suppress(OSError, ValueError):
                self._connection.send(None)
        self.alive = False

    def kill(self) -> None:
        self.alive = False
        if self.process.exitcode is None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                self.process.kill()
            self.process.join(timeout=STOP_SECONDS)
        with contextlib.suppress(OSError):
            self._connection.close()


@dataclass
class PoolStats:
    invocations: int = 0
    cold_starts: int = 0
    cold_start_seconds: list[float] = field(default_factory=list)
    timeouts: int = 0
    throttles: int = 0
    # Invocations at once (admitted, not yet answered), and environments at once.
    peak_concurrency: int = 0
    peak_environments: int = 0


class FunctionPool:
    """One function's execution environments.

    Concurrency is enforced as Lambda does (:class:`AccountConcurrency`): with ``reserved`` (the
    template's ``ReservedConcurrentExecutions``) an invocation while that many are running is
    throttled; without it one is throttled while the account's unreserved concurrency is all in
    use. Either way :class:`ThrottledInvocation`, at once, before any environment is involved.

    Environments are a local cost, not a Lambda limit: an admitted invocation gets an idle
    environment, else a new one up to ``cap`` (and at most ``reserved``), else it waits for one
    to be free (its Timeout starts when it runs); it counts against concurrency while it waits,
    as its caller still waits for it (see :data:`DEFAULT_CAP`).
    """

    def __init__(self, setup: WorkerSetup, cap: int, reserved: int | None = None,
                 account: AccountConcurrency | None = None) -> None:
        self.setup = setup
        self.cap = max(1, min(cap, reserved) if reserved is not None else cap)
        self.reserved = reserved
        self.account = account if account is not None else AccountConcurrency()
        self.stats = PoolStats()
        self._idle: list[ExecutionEnvironment] = []
        self._running = 0  # environments handed out, or starting
        self._in_flight = 0  # invocations admitted and not answered (waiting for an environment included)
        self._generation = 0
        self._closed = False
        self._condition = threading.Condition()

    def reconfigure(self, setup: WorkerSetup) -> None:
        """A configuration change (Lambda's UpdateFunctionConfiguration): later invocations get
        new environments; the idle ones are stopped, the busy ones when their invocation ends."""
        with self._condition:
            self.setup = setup
            self._generation += 1
            idle, self._idle = self._idle, []
        for environment in idle:
            environment.stop()

    @property
    def in_flight(self) -> int:
        """Invocations admitted and not yet answered."""
        with self._condition:
            return self._in_flight

    def _admit(self) -> None:
        """Count the invocation against the function's concurrency, or throttle it."""
        with self._condition:
            if self._closed:
                raise RuntimeError(f"{self.setup.function}: the local Lambda runtime is closed")
            if self.reserved is not None:
                if self._in_flight >= self.reserved:
                    self.stats.throttles += 1
                    raise ThrottledInvocation(self.setup.function, self.reserved, RESERVED_LIMIT_EXCEEDED)
            elif not self.account.take():
                self.stats.throttles += 1
                raise ThrottledInvocation(self.setup.function, self.account.unreserved, ACCOUNT_LIMIT_EXCEEDED)
            self._in_flight += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._condition:
            self._in_flight -= 1
        if self.reserved is None:
            self.account.give()

    def invoke(self, raw: bytes, request_id: str | None = None) -> Outcome:
        self._admit()
        try:
            return self._run(raw, request_id or str(uuid.uuid4()))
        finally:
            self._leave()

    def _run(self, raw: bytes, request_id: str) -> Outcome:
        environment, cold = self._acquire()
        with self._condition:
            self.stats.invocations += 1
        if environment.init_error is not None:
            self._release(environment)
            error = dict(environment.init_error)
            error["errorMessage"] = f"RequestId: {request_id} {error['errorMessage']}"
            return Outcome(b"", error, cold_start=cold)
        try:
            outcome = environment.invoke(request_id, raw)
        finally:
            self._release(environment)
        if outcome.error is not None and outcome.error.get("errorType") == "Sandbox.Timedout":
            with self._condition:
                self.stats.timeouts += 1
        return Outcome(outcome.payload, outcome.error, cold_start=cold, report=outcome.report)

    def _acquire(self) -> tuple[ExecutionEnvironment, bool]:
        with self._condition:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.setup.function}: the local Lambda runtime is closed")
                if self._idle:
                    environment = self._idle.pop()  # the most recently used: the warmest
                    self._running += 1
                    self.stats.peak_environments = max(self.stats.peak_environments, self._running)
                    return environment, False
                if self._running < self.cap:
                    self._running += 1
                    self.stats.peak_environments = max(self.stats.peak_environments, self._running)
                    setup, generation = self.setup, self._generation
                    break
                self._condition.wait()
        try:
            environment = ExecutionEnvironment(setup, generation)
        except BaseException:
            with self._condition:
                self._running -= 1
                self._condition.notify()
            raise
        with self._condition:
            self.stats.cold_starts += 1
            self.stats.cold_start_seconds.append(environment.cold_start_seconds)
        return environment, True

    def provision(self, count: int) -> int:
        """Start environments until ``count`` are idle (at most the cap), as Lambda's provisioned
        concurrency initializes environments before invocations come: a burst then finds them
        warm. Returns how many are idle; an environment whose init failed is not kept."""
        while True:
            with self._condition:
                if self._closed or len(self._idle) >= count or self._running + len(self._idle) >= self.cap:
                    return len(self._idle)
                self._running += 1
                setup, generation = self.setup, self._generation
            try:
                environment = ExecutionEnvironment(setup, generation)
            finally:
                with self._condition:
                    self._running -= 1
            with self._condition:
                self.stats.cold_starts += 1
                self.stats.cold_start_seconds.append(environment.cold_start_seconds)
                if environment.init_error is not None or self._closed or generation != self._generation:
                    keep = False
                else:
                    keep = True
                    self._idle.append(environment)
                self._condition.notify()
            if not keep:
                environment.stop()
                if environment.init_error is not None:
                    return len(self._idle)

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._condition:
            self._running -= 1
            keep = environment.alive and environment.generation == self._generation and not self._closed
            if keep:
                self._idle.append(environment)
            self._condition.notify()
        if not keep:
            environment.stop()

    def close(self) -> None:
        for environment in self.close_idle():
            environment.stop()

    def close_idle(self) -> list[ExecutionEnvironment]:
        """Close the pool and ask its idle environments to end; returns them (to :meth:`ExecutionEnvironment.stop`)."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._condition.notify_all()
        for environment in idle:
            environment.ask_to_stop()
        return idle


# Without reserved concurrency Lambda scales a function out (a Map runs up to 40 senders at once
# per execution). Locally every function's AWS is one moto process, whose GIL serves every call:
# more environments than it can serve only add cold starts (80-130 ms of CPU each) and memory
# (10-20 MB private each). Measured with benchmarks/soak.py (2 batches of 50 at once, a loaded
# 2-core machine): 64 environments per function forked 200 workers and 46 senders ran past their
# 30 s Timeout waiting for moto; 16 gave all zeros in 50 s. So beyond 16 an invocation waits for
# a free environment (its Timeout starts when it runs), rather than being throttled: AWS would
# not throttle it either. A function whose invocations mostly wait (the invoker polls the ledger
# until its deadline) is given more (``caps``): see LocalOptions.function_environments.
DEFAULT_CAP = 16


class LambdaRuntime:
    """The pools of every function, by name, sharing the account's concurrency
    (:class:`AccountConcurrency`: ``account_limit``, less the functions' ``reserved``).
    ``cap`` environments per function at most, or the function's entry in ``caps``."""

    def __init__(self, setups: Mapping[str, WorkerSetup], reserved: Mapping[str, int | None] | None = None,
                 cap: int = DEFAULT_CAP, *, caps: Mapping[str, int] | None = None,
                 account_limit: int = ACCOUNT_CONCURRENCY) -> None:
        reserved = reserved or {}
        caps = caps or {}
        self.account = AccountConcurrency(account_limit, {name: reserved.get(name) for name in setups})
        self.pools = {name: FunctionPool(setup, caps.get(name, cap), reserved.get(name), self.account)
                      for name, setup in setups.items()}

    @staticmethod
    def start_platform() -> None:
        """Start the preloaded forkserver now and wait until it forks, so that its one-off
        import is part of the stack's start, not of a first invocation's cold start."""
        process = _context().Process(target=_platform_ready, name=f"{WORKER_NAME_PREFIX}platform", daemon=True)
        process.start()
        process.join()

    def invoke(self, function: str, raw: bytes) -> Outcome:
        return self.pools[function].invoke(raw)

    def in_flight(self, function: str) -> int:
        """The function's invocations admitted and not yet answered."""
        return self.pools[function].in_flight

    def provision(self, function: str, count: int) -> int:
        """``count`` environments of the function initialized ahead (see FunctionPool.provision)."""
        return self.pools[function].provision(count)

    def reconfigure(self, setups: Mapping[str, WorkerSetup]) -> None:
        for name, setup in setups.items():
            self.pools[name].reconfigure(setup)

    def close(self) -> None:
        # Every environment is told first, then each awaited: they end at the same time.
        stopping = [environment for pool in self.pools.values() for environment in pool.close_idle()]
        for environment in stopping:
            environment.stop()

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per function: invocations, cold starts (count and seconds), timeouts, throttles, peak."""
        figures: dict[str, dict[str, Any]] = defaultdict(dict)
        for name, pool in self.pools.items():
            stats = pool.stats
            if not stats.invocations and not stats.throttles:
                continue
            seconds = sorted(stats.cold_start_seconds)
            figures[name] = {
                "invocations": stats.invocations,
                "cold_starts": stats.cold_starts,
                "cold_start_ms_median": round(seconds[len(seconds) // 2] * 1000, 1) if seconds else None,
                "cold_start_ms_max": round(seconds[-1] * 1000, 1) if seconds else None,
                "timeouts": stats.timeouts,
                "throttles": stats.throttles,
                "peak_concurrency": stats.peak_concurrency,
                "peak_environments": stats.peak_environments,
            }
        return dict(figures)

    def cold_starts(self) -> Counter[str]:
        return Counter({name: pool.stats.cold_starts for name, pool in self.pools.items() if pool.stats.cold_starts})


def lambda_environment(function: str, handler: str, memory_mb: int, variables: Mapping[str, str],
                       base: Mapping[str, str]) -> dict[str, str]:
    """A function's environment variables as Lambda sets them: the runtime's (``base``), the
    function's own, and the reserved ones naming the function."""
    return {
        **base,
        **variables,
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        # Every local environment starts when an invocation needs it, as on-demand Lambda's do.
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": handler,
    }


def inherited_sys_path(extra: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*extra, *sys.path]))
