"""The SAM template and the ASL pass the AWS tools: samtranslator, cfn-lint, asl-validator, statelint."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lint

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
NODE_BIN = ROOT / "node_modules" / ".bin"


def asl_files() -> list[Path]:
    return sorted((ROOT / "statemachines").glob("*.asl.json"))


def parsed_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(TEMPLATE.read_text())


def node_tool(name: str) -> str:
    tool = NODE_BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run `npm ci` (the ASL linters come from package.json)")
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the ASL linters need Node.js 18 or later")
    return str(tool)


def test_the_template_transforms_with_samtranslator(monkeypatch):
    from samtranslator.translator.transform import transform

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = parsed_template()
    # What `sam package` does before the transform: code and definition uploaded to S3.
    template["Globals"]["Function"]["CodeUri"] = "s3://bucket/functions.zip"
    machine = template["Resources"]["BatchStateMachine"]["Properties"]
    machine["DefinitionUri"] = {"Bucket": "bucket", "Key": "batch.asl.json"}

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    output = transform(template, {}, NoManagedPolicies())
    types = [resource["Type"] for resource in output["Resources"].values()]
    assert types.count("AWS::Lambda::Function") == 7
    assert types.count("AWS::StepFunctions::StateMachine") == 1
    assert "AWS::ApiGatewayV2::Api" in types
    machine_out = next(r for r in output["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    assert machine_out["Properties"]["StateMachineType"] == "STANDARD"
    assert machine_out["Properties"]["TracingConfiguration"] == {"Enabled": True}
    assert set(machine_out["Properties"]["DefinitionSubstitutions"]) == {
        "ValidateFunctionArn", "SendFunctionArn", "RecordOutcomeFunctionArn", "CompileFunctionArn", "ReportFunctionArn"
    }


def test_cfn_lint_finds_no_error():
    cfn_lint = str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", asl_files(), ids=lambda p: p.name)
def test_asl_validator_accepts_the_state_machine(path):
    result = subprocess.run([node_tool("asl-validator"), "--json-path", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", asl_files(), ids=lambda p: p.name)
def test_statelint_accepts_the_state_machine(path):
    result = subprocess.run([node_tool("statelint"), str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_placeholder_is_bound_and_every_binding_used():
    machine = parsed_template()["Resources"]["BatchStateMachine"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", (ROOT / machine["DefinitionUri"]).read_text()))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_every_wait_for_a_callback_has_a_timeout_and_a_heartbeat():
    def tasks(states: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in states.values():
            found.append(state)
            if "ItemProcessor" in state:
                found.extend(tasks(state["ItemProcessor"]["States"]))
        return found

    for path in asl_files():
        definition = json.loads(path.read_text())
        waits = [s for s in tasks(definition["States"]) if str(s.get("Resource", "")).endswith(".waitForTaskToken")]
        assert waits, path
        for state in waits:
            assert {"TimeoutSeconds", "TimeoutSecondsPath"} & set(state)
            assert {"HeartbeatSeconds", "HeartbeatSecondsPath"} & set(state)


def test_every_handler_in_the_template_is_importable():
    for name, resource in parsed_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module, _, attribute = resource["Properties"]["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute)), name


def test_runtime_requirements_match_the_package():
    """`sam build` installs functions/requirements.txt; it must hold the package's runtime dependencies."""
    import tomllib

    declared = {re.split(r"[<>=\[ ]", d)[0].lower() for d in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    packaged = {re.split(r"[<>=\[ ]", line)[0].lower() for line in (ROOT / "functions" / "requirements.txt")
                .read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert declared - {"boto3"} == packaged, "boto3 ships with the Lambda runtime; everything else must be packaged"
    assert os.path.exists(ROOT / "functions" / "journey_activity" / "py.typed")


def _send_task() -> dict[str, Any]:
    definition = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
    iteration = definition["States"]["Send to each endpoint"]["ItemProcessor"]["States"]
    return iteration["Send and wait for delivery receipt"]


def test_throttling_and_outages_are_retried_with_backoff_and_jitter_and_rejections_never():
    from journey_activity import errors

    retries = {name: retrier for retrier in _send_task()["Retry"] for name in retrier["ErrorEquals"]}
    for name in (errors.ProviderThrottled.__name__, errors.ProviderUnavailable.__name__,
                 "Lambda.ServiceException", "Lambda.TooManyRequestsException"):
        assert retries[name]["BackoffRate"] > 1, name
        assert retries[name]["JitterStrategy"] == "FULL", name
        assert retries[name]["MaxAttempts"] >= 2, name
    assert errors.ProviderRejected.__name__ not in retries
    assert "States.ALL" not in retries
    assert "States.TaskFailed" not in retries


def test_every_error_of_the_sender_ends_in_a_status():
    catchers = _send_task()["Catch"]
    assert [c["ErrorEquals"] for c in catchers] == [["States.ALL"]]
    assert catchers[0]["Next"] == "Record failed delivery"
