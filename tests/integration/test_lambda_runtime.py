"""Lambda's execution model on the real state machine, and ``journey-activity serve`` driven from
another process with plain boto3 (and the AWS CLI when it is installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from .conftest import endpoint, event_with

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "journey-batch.json"
# Guards against a hang only; how fast serve stops is measured, not asserted.
STOP_WAIT_SECONDS = 60


def _template_with_send_timeout(directory: Path, seconds: int, function: str = "SmsVoiceSendFunction") -> Path:
    """The real template and ASL, with only one sender's Lambda Timeout changed (SMS's, by default)."""
    text = (ROOT / "template.yaml").read_text()
    start = text.index(f"\n  {function}:\n")
    end = re.compile(r"\n  [A-Za-z]").search(text, start + 1)
    block = text[start:end.start() if end else len(text)]
    handler = "      Handler: journey_activity.handlers.send.handler\n"
    assert handler in block
    changed = re.sub(r"\n      Timeout: .*", "", block).replace(handler, f"{handler}      Timeout: {seconds}\n")
    text = text.replace(block, changed)
    (directory / "template.yaml").write_text(text)
    shutil.copytree(ROOT / "statemachines", directory / "statemachines")
    return directory / "template.yaml"


def _stall_the_ledger_write(seconds: float) -> None:
    """A worker initializer: the sender's first ledger write hangs (a handler stuck on a call
    that never answers; the provider call itself is bounded by the invocation's remaining time)."""
    import time

    from journey_activity.ledger import Ledger

    begin_send = Ledger.begin_send

    def stalled(self, *args, **kwargs):
        time.sleep(seconds)
        return begin_send(self, *args, **kwargs)

    Ledger.begin_send = stalled


def test_a_sender_past_its_timeout_fails_the_task_with_lambdas_error_name(make_local, invoke, tmp_path):
    """The sender hangs for 5 s and its Timeout is 1 s: its environment is killed, and Step
    Functions sees ``Sandbox.Timedout`` as from AWS Lambda, which the ASL's Catch turns into the
    endpoint's failure; the execution itself succeeds."""
    local = make_local(template=_template_with_send_timeout(tmp_path, 1), deadline_seconds=1,
                       worker_initializers=[(_stall_the_ledger_write, (5.0,))])
    run = invoke(local, event_with({"slow": endpoint("SMS", "+14155550123")}))
    described = local.wait_for_execution(run.arn, timeout=60)
    assert described["status"] == "SUCCEEDED", described
    failures = [event["taskFailedEventDetails"] for event in run.history() if event["type"] == "TaskFailed"]
    assert failures, "the sender's timeout never reached the state machine"
    assert failures[0]["error"] == "Sandbox.Timedout"
    cause = json.loads(failures[0]["cause"])
    assert cause["errorType"] == "Sandbox.Timedout"
    assert cause["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert local.registry.summary()["SmsVoiceSendFunction"]["timeouts"] >= 1


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "journey_activity_local.cli", "serve", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _stop(process: subprocess.Popen[str], signal_number: int) -> str:
    process.send_signal(signal_number)
    try:
        _, stderr = process.communicate(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, stderr
    return stderr


def test_serve_answers_the_lambda_invoke_api_until_sigterm(tmp_path):
    # The invoker waits up to 15 s (its Lambda Timeout is 20 s): room for cold starts on a loaded machine.
    process = _serve("--deadline", "15", "--receipt-delay", "0.05")
    try:
        assert process.stdout is not None
        served = json.loads(process.stdout.readline())
        assert {"lambda_endpoint", "invoker_function", "receipts_url", "providers", "aws_endpoint"} <= set(served)
        assert served["providers"]["http"]["url"].startswith("http://127.0.0.1:")
        assert served["providers"]["http"]["credentials"]["signing_secret"]

        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        client = boto3.client("lambda", endpoint_url=served["lambda_endpoint"], **credentials,
                              config=Config(read_timeout=120, retries={"max_attempts": 0}))
        event = json.loads(EXAMPLE.read_text())
        response = client.invoke(FunctionName=served["invoker_function"], Payload=json.dumps(event).encode())
        assert "FunctionError" not in response
        answer = json.loads(response["Payload"].read())
        assert list(answer) == list(event["Endpoints"])
        assert answer["sms-maria"]["EventAttributes"]["status"] == "DELIVERED"
        assert answer["sms-badnumber"]["EventAttributes"]["reason"] == "address_invalid"

        # The same stack's AWS, reached as the functions reach it.
        sfn = boto3.client("stepfunctions", endpoint_url=served["aws_endpoint"], **credentials)
        assert sfn.list_executions(stateMachineArn=served["state_machine_arn"])["executions"]
        # The ledger, in its own process, as the functions reach it (AWS_ENDPOINT_URL_DYNAMODB).
        dynamodb = boto3.client("dynamodb", endpoint_url=served["dynamodb_endpoint"], **credentials)
        records = dynamodb.query(TableName=served["ledger_table"], KeyConditionExpression="pk = :pk",
                                 ExpressionAttributeValues={":pk": {"S": sfn.list_executions(
                                     stateMachineArn=served["state_machine_arn"])["executions"][0]["name"]}})
        assert {item["sk"]["S"] for item in records["Items"]} == set(event["Endpoints"])

        aws_cli = shutil.which("aws")
        if aws_cli:  # the AWS CLI, as a person would call it
            out = tmp_path / "out.json"
            (tmp_path / "event.json").write_text(json.dumps(event))
            cli = subprocess.run(
                [aws_cli, "lambda", "invoke", "--endpoint-url", served["lambda_endpoint"], "--region", "us-east-1",
                 "--function-name", served["invoker_function"], "--payload", f"file://{tmp_path / 'event.json'}",
                 str(out)],
                capture_output=True, text=True, timeout=120,
                env={**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
            assert cli.returncode == 0, cli.stderr
            assert json.loads(cli.stdout)["StatusCode"] == 200
            assert json.loads(out.read_text()) == answer  # the retry of a known batch: same answer
    finally:
        if process.poll() is None:
            stderr = _stop(process, signal.SIGTERM)
    assert "stopping" in stderr
    assert "cold starts" in stderr


def test_serve_stops_cleanly_on_sigint():
    process = _serve()
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["invoker_function"] == "InvokerFunction"
    assert "stopping" in _stop(process, signal.SIGINT)
