"""Fixtures that run the real state machine with the real handlers on the embedded engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from journey_activity.models.pinpoint import ChannelType
from journey_activity.triggers.pinpoint import batch_id_for
from journey_activity_local.stack import LocalEnvironment, LocalOptions

EVENTS = Path(__file__).resolve().parents[1] / "events"

VALID_ADDRESS = {
    ChannelType.EMAIL: "someone@example.com",
    ChannelType.SMS: "+14155550123",
    ChannelType.VOICE: "+442071838750",
    ChannelType.CUSTOM: "https://hooks.example.com/user/7",
    ChannelType.IN_APP: "in-app-user-7",
}


def endpoint(channel: str, address: str, **fields: Any) -> dict[str, Any]:
    return {
        "ChannelType": channel,
        "Address": address,
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "Attributes": {"CohortId": ["cohort-3"]},
        "User": {"UserId": f"user-{address[-4:]}", "UserAttributes": {"FirstName": ["Ana"]}},
        **fields,
    }


def event_with(endpoints: dict[str, dict[str, Any]], data: str = "Hi {{User.UserAttributes.FirstName|there}}",
               **fields: Any) -> dict[str, Any]:
    return {
        "Message": {},
        "Data": data,
        "ApplicationId": "app-integration",
        "JourneyId": "journey-1",
        "ActivityId": "activity-1",
        "TreatmentId": "0",
        "ScheduledTime": "2026-11-23T09:00:00.000Z",
        "Endpoints": endpoints,
        **fields,
    }


def address_for(channel: ChannelType, index: int = 0) -> str:
    """A valid address for the channel, different for each index."""
    if index == 0 and channel in VALID_ADDRESS:
        return VALID_ADDRESS[channel]
    if channel in (ChannelType.SMS, ChannelType.VOICE):
        return f"+1415555{index:04d}"
    if channel == ChannelType.EMAIL:
        return f"user{index}@example.com"
    if channel == ChannelType.CUSTOM:
        return f"https://hooks.example.com/user/{index}"
    return f"device-token-{channel.value.lower()}-{index:04d}"


class Run:
    """One invocation and everything needed to check it."""

    def __init__(self, local: LocalEnvironment, event: dict[str, Any], response: Any) -> None:
        self.local, self.event, self.response = local, event, response
        self.batch_id = batch_id_for(event)
        self.arn = local.execution_arn(self.batch_id)

    def status(self, endpoint_id: str) -> str:
        return str(self.response[endpoint_id]["EventAttributes"]["status"])

    def attributes(self, endpoint_id: str) -> dict[str, str]:
        return dict(self.response[endpoint_id]["EventAttributes"])

    def finish(self, timeout: float = 60) -> dict[str, Any]:
        described = self.local.wait_for_execution(self.arn, timeout=timeout)
        assert described["status"] == "SUCCEEDED", described
        return json.loads(described["output"])

    def ledger(self) -> dict[str, dict[str, Any]]:
        return self.local.ledger_records(self.batch_id)

    def history(self) -> list[dict[str, Any]]:
        return self.local.history(self.arn)


@pytest.fixture
def make_local() -> Iterator[Callable[..., LocalEnvironment]]:
    """``local = make_local(behaviours={...}, receipt_heartbeat_seconds=2, ...)``"""
    with ExitStack() as stack:

        def factory(**options: Any) -> LocalEnvironment:
            options.setdefault("receipt_delay", 0.05)
            options.setdefault("receipt_timeout_seconds", 20)
            options.setdefault("receipt_heartbeat_seconds", 10)
            # The product's default, half the invoker's 20 s Lambda Timeout (enforced): room for
            # every function's cold start; it answers as soon as every endpoint is final.
            options.setdefault("deadline_seconds", 10)
            return stack.enter_context(LocalEnvironment(LocalOptions(**options)))

        yield factory


@pytest.fixture
def invoke() -> Callable[[LocalEnvironment, dict[str, Any]], Run]:
    def run(local: LocalEnvironment, event: dict[str, Any]) -> Run:
        return Run(local, event, local.invoke(copy.deepcopy(event)))

    return run


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def reported(local: LocalEnvironment) -> set[tuple[str, str]]:
    """(endpoint id, ``<source>.<detail-type>``) of every engagement event the local EventBridge
    routed (the default sink)."""
    return {(e["detail"]["endpoint_id"], f"{e['source']}.{e['detail-type']}") for e in local.event_bus.events()}
