"""What the local engine's patches replace in moto, and the moto versions they were verified on.

The engine patches about thirty places in moto's internals (speed, memory, what AWS enforces and
moto forgives). A moto release may move or reshape any of them, and a half-patched engine is
worse than none: it runs, and answers unlike AWS. So before the engine starts (``journey-activity
run`` and ``serve``, every ``LocalEnvironment``, the ledger's DynamoDB process, the test session),
:func:`preflight` checks

- that the installed moto is one the patches were verified on (:data:`VERIFIED_MOTO`), and
- that each thing a patch replaces still has the shape the patch expects (:data:`SHAPES`: the
  module and attribute exist; a function's leading parameters have the expected names; a class
  has the named attributes),

and refuses with one line naming the patch, what changed and the version. Setting
``JOURNEY_ACTIVITY_UNVERIFIED_MOTO=1`` tries anyway (a warning instead of the refusal): for the
upgrade check (``scripts/check-upgrades``) and for whoever verifies a new moto.

To verify a new moto: run ``scripts/check-upgrades``; when it passes, widen :data:`VERIFIED_MOTO`
and the shapes that changed, then ``scripts/lock --upgrade-package moto``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

OVERRIDE_VARIABLE = "JOURNEY_ACTIVITY_UNVERIFIED_MOTO"
# Every patch was run (its tests, the workflow tests, a soak) on each moto in this range, inclusive.
VERIFIED_MOTO = ("5.2.1", "5.2.6")


class UnverifiedEngineError(RuntimeError):
    """The installed moto is not one the local engine's patches were verified on."""


@dataclass(frozen=True)
class Shape:
    """One thing a patch replaces or reads: ``module`` and a dotted ``attribute`` path in it."""

    patch: str  # the patch, as its function is named
    module: str
    attribute: str
    # A function's or method's leading parameter names (after self/cls), as the patch calls it.
    parameters: tuple[str, ...] | None = None
    # A class's attributes the patch reads or replaces.
    has: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"

    def problem(self) -> str | None:
        """What is wrong with this shape in the installed moto, or None."""
        try:
            value: Any = importlib.import_module(self.module)
        except ImportError as error:
            return f"module {self.module} is gone ({error})"
        for part in self.attribute.split("."):
            if part not in getattr(value, "__dict__", {}) and not hasattr(value, part):
                return f"{self.target} is gone"
            value = getattr(value, part)
        for name in self.has:
            if not hasattr(value, name):
                return f"{self.target} has no {name}"
        if self.parameters is not None:
            original = inspect.unwrap(value.__func__ if isinstance(value, classmethod | staticmethod) else value)
            try:
                names = [parameter for parameter in inspect.signature(original).parameters
                         if parameter not in ("self", "cls")]
            except (TypeError, ValueError):
                return f"{self.target} is not a function any more"
            if tuple(names[:len(self.parameters)]) != self.parameters:
                expected = ", ".join(self.parameters)
                return f"{self.target} takes ({', '.join(names)}), the patch expects ({expected}, ...)"
        return None


