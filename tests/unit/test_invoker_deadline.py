"""The invoker's deadline per trigger: Amazon Connect documents that an answer later than 30 s fails
the action (the invoker waits 25 s by default); Pinpoint's journey waits about 15 s (10 s). The
function's remaining time caps both, leaving a second to answer."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from journey_activity import config, dispatch
from journey_activity.handlers import invoker


@dataclass(frozen=True)
class Context:
    remaining_ms: int
    function_name: str = "invoker"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:invoker"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds from the handler's start to the deadline it waits until (nothing is started)."""
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:batch")
    monkeypatch.setenv("CONNECT_ACTIONS", json.dumps({"*": {"channel": "SMS"}}))
    for name in ("INVOKER_DEADLINE_SECONDS", "CONNECT_DEADLINE_SECONDS", "PINPOINT_DEADLINE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    config.reset_settings_cache()
    seen: list[float] = []

    def wait(book: Any, runs: Any, deadline: float, **_: Any) -> dispatch.Waited:
        seen.append(round(deadline - time.monotonic()))
        return dispatch.Waited({}, 0)

    monkeypatch.setattr(dispatch, "start_parts", lambda batch, settings, deadline, **_: dispatch.Started())
    monkeypatch.setattr(dispatch, "wait_for_parts", wait)
    yield seen
    config.reset_settings_cache()


def connect_event() -> dict[str, Any]:
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c", "RunId": "r", "ActionId": "a"}},
            "Items": {"CustomerProfiles": [{"ProfileId": "p", "CustomerData": "{}", "IdempotencyToken": "t"}]}}


def pinpoint_event() -> dict[str, Any]:
    return {"ApplicationId": "app", "JourneyId": "j", "Data": "Hi",
            "Endpoints": {"e": {"ChannelType": "SMS", "Address": "+14155550123"}}}


def test_connect_waits_25_seconds_and_pinpoint_10(waits):
    invoker.handler(connect_event(), Context(28_000))
    invoker.handler(pinpoint_event(), Context(28_000))
    assert waits == [25, 10]


def test_each_trigger_s_deadline_is_configurable_and_the_function_s_time_caps_it(waits, monkeypatch):
    monkeypatch.setenv("CONNECT_DEADLINE_SECONDS", "20")
    monkeypatch.setenv("PINPOINT_DEADLINE_SECONDS", "12")
    config.reset_settings_cache()
    invoker.handler(connect_event(), Context(28_000))
    invoker.handler(pinpoint_event(), Context(28_000))
    invoker.handler(connect_event(), Context(9_000))  # a second to answer before the function times out
    assert waits == [20, 12, 8]
