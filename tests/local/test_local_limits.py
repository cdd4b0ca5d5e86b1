"""The local engine enforces Step Functions' 256 KiB payload limit and Lambda's 4 KB of environment as AWS does
(local/limits.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from journey_activity_local.engine.limits import MAX_PAYLOAD_BYTES, enforce_payload_limits

ROLE = "arn:aws:iam::123456789012:role/limits"


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(variable, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        enforce_payload_limits()
        yield boto3.client("stepfunctions")


def _run(sfn: Any, definition: dict[str, Any], document: str = "{}") -> dict[str, Any]:
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="run", input=document)["executionArn"]
    for _ in range(400):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.025)
    raise AssertionError("the execution did not end")


def _padding(total: int, wrapper: str = '{"p":""}') -> str:
    return "x" * (total - len(wrapper))


def test_exactly_the_limit_passes_and_one_byte_more_is_refused_at_start(sfn):
    machine = {"StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": True}}}
    document = json.dumps({"p": _padding(MAX_PAYLOAD_BYTES)}, separators=(",", ":"))
    assert _run(sfn, machine, document)["status"] == "SUCCEEDED"
    arn = sfn.create_state_machine(name="too-big", definition=json.dumps(machine), roleArn=ROLE)["stateMachineArn"]
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=arn, name="run", input=document[:-2] + 'xx"}')
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_multibyte_text_counts_in_utf8_bytes(sfn):
    machine = {"StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": True}}}
    # 100,000 characters, 300,000 bytes.
    arn = sfn.create_state_machine(name="utf8", definition=json.dumps(machine), roleArn=ROLE)["stateMachineArn"]
    with pytest.raises(ClientError):
        sfn.start_execution(stateMachineArn=arn, name="run", input=json.dumps({"p": "€" * 100_000},
                                                                                ensure_ascii=False))


def test_a_state_input_over_the_limit_after_parameters_fails_the_execution(sfn):
    """The Parameters result is the state's effective input, even when OutputPath then shrinks it."""
    machine = {"StartAt": "Grow", "States": {
        "Grow": {"Type": "Pass", "Parameters": {"a.$": "$.p", "b.$": "$.p", "small": 1}, "OutputPath": "$.small",
                 "End": True}}}
    described = _run(sfn, machine, json.dumps({"p": "x" * 140_000}))
    assert described["status"] == "FAILED", described
    assert described["error"] == "States.DataLimitExceeded"


def test_states_all_does_not_catch_data_limit_exceeded(sfn):
    """A Map whose iteration outgrows the limit fails the execution; its States.ALL Retry and Catch do not run."""
    machine = {"StartAt": "Each", "States": {
        "Each": {
            "Type": "Map", "ItemsPath": "$.items", "ResultPath": None,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Grow", "States": {
                "Grow": {"Type": "Pass", "Parameters": {"a.$": "$.p", "b.$": "$.p"}, "End": True}}},
            "ItemSelector": {"p.$": "$.pad"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "End": True},
    }}
    described = _run(sfn, machine, json.dumps({"items": [1], "pad": "x" * 140_000}))
    assert described["status"] == "FAILED", described
    assert described["error"] == "States.DataLimitExceeded"
    history = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "Caught" not in entered


def test_a_catch_that_names_the_error_still_catches_it(sfn):
    machine = {"StartAt": "Each", "States": {
        "Each": {
            "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.results",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Grow", "States": {
                "Grow": {"Type": "Pass", "Parameters": {"a.$": "$.p", "b.$": "$.p"}, "OutputPath": "$.a",
                         "End": True}}},
            "ItemSelector": {"p.$": "$.pad"},
            "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": None, "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "Parameters": {"caught": True}, "End": True},
    }}
    described = _run(sfn, machine, json.dumps({"items": [1], "pad": "x" * 140_000}))
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"caught": True}



def test_send_task_success_refuses_an_output_over_the_limit(sfn):
    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken="t" * 20, output=json.dumps({"p": "x" * MAX_PAYLOAD_BYTES}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    # Within the limit, the call gets as far as the token (which is unknown here).
    with pytest.raises(ClientError) as unknown:
        sfn.send_task_success(taskToken="t" * 20, output=json.dumps({"p": "x"}))
    assert unknown.value.response["Error"]["Code"] != "ValidationException"


def test_lambdas_environment_limit_counts_the_variables_as_one_json_object():
    from journey_activity_local.engine.limits import (
        ENVIRONMENT_LIMIT_BYTES,
        EnvironmentTooLargeError,
        check_environment,
        environment_bytes,
    )

    assert environment_bytes({"A": "bc", "D": "é"}) == len('{"A":"bc","D":"é"}'.encode())
    # 4,096 bytes pass, one more does not.
    at_limit = {"CONNECT_ACTIONS": "x" * (ENVIRONMENT_LIMIT_BYTES - len('{"CONNECT_ACTIONS":""}'))}
    check_environment("InvokerFunction", at_limit)
    with pytest.raises(EnvironmentTooLargeError) as caught:
        check_environment("InvokerFunction", {**at_limit, "CONNECT_ACTIONS": at_limit["CONNECT_ACTIONS"] + "y"})
    assert str(caught.value) == (
        "InvokerFunction: Lambda refuses environment variables over 4 KB in all (4,097 bytes measured as JSON; "
        "largest: CONNECT_ACTIONS 4,075): put CONNECT_ACTIONS in the configuration object instead (template "
        "parameter ConfigurationObject; docs/configuration.md)")
    with pytest.raises(EnvironmentTooLargeError, match=r"largest: LEDGER_TABLE 4,100\): shorten them$"):
        check_environment("ValidateFunction", {"LEDGER_TABLE": "t" * 4100})