_PARSER = "moto.stepfunctions.parser"
_DDB = "moto.dynamodb"
SHAPES: tuple[Shape, ...] = (
    # engine_patches: speed
    Shape("cache_jsonpath_parsing", f"{_PARSER}.asl.utils.json_path", "parse"),
    Shape("cache_jsonpath_parsing", f"{_PARSER}.asl.component.common.path.result_path", "parse"),
    Shape("cache_jsonpath_parsing", "jsonpath_ng.ext", "parse"),
    Shape("cache_update_expression_parsing", f"{_DDB}.parsing.expressions", "UpdateExpressionParser.make",
          ("expression_str",)),
    Shape("copy_shared_expressions_by_pickle", f"{_DDB}.parsing.validators", "deepcopy"),
    Shape("cache_traverser_node_types", f"{_DDB}.parsing.ast_nodes", "DepthFirstTraverser",
          has=("traverse_node_recursively", "_processing_map")),
    Shape("cache_traverser_node_types", f"{_DDB}.parsing.ast_nodes", "Node"),
    Shape("check_whole_expressions_once", f"{_DDB}.parsing.validators", "ActionCountValidator",
          has=("traverse", "verify_action_counts")),
    Shape("check_whole_expressions_once", f"{_DDB}.parsing.validators", "OverlappingPathsValidator",
          has=("traverse", "check_for_overlapping_paths")),
    Shape("check_whole_expressions_once", f"{_DDB}.parsing.ast_nodes", "UpdateExpression"),
    Shape("cache_backend_lookup", "moto.backends", "list_of_moto_modules", ()),
    Shape("cache_backend_lookup", "moto.moto_server.werkzeug_app",
          "DomainDispatcherApplication.get_backend_for_host", ("host",)),
    Shape("retention_without_queue_scan", "moto.sqs.models",
          "SQSBackend.is_message_valid_based_on_retention_period", ("queue_name", "message")),
    Shape("retention_without_queue_scan", "moto.core.utils", "unix_time"),
    Shape("dynamodb_items_as_json", "moto.core.responses", "ActionResult.execute_result", ("context",)),
    Shape("cache_action_names", "moto.core.responses", "method_names_from_class", ("clazz",)),
    # engine_patches: memory
    Shape("keep_live_interpreter_threads", f"{_PARSER}.utils", "TMP_THREADS"),
    Shape("untrack_model_instances", "moto.core.model_instances", "model_data"),
    Shape("pack_closed_executions", f"{_PARSER}.asl.eval.event.event_manager", "EventManager.get_event_history", ()),
    Shape("pack_closed_executions", f"{_PARSER}.backend.execution_worker", "ExecutionWorker._execution_logic", ()),
    Shape("pack_closed_executions", f"{_PARSER}.backend.execution", "Execution",
          has=("start", "stop")),
    Shape("pack_closed_executions", f"{_PARSER}.asl.eval.callback.callback", "CallbackPoolManager",
          has=("add", "notify")),
    Shape("intern_item_attribute_names", f"{_DDB}.models.dynamo_type", "LimitedSizeDict.__setitem__", ("key", "value")),
    # dynamodb_patches: the ledger's DynamoDB
    Shape("query_one_partition", f"{_DDB}.models.table", "Table.query", ("hash_key",)),
    Shape("query_one_partition", f"{_DDB}.models.table", "Table.all_items", ()),
    Shape("copy_each_table_once", f"{_DDB}.models", "DynamoDBBackend.transact_write_items", ("transact_items",)),
    Shape("copy_each_table_once", f"{_DDB}.models", "copy", has=("deepcopy",)),
    Shape("untrack_dynamodb_items", f"{_DDB}.models.dynamo_type", "Item", has=("instances_tracked",)),
    Shape("serialize_dynamodb", f"{_DDB}.models", "DynamoDBBackend",
          has=("update_item", "put_item", "get_item", "query", "batch_write_item")),
    Shape("serialize_dynamodb", f"{_DDB}.responses", "DynamoHandler.update_item", ()),
    Shape("serialize_dynamodb", f"{_DDB}.responses", "DynamoHandler",
          has=("get_item", "put_item", "delete_item", "query", "batch_write_item", "transact_write_items")),
    # stepfunctions_patches: the interpreter as the service behaves
    Shape("start_executions_atomically", f"{_PARSER}.models", "StepFunctionsParserBackend.start_execution",
          ("state_machine_arn", "name")),
    Shape("deliver_early_callbacks", f"{_PARSER}.asl.eval.callback.callback",
          "CallbackEndpoint.setup_heartbeat_endpoint", ("heartbeat_seconds",)),
    Shape("deliver_early_callbacks", f"{_PARSER}.asl.eval.callback.callback", "CallbackEndpoint.get_outcome", ()),
    Shape("name_heartbeat_timeouts", f"{_PARSER}.asl.component.state.exec.state_task.state_task",
          "StateTask._from_error", ("env", "ex")),
    Shape("name_heartbeat_timeouts", f"{_PARSER}.asl.eval.callback.callback", "HeartbeatTimeoutError"),
    Shape("name_heartbeat_timeouts", f"{_PARSER}.asl.component.common.error_name.states_error_name_type",
          "StatesErrorNameType", has=("StatesHeartbeatTimeout",)),
    Shape("name_heartbeat_timeouts", f"{_PARSER}.asl.component.common.error_name.failure_event", "FailureEvent"),
    Shape("refuse_resumed_tasks", f"{_PARSER}.asl.eval.callback.callback", "CallbackPoolManager.notify",
          ("callback_id", "outcome")),
    Shape("refuse_resumed_tasks", f"{_PARSER}.asl.eval.callback.callback", "CallbackPoolManager.heartbeat",
          ("callback_id",)),
    Shape("refuse_resumed_tasks", f"{_PARSER}.api", "TaskTimedOut"),
    Shape("skip_starting_executions", f"{_PARSER}.models", "StepFunctionsParserBackend._get_executions",
          ("execution_status",)),
    Shape("reuse_lambda_clients", f"{_PARSER}.asl.component.state.exec.state_task.lambda_eval_utils",
          "boto_client_for", ("region", "service")),
    Shape("stop_at_once", f"{_PARSER}.backend.execution", "Execution.stop", ("stop_date", "error", "cause")),
    Shape("stop_at_once", f"{_PARSER}.backend.execution", "BaseExecutionWorkerCommunication._reflect_execution_status",
          ()),
    Shape("announce_status_changes", f"{_PARSER}.backend.execution", "BaseExecutionWorkerCommunication.terminated", ()),
    Shape("announce_status_changes", f"{_PARSER}.backend.execution", "Execution.start", ()),
    # limits: what AWS enforces
    Shape("enforce_payload_limits", f"{_PARSER}.asl.component.common.error_name.error_equals_decl",
          "ErrorEqualsDecl._eval_body", ("env",)),
    Shape("enforce_payload_limits", f"{_PARSER}.asl.component.state.exec.state_map.iteration.iteration_worker",
          "CustomErrorName"),
    Shape("enforce_payload_limits", f"{_PARSER}.asl.component.state.state", "CommonStateField._eval_state_input",
          ("env",)),
    Shape("enforce_payload_limits", f"{_PARSER}.asl.component.common.parargs", "Parargs._eval_body", ("env",)),
    Shape("enforce_payload_limits", f"{_PARSER}.models", "StepFunctionsParserBackend.send_task_success",
          ("task_token", "outcome")),
    Shape("enforce_payload_limits", f"{_PARSER}.quotas", "is_within_size_quota"),
    # standins.ses: the account's send rate (GetSendQuota) is the stand-in's
    Shape("ses_account_send_rate", "moto.ses.models", "SESBackend.get_send_quota", ()),
    Shape("ses_account_send_rate", "moto.ses.models", "SESQuota", has=("__init__",)),
    # event_bus, dynamodb_units
    Shape("enforce_entry_size", "moto.events.models", "EventsBackend.put_events", ("events",)),
    Shape("dynamodb_units", f"{_DDB}.responses", "DynamoHandler",
          has=("get_item", "query", "put_item", "update_item", "delete_item", "batch_write_item", "batch_get_item")),
)


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def problems(version: str | None = None, shapes: Iterable[Shape] = SHAPES) -> list[str]:
    """One line per problem: the version outside the verified range, then each shape that changed."""
    version = version or moto_version()
    found = []
    low, high = VERIFIED_MOTO
    if not Version(low) <= Version(version) <= Version(high):
        found.append(f"moto {version} is outside the versions the local engine's patches were verified on "
                     f"({low} to {high})")
    for shape in shapes:
        problem = shape.problem()
        if problem:
            found.append(f"patch {shape.patch}: {problem} (moto {version})")
    return found


def preflight(version: str | None = None, shapes: Iterable[Shape] = SHAPES) -> None:
    """Refuse to start a half-patched engine: raise :class:`UnverifiedEngineError` with one line (the
    first problem, and how many more), unless ``JOURNEY_ACTIVITY_UNVERIFIED_MOTO=1``."""
    found = problems(version, shapes)
    if not found:
        return
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    line = (f"local engine refused: {found[0]}{more}; install the locked versions (uv sync --locked) "
            f"or set {OVERRIDE_VARIABLE}=1 to try anyway")
    if os.environ.get(OVERRIDE_VARIABLE) == "1":
        warnings.warn(line.replace("local engine refused", "local engine unverified"), stacklevel=2)
        return
    raise UnverifiedEngineError(line)
