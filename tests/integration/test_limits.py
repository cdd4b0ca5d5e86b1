"""Step Functions' limits on the real state machine: every payload within 256 KiB, a history far
below 25,000 events, and no personal data in the execution's input, output or history."""

from __future__ import annotations

import json
import secrets
import zlib
from typing import Any

import pytest

from journey_activity.ledger import Ledger
from journey_activity.models.pinpoint import ChannelType
from journey_activity_local.stack import TABLE_NAME

from .conftest import address_for, endpoint, event_with

pytestmark = pytest.mark.integration

PAYLOAD_LIMIT = 256 * 1024
HISTORY_LIMIT = 25_000


PINPOINT_ENDPOINT_BYTES = 15 * 1024  # Pinpoint's quota: "maximum endpoint size is 15 KB"


def _payload_sizes(events: list[dict]) -> list[int]:
    sizes = []
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                sizes.extend(len(str(details.get(field, "")).encode()) for field in ("input", "output"))
    return sizes


def large_endpoint(index: int) -> tuple[dict[str, Any], list[str]]:
    """An SMS endpoint of Pinpoint's maximum size, and every personal value it holds (its
    address, user id, user and endpoint attribute values), each unique to it."""
    address = f"+1415555{index:04d}"
    first_name = f"Ana{index:02d}q"
    document = endpoint("SMS", address)
    document["User"] = {"UserId": f"user-{index:02d}-7f3a", "UserAttributes": {"FirstName": [first_name]}}
    document["Attributes"] = {}
    values = [address, document["User"]["UserId"], first_name]
    number = 0
    while len(json.dumps(document).encode()) < PINPOINT_ENDPOINT_BYTES - 120:
        value = f"v{index:02d}-{number:04d}-Interest{number * 7919 % 10007:05d}"
        document["Attributes"].setdefault(f"Interest{number // 20:02d}", []).append(value)
        values.append(value)
        number += 1
    return document, values


def large_batch() -> tuple[dict[str, dict[str, Any]], list[str]]:
    endpoints, personal = {}, []
    for index in range(50):
        document, values = large_endpoint(index)
        assert PINPOINT_ENDPOINT_BYTES - 200 < len(json.dumps(document).encode()) <= PINPOINT_ENDPOINT_BYTES
        endpoints[f"ep-{index:02d}"] = document
        personal.extend(values)
    return endpoints, personal


def everything_the_console_shows(local: Any, arn: str) -> str:
    """The execution's input and output and its full history, as one text."""
    described = local.client("stepfunctions").describe_execution(executionArn=arn)
    return json.dumps([described.get("input"), described.get("output"), local.history(arn)], default=str)


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
    # The invoker's deadline stays under its Lambda Timeout (28 s), which is enforced: an endpoint
    # not final by then is answered SENT or PENDING, and every one ends DELIVERED in the ledger.
    local = make_local(behaviours=behaviours, deadline_seconds=15)
    run = invoke(local, event_with(endpoints, data=data))
    assert {run.status(e) for e in endpoints} <= {"DELIVERED", "SENT", "PENDING"}, run.response
    run.finish()
    assert {record["status"] for record in run.ledger().values()} == {"DELIVERED"}

    history = run.history()
    sizes = _payload_sizes(history)
    assert "States.DataLimitExceeded" not in json.dumps(history, default=str)
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


def test_fifty_endpoints_of_15_kb_are_sent_in_full(make_local, invoke):
    """About 750 KB of endpoints: the profiles go through the ledger, the states carry ids."""
    endpoints, _ = large_batch()
    data = "Hi {{User.UserAttributes.FirstName}}, about {{Attributes.Interest00}}"
    local = make_local(deadline_seconds=20)
    event = event_with(endpoints, data=data)
    assert len(json.dumps(event).encode()) > 700_000
    run = invoke(local, event)
    # Answered in time whatever the machine's load; every one ends DELIVERED.
    assert {run.status(e) for e in endpoints} <= {"DELIVERED", "SENT", "PENDING"}, run.response
    output = run.finish()
    assert [r["status"] for r in output["results"]] == ["DELIVERED"] * 50

    sends = {s["endpoint_id"]: s for s in local.provider.sends}
    assert len(local.provider.sends) == 50
    for endpoint_id, document in endpoints.items():
        # Each message was rendered from the endpoint's own full profile and sent to its address.
        assert sends[endpoint_id]["address"] == document["Address"]
        first_name = document["User"]["UserAttributes"]["FirstName"][0]
        interests = ", ".join(document["Attributes"]["Interest00"])
        assert sends[endpoint_id]["message"] == f"Hi {first_name}, about {interests}"
    sizes = _payload_sizes(run.history())
    assert max(sizes) < PAYLOAD_LIMIT / 4, max(sizes)


