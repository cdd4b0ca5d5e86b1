"""Task tokens on the local engine as on AWS.

- A task token whose task was already resumed is refused ("TaskTimedOut: the task associated with
  the token has already been closed"); moto 5.2.x accepts it, and would let a second answer
  overwrite the first.
- A callback that arrives before the interpreter has set up the task's heartbeat wait (a fast
  receipt) resumes the task; moto 5.2.x misses it and waits out the heartbeat.
- A task whose heartbeat passed fails with States.HeartbeatTimeout, as on AWS; moto 5.2.x names
  it States.Timeout.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.api import TaskTimedOut
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeSuccess,
    CallbackPoolManager,
)

from journey_activity_local.engine.stepfunctions_patches import deliver_early_callbacks, refuse_resumed_tasks


def _outcome(output: str) -> CallbackOutcomeSuccess:
    return CallbackOutcomeSuccess(callback_id="token-1", output=output)


def test_a_resumed_task_refuses_another_answer_and_a_heartbeat():
    refuse_resumed_tasks()
    pool = CallbackPoolManager(activity_store={})
    endpoint = pool.add("token-1")
    assert pool.heartbeat("token-1") is False  # no heartbeat wait set up: moto's own answer
    assert pool.notify("token-1", _outcome('{"first": true}'))
    for call in (lambda: pool.notify("token-1", _outcome('{"second": true}')), lambda: pool.heartbeat("token-1")):
        with pytest.raises(TaskTimedOut, match="does not exist anymore") as refused:
            call()
        # The code the SDK reads: moto <= 5.2.5 keeps it in error_type (code is the HTTP status), 5.2.6 in code.
        assert (getattr(refused.value, "error_type", None) or refused.value.code) == "TaskTimedOut"
    assert endpoint.get_outcome().output == '{"first": true}'  # the first answer stands
    assert pool.notify("unknown", _outcome("{}")) is False  # -> InvalidToken, as before


HEARTBEAT_SECONDS = 3


def _late_heartbeat_wait(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """moto's own heartbeat set-up, held until the returned event is set: the callback is then
    certain to arrive first, as a fast receipt does while the sender is still running."""
    moto_own = inspect.unwrap(CallbackEndpoint.setup_heartbeat_endpoint)
    callback_sent = threading.Event()

    def held(self: Any, heartbeat_seconds: int) -> Any:
        callback_sent.wait(timeout=10)
        return moto_own(self, heartbeat_seconds)

    monkeypatch.setattr(CallbackEndpoint, "setup_heartbeat_endpoint", held)
    return callback_sent


def _waiting_machine(heartbeat_seconds: int) -> tuple[Any, str, Any, str]:
    """(sqs, queue url, stepfunctions, machine arn): one task that sends its token to the queue and
    waits (HeartbeatSeconds ``heartbeat_seconds``, TimeoutSeconds 60). Inside mock_aws."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="tokens")["QueueUrl"]
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    wait = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": heartbeat_seconds, "TimeoutSeconds": 60, "End": True}
    arn = sfn.create_state_machine(name="m", roleArn="arn:aws:iam::123456789012:role/r",
                                   definition=json.dumps({"StartAt": "Wait", "States": {"Wait": wait}}))[
        "stateMachineArn"]
    return sqs, queue_url, sfn, arn


def _resume_before_the_heartbeat_wait(callback_sent: threading.Event) -> tuple[str, float]:
    """One waiting task, resumed as soon as its token is out: its execution's status and seconds."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs, queue_url, sfn, arn = _waiting_machine(HEARTBEAT_SECONDS)
        started = time.monotonic()
        execution = sfn.start_execution(stateMachineArn=arn, name="fast", input="{}")["executionArn"]
        messages: list[dict[str, Any]] = []
        while not messages:
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        sfn.send_task_success(taskToken=json.loads(messages[0]["Body"])["token"], output='{"delivered": true}')
        callback_sent.set()
        while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
            assert time.monotonic() - started < 30, "the execution neither resumed nor timed out"
            time.sleep(0.05)
        return status, time.monotonic() - started


def test_moto_alone_misses_a_callback_that_comes_before_the_heartbeat_wait(monkeypatch):
    # The race, reproduced deterministically: without the engine's fix the resumed task waits out
    # its heartbeat and fails, though its answer arrived (a delivered endpoint would end TIMED_OUT).
    callback_sent = _late_heartbeat_wait(monkeypatch)
    status, seconds = _resume_before_the_heartbeat_wait(callback_sent)
    assert status == "FAILED"
    assert seconds >= HEARTBEAT_SECONDS


def test_a_callback_before_the_heartbeat_wait_resumes_the_task(monkeypatch):
    callback_sent = _late_heartbeat_wait(monkeypatch)
    deliver_early_callbacks()  # the engine's fix, around the held set-up
    status, _ = _resume_before_the_heartbeat_wait(callback_sent)
    assert status == "SUCCEEDED"


def test_a_callback_while_another_execution_is_starting_is_answered_as_aws_answers():
    """moto 5.2.x asks every running execution's environment for the token; one that has just
    started has none yet, and the call failed with a 500 (AttributeError) for any token. Held here
    at that moment: an execution whose worker has no environment."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from journey_activity_local.engine.stepfunctions_patches import skip_starting_executions

    skip_starting_executions()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
        machine = sfn.create_state_machine(name="m", definition=json.dumps(definition),
                                           roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, name="starting")["executionArn"]
        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        execution = next(e for sm in backend.state_machines for e in sm.executions if e.execution_arn == arn)
        original = execution.exec_worker
        execution.exec_worker = type("Starting", (), {"env": None})()  # its thread has not set it up yet
        try:
            for call in (lambda: sfn.send_task_success(taskToken="unknown", output="{}"),
                         lambda: sfn.send_task_failure(taskToken="unknown"),
                         lambda: sfn.send_task_heartbeat(taskToken="unknown")):
                with pytest.raises(sfn.exceptions.InvalidToken):
                    call()
        finally:
            execution.exec_worker = original
            sfn.stop_execution(executionArn=arn)


def _silent_task_error() -> str:
    """The error of a waiting task that gets no callback and no heartbeat (HeartbeatSeconds 1 of 60)."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        _, _, sfn, arn = _waiting_machine(1)
        execution = sfn.start_execution(stateMachineArn=arn, name="silent", input="{}")["executionArn"]
        started = time.monotonic()
        while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
            assert time.monotonic() - started < 30, "the heartbeat never expired"
            time.sleep(0.05)
        events = sfn.get_execution_history(executionArn=execution)["events"]
        return next(e["taskTimedOutEventDetails"]["error"] for e in events if e["type"] == "TaskTimedOut")


def test_moto_alone_names_a_heartbeat_timeout_states_timeout(monkeypatch):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

    monkeypatch.setattr(StateTask, "_from_error", inspect.unwrap(StateTask._from_error))
    assert _silent_task_error() == "States.Timeout"


def test_a_heartbeat_timeout_is_named_as_aws_names_it():
    from journey_activity_local.engine.stepfunctions_patches import name_heartbeat_timeouts

    name_heartbeat_timeouts()
    assert _silent_task_error() == "States.HeartbeatTimeout"
