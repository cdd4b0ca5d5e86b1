"""Where an execution view's data comes from: a history file, or a deployed execution's ARN.

A history file is what ``journey-activity run --history`` writes: the list of history events
``GetExecutionHistory`` returned (its original shape, still read), or a document
``{"events": [...], "execution": {...}, "definition": "...", "records": {...}}`` that also carries
the definition, ``DescribeExecution``'s answer and the ledger's records of the batch. A file
holding ``{"events": [...]}`` alone (``aws stepfunctions get-execution-history`` output) reads too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXECUTION_FIELDS = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "error")


class ViewSourceError(ValueError):
    """The source names no execution the view can be built from (the message says why)."""


@dataclass
class ExecutionData:
    events: list[dict[str, Any]]
    definition: dict[str, Any] | None = None
    execution: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def history_document(events: list[dict[str, Any]], execution: dict[str, Any], definition: str | dict[str, Any],
                     records: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What ``run --history`` writes: the events and what the view needs besides them."""
    return {
        "events": events,
        "execution": {key: execution[key] for key in EXECUTION_FIELDS if key in execution},
        "definition": definition if isinstance(definition, str) else json.dumps(definition),
        "records": records or {},
    }


def _definition(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ViewSourceError("its definition is not JSON") from None
    return value if isinstance(value, dict) else None


def load_history_file(path: Path, definition_path: Path | None = None) -> ExecutionData:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ViewSourceError(f"cannot read {path}: {error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise ViewSourceError(f"{path} is not JSON: {error.msg} at line {error.lineno}") from None
    if isinstance(document, list):
        document = {"events": document}
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise ViewSourceError(f"{path} holds no history events (a list, or a document with \"events\")")
    events = document["events"]
    if not events or not all(isinstance(e, dict) and "id" in e and "type" in e for e in events):
        raise ViewSourceError(f"{path}: every history event needs an id and a type")
    definition = _definition(document.get("definition"))
    if definition_path is not None:
        try:
            definition = _definition(definition_path.read_text())
        except OSError as error:
            raise ViewSourceError(f"cannot read {definition_path}: {error.strerror or error}") from None
    records = document.get("records") if isinstance(document.get("records"), dict) else {}
    execution = document.get("execution") if isinstance(document.get("execution"), dict) else {}
    return ExecutionData(events=events, definition=definition, execution=execution or {}, records=records or {})


def load_execution(sfn: Any, execution_arn: str) -> ExecutionData:
    """A deployed (or local) execution: DescribeExecution, every page of GetExecutionHistory, and the
    definition the execution ran (DescribeStateMachineForExecution, right even after an update)."""
    described = sfn.describe_execution(executionArn=execution_arn)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn,
                                                                     PaginationConfig={"PageSize": 1000}):
        events.extend(page["events"])
    machine = sfn.describe_state_machine_for_execution(executionArn=execution_arn)
    execution = {key: described[key] for key in EXECUTION_FIELDS if key in described}
    return ExecutionData(events=events, definition=_definition(machine.get("definition")), execution=execution)