def test_no_address_or_attribute_value_reaches_the_execution_or_its_history(make_local, invoke):
    """Everything a person with console access can read: input, output and every history event,
    for a run with deliveries, a retry, a rejection, a bounce, an opt-out and a bad address."""
    endpoints, _ = large_batch()
    endpoints = dict(list(endpoints.items())[:12])
    personal = [v for e in endpoints.values() for v in _values_of(e)]
    endpoints["ep-00"]["OptOut"] = "ALL"
    endpoints["ep-01"]["Address"] = "not-a-phone-number-7f3a"
    personal.append("not-a-phone-number-7f3a")
    behaviours = {endpoints["ep-02"]["Address"]: "flaky:1", endpoints["ep-03"]["Address"]: "reject",
                  endpoints["ep-04"]["Address"]: "bounce"}
    local = make_local(behaviours=behaviours, deadline_seconds=20)
    data = "Hi {{User.UserAttributes.FirstName}} ({{User.UserId}}), {{Attributes.Interest00}}"
    run = invoke(local, event_with(endpoints, data=data))
    assert run.status("ep-00") == "SKIPPED"
    assert run.attributes("ep-01")["reason"] == "address_invalid"
    assert run.status("ep-02") == "DELIVERED"
    assert run.status("ep-03") == "FAILED"
    assert run.status("ep-04") == "FAILED"
    run.finish()
    rendered = [s["message"] for s in local.provider.sends]
    assert rendered, "the provider received the messages"

    seen = everything_the_console_shows(local, run.arn)
    assert "Send and wait for delivery receipt" in seen  # the history is really there
    leaked = [value for value in [*personal, *rendered] if value in seen]
    assert leaked == []


def _values_of(document: dict[str, Any]) -> list[str]:
    values = [document["Address"], document["User"]["UserId"], *document["User"]["UserAttributes"]["FirstName"]]
    return values + [v for items in document["Attributes"].values() for v in items]


def test_a_retried_invocation_writes_the_same_recipients_and_sends_once(make_local, invoke):
    endpoints, _ = large_batch()
    endpoints = dict(list(endpoints.items())[:5])
    local = make_local()
    event = event_with(endpoints)
    first = invoke(local, event)
    second = invoke(local, event)
    assert first.response == second.response
    assert {first.status(e) for e in endpoints} == {"DELIVERED"}
    first.finish()
    assert len(local.provider.sends) == 5
    items = local.client("dynamodb").query(
        TableName=TABLE_NAME, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"parts#{first.batch_id}"}})["Items"]
    held = {endpoint_id: int(item["sk"]["S"]) for item in items
            for endpoint_id in json.loads(zlib.decompress(item["data"]["B"]))}
    assert sorted(held) == sorted(endpoints)
    book = Ledger(TABLE_NAME)
    stored = book.recipient(first.batch_id, "ep-03", held["ep-03"])
    assert stored is not None
    assert stored.address == endpoints["ep-03"]["Address"]
    assert stored.profile["Attributes"] == endpoints["ep-03"]["Attributes"]


def test_endpoint_ids_that_would_outgrow_a_state_run_as_several_executions(make_local, invoke):
    """50 ids of 1,000 characters: small input, but one execution's Compile state would pass 256 KiB;
    the batch runs as parts named from it, each within the limit, and is answered whole."""
    endpoints = {f"{index:02d}" + "i" * 998: endpoint("SMS", f"+1415555{index:04d}") for index in range(50)}
    local = make_local()
    run = invoke(local, event_with(endpoints))
    assert list(run.response) == list(endpoints)
    names = local.batch_execution_names(run.batch_id)
    assert sorted(names) == [f"{run.batch_id}-{part}" for part in (1, 2)]
    for name in names:
        described = local.wait_for_execution(local.execution_arn(name))
        assert described["status"] == "SUCCEEDED", described
        sizes = _payload_sizes(local.history(local.execution_arn(name)))
        assert max(sizes) < PAYLOAD_LIMIT, max(sizes)
    assert {record["status"] for record in local.batch_records(run.batch_id).values()} == {"DELIVERED"}
    assert len(local.batch_records(run.batch_id)) == 50


def test_an_endpoint_id_longer_than_a_ledger_key_is_skipped_and_the_rest_sent(make_local, invoke):
    local = make_local()
    long_id = "x" * 1100  # sort keys hold 1,024 bytes
    run = invoke(local, event_with({long_id: endpoint("SMS", "+14155550123"), "fine": endpoint("SMS", "+14155550124")}))
    assert run.status(long_id) == "SKIPPED"
    assert run.attributes(long_id)["reason"] == "invalid_endpoint"
    assert run.status("fine") == "DELIVERED", run.response
    run.finish()
    assert set(run.ledger()) == {"fine"}  # the long id entered no execution and no record


def test_an_endpoint_larger_than_the_ledger_keeps_is_skipped_with_the_reason(make_local, invoke):
    """Random attribute values do not compress: one endpoint of 530 KB cannot be kept."""
    huge = endpoint("SMS", "+14155550123")
    huge["Attributes"] = {"Blob": [secrets.token_urlsafe(400_000)]}
    local = make_local()
    run = invoke(local, event_with({"huge": huge, "fine": endpoint("SMS", "+14155550124")}))
    assert run.status("fine") == "DELIVERED", run.response
    assert run.status("huge") == "SKIPPED"
    assert run.attributes("huge")["reason"] == "invalid_endpoint"
    assert run.ledger()["huge"]["error"].startswith("the endpoint is ")
    run.finish()
