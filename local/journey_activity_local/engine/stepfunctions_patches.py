"""moto's Step Functions interpreter as AWS behaves: the patches of the local engine that make it
refuse, announce and stop as the service does, and cost what the service costs.

Each replaces or wraps something in moto's internals; :mod:`journey_activity_local.engine.verified`
lists what each expects to find (its ``Shape``) and the moto versions it was verified on, and refuses
to start an engine of another shape. Each is idempotent (installed once per process).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

# The engine's Lambda client signs with this access key: the local Lambda endpoint knows the
# caller is the state machine and authorizes its invocations against the state machine's role.
STATE_MACHINE_ACCESS_KEY = "ASIALOCALSTATEMACHINE"


def install() -> None:
    """Every patch of this module but the announcements (installed by :func:`listen`)."""
    start_executions_atomically()
    deliver_early_callbacks()
    name_heartbeat_timeouts()
    refuse_resumed_tasks()
    skip_starting_executions()
    reuse_lambda_clients()
    stop_at_once()


def name_heartbeat_timeouts() -> None:
    """A task whose HeartbeatSeconds passed fails with ``States.HeartbeatTimeout`` on AWS; moto
    (5.2.x) reports every timeout of a task as ``States.Timeout`` (its TimeoutError subclass for
    heartbeats meets the same branch). Named as AWS names it: a Retry or Catch on
    ``States.HeartbeatTimeout`` must match locally as it matches on AWS."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if getattr(StateTask._from_error, "_journey_activity_patch", False):
        return
    original = StateTask._from_error

    @functools.wraps(original)
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, HeartbeatTimeoutError):
            return original(self, env, ex)
        name = StatesErrorNameType.StatesHeartbeatTimeout
        return FailureEvent(env=env, error_name=StatesErrorName(typ=name), event_type=HistoryEventType.TaskTimedOut,
                            event_details=EventDetails(  # type: ignore[typeddict-item]
                                taskTimedOutEventDetails=TaskTimedOutEventDetails(error=name.to_name())))

    from_error._journey_activity_patch = True  # type: ignore[attr-defined]
    StateTask._from_error = from_error  # type: ignore[method-assign]


def start_executions_atomically() -> None:
    """In AWS, StartExecution checks the name and starts the run in one step, so two concurrent
    starts of one batch (Pinpoint retrying a slow invocation) give one execution. moto (5.2.x)
    checks, then appends, without a lock: both calls can pass the check and start two runs of
    one name. Serialized here, as AWS behaves; the start itself only spawns the run's thread."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if getattr(StepFunctionsParserBackend.start_execution, "_journey_activity_patch", False):
        return
    original = StepFunctionsParserBackend.start_execution
    lock = threading.Lock()

    @functools.wraps(original)
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    start_execution._journey_activity_patch = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def deliver_early_callbacks() -> None:
    """Work around a race in moto's interpreter (5.2.x): it sets up a task's heartbeat wait
    only after the Lambda invocation returns, so a SendTaskSuccess that arrives while the
    sender is still running (a fast receipt) is not seen by the heartbeat wait, which then
    times out. AWS delivers such a callback; so does this, by waking the new wait at once."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    if getattr(CallbackEndpoint.setup_heartbeat_endpoint, "_journey_activity_patch", False):
        return
    original = CallbackEndpoint.setup_heartbeat_endpoint

    @functools.wraps(original)
    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()
        return endpoint

    setup_heartbeat_endpoint._journey_activity_patch = True  # type: ignore[attr-defined]
    CallbackEndpoint.setup_heartbeat_endpoint = setup_heartbeat_endpoint  # type: ignore[method-assign]


CLOSED_TASK_MESSAGE = "Task Timed Out: 'Provided task does not exist anymore'"


