"""Step Functions' payload limit and Lambda's 4 KB of environment, enforced locally as AWS enforces them.

AWS Step Functions limits every payload to 256 KiB (262,144 bytes of UTF-8): the execution's
input (``StartExecution``), a task's output (``SendTaskSuccess``), and every state's input and
output. A state whose input (after ``InputPath`` and ``Parameters``) or output is larger fails
with ``States.DataLimitExceeded``, a terminal error that ``States.ALL`` does not catch
(Step Functions developer guide, "Error names": States.ALL "can't catch the
States.DataLimitExceeded terminal error type and runtime error types"; quotas: "Maximum
input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded
string"; botocore ``stepfunctions`` model: ``input``/``output`` ``SensitiveData`` max 262144).

moto (5.2.x) checks a state's output only, one byte short (it refuses exactly 262,144), lets
``States.ALL`` catch and retry ``States.DataLimitExceeded`` (so a Map's Catch turns it into a
normal path), and accepts any size of execution input, state input, ``Parameters`` result and
``SendTaskSuccess`` output; and a Map iteration's ``States.*`` error reaches the Map as
``States.Runtime``. :func:`enforce_payload_limits` patches those, once per process.
"""

from __future__ import annotations

import functools
import json
from typing import Any

MAX_PAYLOAD_BYTES = 256 * 1024
# Errors States.ALL (and States.TaskFailed) do not match: a Catch or Retry must name them.
TERMINAL_ERRORS = frozenset({"States.DataLimitExceeded", "States.Runtime"})
_MARK = "_journey_activity_limits"


def payload_bytes(value: Any) -> int:
    """The size Step Functions counts: the UTF-8 bytes of the JSON text."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    text = value if isinstance(value, str) else to_json_str(value, separators=(",", ":"))
    return len(text.encode("utf-8"))


def within_limit(value: Any) -> bool:
    return payload_bytes(value) <= MAX_PAYLOAD_BYTES


def _data_limit_failure(env: Any, what: str, size: int) -> Exception:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    error_type = StatesErrorNameType.StatesStatesDataLimitExceeded
    cause = (f"{what} has a size of {size} bytes, exceeding the maximum number of bytes service limit "
             f"({MAX_PAYLOAD_BYTES}).")
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=error_type),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                executionFailedEventDetails=ExecutionFailedEventDetails(error=error_type.to_name(), cause=cause)
            ),
        )
    )


def _inclusive_limit() -> None:
    """moto refuses a payload of exactly 262,144 bytes; AWS allows it."""
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service as service
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda as task_lambda
    import moto.stepfunctions.parser.asl.component.state.state as state
    import moto.stepfunctions.parser.quotas as quotas

    for module in (quotas, state, task_lambda, service):
        module.is_within_size_quota = within_limit  # type: ignore[attr-defined]


def _terminal_errors_escape_states_all() -> None:
    """``States.ALL`` and ``States.TaskFailed`` match neither ``States.DataLimitExceeded`` nor
    ``States.Runtime``: the execution fails, whatever the Catch and Retry say."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl

    original = ErrorEqualsDecl._eval_body
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        name = getattr(error_name, "error_name", None)
        if name in TERMINAL_ERRORS and all(getattr(n, "error_name", None) != name for n in self.error_names):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    setattr(eval_body, _MARK, True)
    ErrorEqualsDecl._eval_body = eval_body  # type: ignore[method-assign]


