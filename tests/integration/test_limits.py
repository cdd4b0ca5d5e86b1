"""Execution history stays small: large Data travels by reference, retries add few events."""

from __future__ import annotations

import json

import pytest

from journey_activity.models.pinpoint import ChannelType

from .conftest import address_for, endpoint, event_with

pytestmark = pytest.mark.integration

PAYLOAD_LIMIT = 256 * 1024
HISTORY_LIMIT = 25_000


def _payload_sizes(events: list[dict]) -> list[int]:
    sizes = []
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                sizes.extend(len(str(details.get(field, "")).encode()) for field in ("input", "output"))
    return sizes


def test_a_worst_case_batch_stays_far_below_the_history_and_payload_limits(make_local, invoke):
    channels = list(ChannelType)
    endpoints = {}
    behaviours = {}
    for index in range(50):
        channel = channels[index % len(channels)]
        address = address_for(channel, index)
        endpoints[f"ep-{index:02d}"] = endpoint(channel.value, address)
        if index % 5 == 0:
            behaviours[address] = "flaky:2"  # two retries each for ten endpoints
    # About 300 KB of Data: more than Step Functions could carry through every state.
    data = json.dumps({"body": "Hello {{User.UserAttributes.FirstName}}! " + "x" * 300_000})
    # The invoker's deadline stays under its Lambda Timeout (20 s), which is enforced: an endpoint
    # not final by then is answered PENDING, and every one ends DELIVERED in the ledger.
    local = make_local(behaviours=behaviours, deadline_seconds=15)
    run = invoke(local, event_with(endpoints, data=data))
    assert {run.status(e) for e in endpoints} <= {"DELIVERED", "PENDING"}, run.response
    run.finish()
    assert {record["status"] for record in run.ledger().values()} == {"DELIVERED"}

    history = run.history()
    sizes = _payload_sizes(history)
    assert len(history) < HISTORY_LIMIT / 20, len(history)
    assert max(sizes) < PAYLOAD_LIMIT / 4, max(sizes)
    # The message itself was rendered in full for every endpoint.
    sends = local.provider.sends
    assert len(sends) == 50
    assert all(s["message"]["body"].startswith("Hello Ana! xxx") and len(s["message"]["body"]) > 300_000
               for s in sends)


def test_data_too_large_even_for_the_ledger_gets_a_clear_error(make_local):
    local = make_local()
    answer = local.invoke(event_with({"a": endpoint("SMS", "+14155550123")}, data="x" * 400_000))
    assert answer["error"]["type"] == "PayloadError"
    assert "Data is 400000 bytes" in answer["error"]["message"]
    assert local.executions() == []


def test_an_endpoint_id_equal_to_the_template_key_is_answered_with_large_data(make_local, invoke):
    """Endpoint ids are any strings: one named like the large template's key keeps its own record."""
    data = "Hi {{User.UserAttributes.FirstName}} " + "y" * 20_000
    local = make_local()
    run = invoke(local, event_with({"#template": endpoint("SMS", "+14155550123"),
                                    "plain": endpoint("SMS", "+14155550124")}, data=data))
    assert run.status("#template") == "DELIVERED", run.response
    assert run.status("plain") == "DELIVERED"
    assert all(isinstance(s["message"], str) and len(s["message"]) > 20_000 for s in local.provider.sends)
    run.finish()  # the execution ends (and reports) before the environment closes