def closed_task_error() -> Exception:
    """The service's ``TaskTimedOut`` error for a closed task, built the way the installed moto
    builds its own errors. moto up to 5.2.5 derives the parser's errors from ``AWSError``
    (``message, exception_type``); 5.2.6 from ``ServiceException`` (``code, message`` when given
    two arguments). Neither form is called positionally here: the message alone, and the code
    set by its own name, so the wire carries ``TaskTimedOut`` and this message on both."""
    from moto.core import exceptions as core_exceptions
    from moto.stepfunctions.parser.api import TaskTimedOut

    service_exception = getattr(core_exceptions, "ServiceException", None)
    if isinstance(service_exception, type) and issubclass(TaskTimedOut, service_exception):
        error = TaskTimedOut(CLOSED_TASK_MESSAGE)
        error.code = "TaskTimedOut"
        return error
    legacy: Any = TaskTimedOut  # AWSError(message, exception_type, status)
    return legacy(CLOSED_TASK_MESSAGE, exception_type="TaskTimedOut")


def refuse_resumed_tasks() -> None:
    """moto (5.2.x) accepts SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat for a task it
    has already resumed, and overwrites the first outcome if the task has not read it yet. AWS
    refuses them ("TaskTimedOut: ... the task associated with the token has already been closed"),
    and the product relies on that (a provider's retry of a receipt resumes again; the refusal
    makes it a duplicate). So does this: a token whose task has an outcome is refused with
    TaskTimedOut, in running executions and closed ones alike."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackPoolManager

    if getattr(CallbackPoolManager.notify, "_journey_activity_patch", False):
        return
    notify, heartbeat = CallbackPoolManager.notify, CallbackPoolManager.heartbeat

    def resumed(self: Any, callback_id: str) -> bool:
        endpoint = self._pool.get(callback_id)
        if endpoint is None:
            return False
        if type(endpoint).__name__ == "_FinishedCallback":  # a closed execution's (engine_patches)
            return True
        get_outcome = getattr(endpoint, "get_outcome", None)
        return get_outcome is not None and get_outcome() is not None

    # Raised here, as the service's error: moto's own mapping of a consumer error cannot build it
    # (5.2.x calls the exception without its message).
    def refuse_resumed(self: Any, callback_id: str, outcome: Any) -> bool:
        if resumed(self, callback_id):
            raise closed_task_error()
        return bool(notify(self, callback_id, outcome))

    def refuse_resumed_heartbeat(self: Any, callback_id: str) -> bool:
        if resumed(self, callback_id):
            raise closed_task_error()
        return bool(heartbeat(self, callback_id))

    refuse_resumed._journey_activity_patch = True  # type: ignore[attr-defined]
    CallbackPoolManager.notify = refuse_resumed  # type: ignore[method-assign]
    CallbackPoolManager.heartbeat = refuse_resumed_heartbeat  # type: ignore[method-assign]


def skip_starting_executions() -> None:
    """moto (5.2.x) finds a task token's execution by asking every running execution's
    environment; an execution that has just started has none yet (its worker sets it up on its own
    thread), and SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat then fail with a 500
    (``'NoneType' object has no attribute 'callback_pool_manager'``) for any token, while another
    batch starts. Such an execution holds no task token: it is left out of that search, and the
    call is answered as AWS answers it."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    get_executions = StepFunctionsParserBackend._get_executions
    if getattr(get_executions, "_journey_activity_patch", False):
        return

    @functools.wraps(get_executions)
    def with_environment(self: Any, execution_status: Any = None) -> Any:
        return [execution for execution in get_executions(self, execution_status)
                if getattr(getattr(execution, "exec_worker", None), "env", None) is not None]

    with_environment._journey_activity_patch = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend._get_executions = with_environment  # type: ignore[method-assign]


