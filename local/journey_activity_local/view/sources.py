"""Where an execution view's data comes from: a history file, or a deployed execution's ARN.

A history file is what ``journey-activity run --history`` writes, the list of history events
``GetExecutionHistory`` returned; ``aws stepfunctions get-execution-history`` output
(``{"events": [...]}``) reads too, and so does a document that also carries ``"definition"``,
``"execution"`` (``DescribeExecution``'s answer) and ``"records"`` (the ledger's, by endpoint id).
A file without a definition is drawn with the one given, else the checkout's. A deployed
execution's ledger records (what group wait mode draws each endpoint's timeline from) are read
from the stack's ledger table when it is named (``LedgerTableName``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from journey_activity_local.view.model import ExecutionView, build_model
from journey_activity_local.view.page import render_page

EXECUTION_FIELDS = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "error")


class ViewSourceError(ValueError):
    """The source names no execution the view can be built from (the message says why)."""


@dataclass
class ExecutionData:
    events: list[dict[str, Any]]
    definition: dict[str, Any] | None = None
    execution: dict[str, Any] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_view(path: Path, data: ExecutionData, records: Mapping[str, Mapping[str, Any]] | None = None,
               personal_data: bool = False) -> ExecutionView:
    """Build the view of ``data`` and write it to ``path`` as one HTML file."""
    view = build_model(data.events, data.definition, records if records is not None else data.records,
                       data.execution, personal_data=personal_data)
    path.write_text(render_page(view), encoding="utf-8")
    return view


def _definition(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ViewSourceError("its definition is not JSON") from None
    return value if isinstance(value, dict) else None


def load_history_file(path: Path, definition_path: Path | None = None,
                      fallback_definition: Path | None = None) -> ExecutionData:
    """A history file; ``definition_path`` replaces the definition it carries, ``fallback_definition``
    is used when it carries none (a plain list of events does not)."""
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
    if definition is None and definition_path is None:
        definition_path = fallback_definition
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


def batch_id_of(events: list[dict[str, Any]], execution: Mapping[str, Any]) -> str:
    """The batch id whose partition holds the execution's endpoint records: its input's
    ``context.batch_id``, else the execution's name."""
    for event in events:
        if event.get("type") == "ExecutionStarted":
            details = event.get("executionStartedEventDetails") or {}
            try:
                document = json.loads(details.get("input") or "{}")
            except ValueError:
                break
            context = document.get("context") if isinstance(document, dict) else None
            if isinstance(context, dict) and isinstance(context.get("batch_id"), str) and context["batch_id"]:
                return str(context["batch_id"])
            break
    return str(execution.get("name") or "")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_plain(item) for item in value]
    return value


def load_records(dynamodb: Any, table: str, batch_id: str) -> dict[str, dict[str, Any]]:
    """The batch's endpoint records (``pk`` = the batch id), by endpoint id: every page of a
    strongly consistent Query. They hold ids, statuses, times and error names, no addresses."""
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    records: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                               "ExpressionAttributeValues": {":pk": {"S": batch_id}}, "ConsistentRead": True}
    while True:
        response = dynamodb.query(**request)
        for item in response.get("Items", []):
            record = _plain({key: deserialize(value) for key, value in item.items()})
            records[str(record.get("sk") or record.get("endpoint_id"))] = record
        if "LastEvaluatedKey" not in response:
            return records
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
