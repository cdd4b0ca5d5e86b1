"""The local run refuses what each role does not allow, where AWS would: the template's
policies, after the SAM transform, are what the handlers and the state machine may do."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from journey_activity_local.stack import LocalInvokeError

from .conftest import endpoint, event_with

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS = {"a": endpoint("SMS", "+14155550123"), "b": endpoint("EMAIL", "someone@example.com")}


def template_copy(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of template.yaml (with its state machine definition) changed by ``edit``."""
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse((ROOT / "template.yaml").read_text())
    edit(document)
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


SENDERS = ("SendFunction", "EmailSendFunction", "SmsVoiceSendFunction", "PushSendFunction")


def without_policies(*functions: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        for function in functions:
            del document["Resources"][function]["Properties"]["Policies"]

    return edit


def test_the_template_as_written_needs_nothing_more(make_local, invoke):
    local = make_local()
    run = invoke(local, event_with(ENDPOINTS, data="x" * 9000 + "{{User.UserAttributes.FirstName|there}}"))
    assert {run.status(e) for e in ENDPOINTS} == {"DELIVERED"}
    run.finish()
    assert local.guard_totals().denials == []
    # What the template's roles allow is what the functions use: each role's grants were exercised.
    used = {action for _, action in local.guard_totals().allowed}
    assert {"dynamodb:PutItem", "dynamodb:BatchWriteItem", "states:StartExecution", "dynamodb:UpdateItem",
            "states:SendTaskSuccess", "events:PutEvents"} <= used


def test_an_invoker_without_put_item_cannot_start_a_batch_with_large_data(tmp_path, make_local):
    """A Data template over 8 KiB is stored in the ledger (PutItem) before the execution starts."""
    def edit(document: dict[str, Any]) -> None:
        for statement in document["Resources"]["InvokerFunction"]["Properties"]["Policies"][0]["Statement"]:
            if isinstance(statement["Action"], list):
                statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:PutItem"]

    local = make_local(template=template_copy(tmp_path, edit))
    with pytest.raises(LocalInvokeError) as refused:
        local.invoke(event_with(ENDPOINTS, data="x" * 9000))
    message = refused.value.payload["errorMessage"]
    assert "AccessDeniedException" in message
    assert ("assumed-role/InvokerFunctionRole/InvokerFunction is not authorized to perform: dynamodb:PutItem on "
            "resource: arn:aws:dynamodb:us-east-1:123456789012:table/journey-activity-local-ledger") in message
    assert local.executions() == []
    assert local.provider.sends == []


def test_a_sender_without_policies_sends_nothing_and_every_endpoint_fails(tmp_path, make_local, invoke):
    local = make_local(template=template_copy(tmp_path, without_policies(*SENDERS)))
    run = invoke(local, event_with(ENDPOINTS))
    run.finish()
    assert local.provider.sends == []
    assert {record["status"] for record in run.ledger().values()} == {"FAILED"}
    # Each channel's sender is refused its read of the recipients' parts and its first ledger
    # write, before any provider is called.
    assert {action for _, action in ((d.principal, d.action) for d in local.guard_totals().denials)} == {
        "dynamodb:BatchGetItem", "dynamodb:UpdateItem"}
    assert {d.principal for d in local.guard_totals().denials} == {"EmailSendFunction", "SmsVoiceSendFunction"}
    assert any("AccessDeniedException" in str(event) for event in run.history())


def test_a_state_machine_that_may_not_invoke_its_functions_fails_and_is_finalized(tmp_path, make_local, invoke):
    local = make_local(template=template_copy(tmp_path, without_policies("BatchStateMachine")))
    run = invoke(local, event_with(ENDPOINTS))
    described = local.wait_for_execution(run.arn)
    assert described["status"] == "FAILED"
    assert {(d.principal, d.action, d.resource) for d in local.guard_totals().denials} == {
        ("BatchStateMachine", "lambda:InvokeFunction",
         "arn:aws:lambda:us-east-1:123456789012:function:ValidateFunction")}
    assert local.provider.sends == []
    assert {run.status(e) for e in ENDPOINTS} <= {"FAILED", "PENDING"}