def reuse_lambda_clients() -> None:
    """moto's interpreter builds a new boto3 client for every Lambda invocation (tens of
    milliseconds of CPU each, under the GIL); AWS Step Functions has no such cost. Reuse one
    client per region for the Lambda integration: clients are thread-safe once built."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    if getattr(lambda_eval_utils.boto_client_for, "_journey_activity_patch", False):
        return
    import boto3
    from botocore.config import Config

    original = lambda_eval_utils.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # Each local environment has its own Lambda endpoint: a client per endpoint.
        key = (region, service, os.environ.get("AWS_ENDPOINT_URL_LAMBDA", ""))
        with lock:
            if key not in clients:
                made = original(region=region, service=service, state_credentials=state_credentials)
                # One connection per concurrent Map iteration (inline Map runs up to 40 at once per execution).
                clients[key] = boto3.client(
                    service, region_name=region, endpoint_url=made.meta.endpoint_url,
                    # The state machine role's (local) credentials: see STATE_MACHINE_ACCESS_KEY.
                    aws_access_key_id=STATE_MACHINE_ACCESS_KEY, aws_secret_access_key="sk",  # noqa: S106
                    config=made.meta.config.merge(Config(max_pool_connections=256)),
                )
            return clients[key]

    boto_client_for._journey_activity_patch = True  # type: ignore[attr-defined]
    lambda_eval_utils.boto_client_for = boto_client_for


def stop_at_once() -> None:
    """moto (5.2.x) marks a stopped execution ABORTED only when its running task returns, so
    an execution waiting for a receipt would look RUNNING until the heartbeat expires. AWS
    aborts at once; so does this: the status is ABORTED as soon as StopExecution returns
    (the waiting thread ends later and finds its program stopped)."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution

    if getattr(Execution.stop, "_journey_activity_patch", False):
        return
    original = Execution.stop

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        self._journey_activity_aborted = True
        original(self, stop_date=stop_date, error=error, cause=cause)
        self.exec_status = ExecutionStatus.ABORTED
        self.stop_date = stop_date

    stop._journey_activity_patch = True  # type: ignore[attr-defined]
    Execution.stop = stop  # type: ignore[method-assign]

    # When the interrupted task does return, its error must not turn ABORTED into FAILED.
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect_status(self: Any) -> None:
        reflect(self)
        if getattr(self.execution, "_journey_activity_aborted", False):
            self.execution.exec_status = ExecutionStatus.ABORTED

    BaseExecutionWorkerCommunication._reflect_execution_status = reflect_status  # type: ignore[method-assign]


# Who hears of executions changing status (see announce_status_changes): the local stack's
# ExecutionEvents, each with the generation of the environment that listens.
status_listeners: list[Callable[[Any], None]] = []
status_listeners_lock = threading.Lock()
# Which local environment started an execution: a run left over from an earlier environment
# (its thread still waiting out a heartbeat) must not be announced to the next one, whose
# engine has never heard of it.
_generation = 0


def listen(listener: Callable[[Any], None]) -> int:
    """Hear every status change from now on; returns the generation executions started from now carry."""
    global _generation
    announce_status_changes()
    with status_listeners_lock:
        _generation += 1
        status_listeners.append(listener)
        return _generation


def stop_listening(listener: Callable[[Any], None]) -> None:
    with status_listeners_lock:
        status_listeners.remove(listener)


def _announce(execution: Any) -> None:
    with status_listeners_lock:
        listeners = list(status_listeners)
    for listener in listeners:
        listener(execution)


def announce_status_changes() -> None:
    """moto emits no EventBridge events. Tell the listeners when an execution starts, ends
    (succeeded, failed, timed out) or is stopped, as AWS tells EventBridge: at the moment it
    happens, with no polling (which grows with the number of executions and competes for
    the GIL with the run it watches)."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    if getattr(BaseExecutionWorkerCommunication.terminated, "_journey_activity_patch", False):
        return
    terminated, stop, start = BaseExecutionWorkerCommunication.terminated, Execution.stop, Execution.start

    # Wrapped (functools.wraps), as every patch here is: engine/verified.py reads the shape of what
    # moto defines through them, in a process whose engine has already run.
    @functools.wraps(terminated)
    def on_terminated(self: Any) -> None:
        terminated(self)
        _announce(self.execution)

    @functools.wraps(stop)
    def on_stop(self: Any, *args: Any, **kwargs: Any) -> None:
        stop(self, *args, **kwargs)
        _announce(self)

    @functools.wraps(start)
    def on_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._journey_activity_generation = _generation  # before its thread can end and announce
        started = start(self, *args, **kwargs)
        _announce(self)
        return started

    for function in (on_terminated, on_stop, on_start):
        setattr(function, "_journey_activity_patch", True)  # noqa: B010 - marks the patch
    BaseExecutionWorkerCommunication.terminated = on_terminated  # type: ignore[method-assign]
    Execution.stop = on_stop  # type: ignore[method-assign]
    Execution.start = on_start  # type: ignore[method-assign]
