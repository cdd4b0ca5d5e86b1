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


def test_a_cold_start_the_invocation_waited_for_counts_in_the_trigger_s_time(waits, monkeypatch):
    """Lambda keeps a cold start's init out of the function's timeout, but Connect's 30 s and
    Pinpoint's 15 s include it: the first invocation of an on-demand environment that began as the
    imports ended counts its deadline from when they began; a warm one, one that found its
    environment ready long before (provisioned, or initialized ahead), or a later one, from the
    handler's start."""
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")

    def cold(loaded_seconds_ago: float, imported_seconds_ago: float) -> None:
        now = time.monotonic()
        monkeypatch.setattr(invoker, "IMPORTS_BEGAN", now - loaded_seconds_ago)
        monkeypatch.setattr(invoker, "_IMPORTED_AT", now - imported_seconds_ago)
        monkeypatch.setattr(invoker, "_cold", True)

    cold(loaded_seconds_ago=4, imported_seconds_ago=0)
    invoker.handler(connect_event(), Context(28_000))  # imports of 4 s: 21 s left of 25
    invoker.handler(connect_event(), Context(28_000))  # warm now
    cold(loaded_seconds_ago=60, imported_seconds_ago=50)  # initialized ahead of the invocation
    invoker.handler(connect_event(), Context(28_000))
    cold(loaded_seconds_ago=60, imported_seconds_ago=0)  # longer than an init: not one
    invoker.handler(connect_event(), Context(28_000))
    cold(loaded_seconds_ago=4, imported_seconds_ago=0)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    invoker.handler(pinpoint_event(), Context(28_000))
    assert waits == [21, 25, 25, 25, 10]
