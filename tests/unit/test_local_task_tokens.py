"""The local engine refuses a task token whose task was already resumed, as AWS does
("TaskTimedOut: the task associated with the token has already been closed"); moto 5.2.x accepts
it, and would let a second answer overwrite the first."""

from __future__ import annotations

import pytest
from moto.stepfunctions.parser.api import TaskTimedOut
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeSuccess, CallbackPoolManager

from journey_activity_local.stack import _refuse_resumed_tasks


def _outcome(output: str) -> CallbackOutcomeSuccess:
    return CallbackOutcomeSuccess(callback_id="token-1", output=output)


def test_a_resumed_task_refuses_another_answer_and_a_heartbeat():
    _refuse_resumed_tasks()
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
