"""A throttled resume on the real state machine: the callback's SendTaskSuccess fails with
ThrottlingException on every attempt the callback makes itself, the callback function leaves the
message on the callback queue (batchItemFailures), the queue delivers it again after its
visibility timeout, and that redelivery resumes the waiting task (it does not wait out its
heartbeat). The template's visibility timeout (180 s) is shortened to 2 s for the test."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from tests.lint.test_template import ROOT

from .conftest import endpoint, event_with

pytestmark = pytest.mark.integration


def _throttle_once(marker: str, **_: Any) -> Any:
    """The first APPLY_ATTEMPTS SendTaskSuccess calls of the run (one receipt's, as the callback
    applies it again), in whichever execution environment makes them, fail as botocore reports a
    throttled call once its own retries ran out; marker files count them (environments are
    separate processes)."""
    from journey_activity.receipts import APPLY_ATTEMPTS

    for attempt in range(APPLY_ATTEMPTS):
        try:
            os.close(os.open(f"{marker}.{attempt}", os.O_CREAT | os.O_EXCL))
            break
        except FileExistsError:
            continue
    else:
        return None
    return (AWSResponse("https://states.invalid", 400, {}, None),
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
             "ResponseMetadata": {"HTTPStatusCode": 400}})


def _throttle_the_first_resume(marker: str) -> None:
    """A worker initializer: every Step Functions client the functions make gets the hook."""
    from journey_activity import aws

    make = aws.client

    def client(service: str) -> Any:
        made = make(service)
        if service == "stepfunctions" and not getattr(made, "_throttle_first_resume", False):
            made.meta.events.register("before-call.states.SendTaskSuccess", functools.partial(_throttle_once, marker))
            made._throttle_first_resume = True
        return made

    aws.client = client  # type: ignore[assignment]


def template_with_callback_visibility(directory: Path, seconds: int) -> Path:
    """template.yaml with the callback queue's visibility timeout changed, beside what it names."""
    text, count = re.subn(r"(  CallbackQueue:\n(?:    .*\n|      .*\n|\s*#.*\n)*?      VisibilityTimeout: )\d+",
                          rf"\g<1>{seconds}", (ROOT / "template.yaml").read_text())
    assert count == 1
    directory.mkdir()
    for linked in ("statemachines", "functions"):
        (directory / linked).symlink_to(ROOT / linked)
    (directory / "template.yaml").write_text(text)
    return directory / "template.yaml"


def test_the_queues_redelivery_of_a_receipt_resumes_a_task_whose_resume_was_throttled(make_local, invoke, tmp_path):
    marker = tmp_path / "throttled"
    template = template_with_callback_visibility(tmp_path / "template", 2)
    # The heartbeat is far beyond the test: only a resume ends the task.
    local = make_local(template=template, receipt_timeout_seconds=600, receipt_heartbeat_seconds=300,
                       worker_initializers=[(_throttle_the_first_resume, (str(marker),))])
    run = invoke(local, event_with({"ep": endpoint("SMS", "+14155550123")}))
    run.finish(timeout=120)  # SUCCEEDED, long before the heartbeat

    assert Path(f"{marker}.0").exists(), "the first resume was not throttled"
    types = [event["type"] for event in run.history()]
    assert "TaskSucceeded" in types
    assert "TaskTimedOut" not in types
    [receipt] = [r for r in local.provider.receipts if r["status"] == "delivered"]
    assert receipt["outcomes"] == [200]  # the API queued it once
    assert local.callback_poller.left == 1  # the throttled delivery, left for the queue's redelivery
    record = run.ledger()["ep"]
    assert record["status"] == "DELIVERED"
    assert len(local.provider.sends) == 1