def _map_iterations_keep_states_errors() -> None:
    """moto (5.2.x) re-raises a failed Map iteration's error as a custom error name, which may
    not start with ``States.``: every ``States.*`` error of an iteration (DataLimitExceeded,
    Timeout) turns into ``States.Runtime``. AWS keeps the iteration's error name."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        ILLEGAL_CUSTOM_ERROR_PREFIX,
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker

    if getattr(iteration_worker.CustomErrorName, _MARK, False):
        return

    def error_name(error_name: str | None) -> Any:
        if error_name is not None and error_name.startswith(ILLEGAL_CUSTOM_ERROR_PREFIX):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return CustomErrorName(error_name=error_name)

    setattr(error_name, _MARK, True)
    setattr(iteration_worker, "CustomErrorName", error_name)  # noqa: B010 - replaces a class with a factory


def _state_input_checked() -> None:
    """A state's input (after ``InputPath``) and the result of its ``Parameters`` (or a Map's
    ``ItemSelector``) are payloads too."""
    from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    original_input = CommonStateField._eval_state_input
    if getattr(original_input, _MARK, False):
        return

    @functools.wraps(original_input)
    def eval_state_input(self: Any, env: Any) -> None:
        original_input(self, env)
        size = payload_bytes(env.stack[-1])
        if size > MAX_PAYLOAD_BYTES:
            raise _data_limit_failure(env, f"The input of state '{self.name}'", size)

    original_parargs = Parargs._eval_body

    @functools.wraps(original_parargs)
    def eval_parargs(self: Any, env: Any) -> None:
        original_parargs(self, env)
        size = payload_bytes(env.stack[-1])
        if size > MAX_PAYLOAD_BYTES:
            state = env.states.context_object.context_object_data.get("State") or {}
            raise _data_limit_failure(env, f"The Parameters of state '{state.get('Name', '?')}'", size)

    for function in (eval_state_input, eval_parargs):
        setattr(function, _MARK, True)
    CommonStateField._eval_state_input = eval_state_input  # type: ignore[method-assign]
    Parargs._eval_body = eval_parargs  # type: ignore[method-assign]


def _api_payloads_checked() -> None:
    """``StartExecution``'s input and ``SendTaskSuccess``' output: AWS answers ValidationException."""
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start, succeed = StepFunctionsParserBackend.start_execution, StepFunctionsParserBackend.send_task_success
    if getattr(start, _MARK, False):
        return

    def refuse(field: str, value: str | None) -> None:
        if value is not None and len(value.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise ValidationException(
                f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}"
            )

    @functools.wraps(start)
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse("input", kwargs.get("execution_input", args[2] if len(args) > 2 else None))
        return start(self, *args, **kwargs)

    @functools.wraps(succeed)
    def send_task_success(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse("output", kwargs.get("outcome", args[1] if len(args) > 1 else None))
        return succeed(self, *args, **kwargs)

    for function in (start_execution, send_task_success):
        setattr(function, _MARK, True)
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    StepFunctionsParserBackend.send_task_success = send_task_success  # type: ignore[method-assign]


def enforce_payload_limits() -> None:
    """Patch moto's Step Functions to enforce the 256 KiB payload limit as AWS does (idempotent)."""
    _inclusive_limit()
    _terminal_errors_escape_states_all()
    _map_iterations_keep_states_errors()
    _state_input_checked()
    _api_payloads_checked()


# -- Lambda's environment ---------------------------------------------------------------------------

# Lambda quotas: "Environment variables: 4 KB, for all environment variables associated with the
# function, in aggregate"; CreateFunction and UpdateFunctionConfiguration refuse more (the deploy
# fails). Lambda's refusal quotes the "String measured", the variables as one JSON object: that
# is what is counted here (keys, values, quotes and separators, UTF-8), the safe reading.
ENVIRONMENT_LIMIT_BYTES = 4 * 1024


class EnvironmentTooLargeError(ValueError):
    """A function's environment variables exceed Lambda's 4 KB: the deploy would fail."""


def environment_bytes(variables: dict[str, str]) -> int:
    return len(json.dumps(variables, ensure_ascii=False, separators=(",", ":")).encode())


def check_environment(function: str, variables: dict[str, str]) -> None:
    """Refuse ``variables`` (a function's configured environment, as the template and its
    parameters set it) when Lambda would, naming the largest variables and the way out."""
    size = environment_bytes(variables)
    if size <= ENVIRONMENT_LIMIT_BYTES:
        return
    largest = sorted(variables, key=lambda name: len(variables[name].encode()), reverse=True)[:3]
    sizes = ", ".join(f"{name} {len(variables[name].encode()):,}" for name in largest)
    from journey_activity.config import OBJECT_KEYS  # the settings the configuration object may hold instead

    movable = [name for name in largest if name in OBJECT_KEYS and variables[name]]
    hint = (f"put {', '.join(movable)} in the configuration object instead (template parameter "
            "ConfigurationObject; docs/configuration.md)" if movable else "shorten them")
    raise EnvironmentTooLargeError(
        f"{function}: Lambda refuses environment variables over 4 KB in all ({size:,} bytes measured as JSON; "
        f"largest: {sizes}): {hint}")
