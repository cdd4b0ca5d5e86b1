"""The Pinpoint custom-channel event, the trigger adapter and the trigger-agnostic batch."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_activity.errors import PayloadError
from journey_activity.models.batch import (
    FINAL_STATUSES,
    Batch,
    EndpointResult,
    LedgerStatus,
    Status,
    journey_status,
)
from journey_activity.models.pinpoint import MAX_ENDPOINTS, PUSH_CHANNELS, ChannelType, PinpointEndpoint
from journey_activity.triggers.pinpoint import batch_id_for, to_batch, to_response

ALL_CHANNELS = [
    "PUSH",
    "GCM",
    "APNS",
    "APNS_SANDBOX",
    "APNS_VOIP",
    "APNS_VOIP_SANDBOX",
    "ADM",
    "SMS",
    "VOICE",
    "EMAIL",
    "BAIDU",
    "CUSTOM",
    "IN_APP",
]

# Step Functions execution names: 1-80 characters, none of whitespace, brackets, wildcards,
# " # % \ ^ | ~ ` $ & , ; : / or control characters. The id is stricter than that.
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def event(**endpoints: Any) -> dict[str, Any]:
    return {"ApplicationId": "app-1", "JourneyId": "journey-1", "Data": "hi", "Endpoints": endpoints}


def recipients_by_id(batch: Batch) -> dict[str, Any]:
    return {r.endpoint_id: r for r in batch.recipients}


def payload_error(payload: Any) -> str:
    with pytest.raises(PayloadError) as caught:
        to_batch(payload)
    message = str(caught.value)
    # One line, no traceback text, no chained pydantic error dragged along.
    assert "\n" not in message
    assert "Traceback" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    return message


# -- the documentation's example ------------------------------------------------------------


def test_docs_example_is_accepted_as_is(load_event):
    payload = load_event("pinpoint_docs_example")
    original = copy.deepcopy(payload)

    batch = to_batch(payload)

    assert payload == original, "parsing must not change the caller's payload"
    assert batch.context.application_id == "3a9b1f4e6c764ba7b031e7183example"
    assert batch.context.campaign_id == "13978104ce5d6017c72552257example"
    assert batch.context.journey_id is None
    assert batch.context.treatment_id == "0"
    assert batch.context.activity_id == "575cb1929d5ba43e87e2478eeexample"
    assert batch.context.scheduled_time == "2020-04-19T00:33:24.609Z"
    assert batch.context.template == payload["Data"]
    assert batch.context.source == "pinpoint"
    assert batch.context.batch_id == batch_id_for(payload)

    assert [r.endpoint_id for r in batch.recipients] == ["EndpointId-1234", "EndpointId-5678"]
    gcm, email = batch.recipients
    assert gcm.channel == "GCM"
    assert gcm.address == "4d5e6f1a2b3c4d5e6f7g8h9i0j1a2b3c"
    assert gcm.invalid is None
    assert gcm.opted_out is False
    assert gcm.active is True
    assert gcm.profile["User"]["UserAttributes"] == {"Interests": ["Music", "Travel"]}
    assert gcm.profile["Attributes"] == {"FirstName": ["Carlos"]}
    assert gcm.profile["Location"]["City"] == "Seattle"
    assert gcm.profile["Demographic"]["Platform"] == "android"
    assert gcm.profile["Id"] == "EndpointId-1234"

    # The EMAIL endpoint has an empty Address: accepted here, skipped later by validation.
    assert email.channel == "EMAIL"
    assert email.address == ""
    assert email.invalid is None
    assert email.profile["User"]["UserId"] == "austin52789"


@pytest.mark.parametrize("channel", ALL_CHANNELS)
def test_every_channel_type_parses(channel):
    batch = to_batch(event(e1={"ChannelType": channel, "Address": "addr"}))

    (recipient,) = batch.recipients
    assert recipient.invalid is None
    assert recipient.channel == channel
    assert recipient.profile["ChannelType"] == channel


def test_channel_type_enum_is_pinpoints_thirteen():
    assert sorted(c.value for c in ChannelType) == sorted(ALL_CHANNELS)
    assert {c.value for c in PUSH_CHANNELS} == {
        "PUSH",
        "GCM",
        "APNS",
        "APNS_SANDBOX",
        "APNS_VOIP",
        "APNS_VOIP_SANDBOX",
        "ADM",
        "BAIDU",
    }


def test_attributes_and_user_attributes_are_maps_of_lists():
    endpoint = PinpointEndpoint.model_validate(
        {
            "ChannelType": "SMS",
            "Attributes": {"CohortId": ["7"], "Hobbies": ["chess", "go"], "Empty": []},
            "User": {"UserId": "u1", "UserAttributes": {"FirstName": ["Ana"], "Tags": ["a", "b", "c"]}},
        }
    )
    assert endpoint.Attributes == {"CohortId": ["7"], "Hobbies": ["chess", "go"], "Empty": []}
    assert endpoint.User is not None
    assert endpoint.User.UserAttributes == {"FirstName": ["Ana"], "Tags": ["a", "b", "c"]}


def test_a_scalar_attribute_makes_that_endpoint_invalid_and_names_the_field():
    batch = to_batch(event(bad={"ChannelType": "SMS", "Attributes": {"City": "Seattle"}}, good={"ChannelType": "SMS"}))
    by_id = recipients_by_id(batch)
    assert by_id["bad"].invalid is not None
    assert "Attributes.City" in by_id["bad"].invalid
    assert by_id["good"].invalid is None


def test_unknown_fields_are_tolerated_at_every_level_and_kept_in_the_profile():
    payload = event(
        e1={
            "ChannelType": "EMAIL",
            "Address": "ana@example.com",
            "NewEndpointField": {"nested": [1, 2]},
            "User": {"UserId": "u1", "UserAttributes": {"FirstName": ["Ana"]}, "NewUserField": "x"},
        }
    )
    payload["NewEventField"] = {"added": "by Pinpoint later"}

    batch = to_batch(payload)

    (recipient,) = batch.recipients
    assert recipient.invalid is None
    assert recipient.profile["NewEndpointField"] == {"nested": [1, 2]}
    assert recipient.profile["User"]["NewUserField"] == "x"
    assert recipient.profile["User"]["UserAttributes"] == {"FirstName": ["Ana"]}
    # The event-level field changes the batch's identity (it is part of the payload).
    without = copy.deepcopy(payload)
    del without["NewEventField"]
    assert batch.context.batch_id != batch_id_for(without)


def test_endpoint_flags():
    batch = to_batch(
        event(
            opted={"ChannelType": "SMS", "Address": "+14155550123", "OptOut": "ALL"},
            inactive={"ChannelType": "SMS", "Address": "+14155550123", "EndpointStatus": "INACTIVE"},
            lower={"ChannelType": "SMS", "Address": "  +14155550123  ", "OptOut": "all", "EndpointStatus": "inactive"},
            plain={"ChannelType": "SMS", "Address": "+14155550123"},
            no_address={"ChannelType": "SMS", "Address": None},
        )
    )
    by_id = recipients_by_id(batch)
    assert (by_id["opted"].opted_out, by_id["opted"].active) == (True, True)
    assert (by_id["inactive"].opted_out, by_id["inactive"].active) == (False, False)
    assert (by_id["lower"].opted_out, by_id["lower"].active) == (True, False)
    assert by_id["lower"].address == "+14155550123"
    assert (by_id["plain"].opted_out, by_id["plain"].active) == (False, True)
    assert by_id["no_address"].address == ""
    assert by_id["no_address"].invalid is None


# -- unusable payloads ----------------------------------------------------------------------


def test_missing_endpoints():
    message = payload_error({"ApplicationId": "app-1"})
    assert message.startswith("Endpoints")
    assert "required" in message


@pytest.mark.parametrize("endpoints", [[], "e1", 3, [{"ChannelType": "SMS"}]])
def test_endpoints_not_an_object(endpoints):
    message = payload_error({"ApplicationId": "app-1", "Endpoints": endpoints})
    assert message.startswith("Endpoints")
    assert "dictionary" in message


def test_empty_endpoints():
    message = payload_error({"ApplicationId": "app-1", "Endpoints": {}})
    assert message.startswith("Endpoints")
    assert "at least 1" in message


def test_more_than_fifty_endpoints():
    too_many = {f"e{i}": {"ChannelType": "SMS"} for i in range(MAX_ENDPOINTS + 1)}
    message = payload_error({"ApplicationId": "app-1", "Endpoints": too_many})
    assert message.startswith("Endpoints")
    assert "50" in message
    assert "51" in message


def test_fifty_endpoints_are_fine():
    batch = to_batch(event(**{f"e{i}": {"ChannelType": "SMS"} for i in range(MAX_ENDPOINTS)}))
    assert len(batch.recipients) == MAX_ENDPOINTS


@pytest.mark.parametrize("application_id", [None, "", 42])
def test_missing_or_bad_application_id(application_id):
    payload: dict[str, Any] = {"Endpoints": {"e1": {"ChannelType": "SMS"}}}
    if application_id is not None:
        payload["ApplicationId"] = application_id
    message = payload_error(payload)
    assert message.startswith("ApplicationId")


def test_several_problems_are_named_on_one_line():
    message = payload_error({"Endpoints": "nope"})
    assert "ApplicationId" in message
    assert "Endpoints" in message


@pytest.mark.parametrize(
    ("payload", "type_name"),
    [([{"ApplicationId": "a"}], "list"), ("{}", "str"), (None, "NoneType"), (7, "int")],
)
def test_payload_not_an_object(payload, type_name):
    message = payload_error(payload)
    assert "object" in message
    assert type_name in message


# -- one bad endpoint does not fail the batch ------------------------------------------------


def test_bad_channel_type_marks_only_that_endpoint_invalid():
    batch = to_batch(
        event(
            fax={"ChannelType": "FAX", "Address": "+14155550123"},
            sms={"ChannelType": "SMS", "Address": "+14155550123"},
        )
    )
    by_id = recipients_by_id(batch)
    assert by_id["fax"].invalid is not None
    assert "ChannelType" in by_id["fax"].invalid
    assert "\n" not in by_id["fax"].invalid
    assert by_id["fax"].channel == "FAX"
    assert by_id["fax"].address == "+14155550123"
    assert by_id["sms"].invalid is None
    assert by_id["sms"].channel == "SMS"


def test_missing_channel_type_marks_only_that_endpoint_invalid():
    batch = to_batch(event(none={"Address": "x"}, ok={"ChannelType": "CUSTOM", "Address": "x"}))
    by_id = recipients_by_id(batch)
    assert "ChannelType" in (by_id["none"].invalid or "")
    assert by_id["none"].channel == "UNKNOWN"
    assert by_id["ok"].invalid is None


@pytest.mark.parametrize("raw", ["just a string", 42, None, ["SMS"]])
def test_non_object_endpoint_marks_only_that_endpoint_invalid(raw):
    batch = to_batch(event(odd=raw, sms={"ChannelType": "SMS", "Address": "+14155550123"}))
    by_id = recipients_by_id(batch)
    assert [r.endpoint_id for r in batch.recipients] == ["odd", "sms"]
    assert by_id["odd"].invalid is not None
    assert "not an object" in by_id["odd"].invalid
    assert by_id["odd"].channel == "UNKNOWN"
    assert by_id["sms"].invalid is None


# -- batch ids -------------------------------------------------------------------------------


def test_batch_id_is_deterministic_and_ignores_key_order(load_event):
    payload = load_event("pinpoint_docs_example")
    reordered = dict(reversed(list(payload.items())))
    reordered["Endpoints"] = {
        key: dict(reversed(list(value.items()))) for key, value in reversed(list(payload["Endpoints"].items()))
    }
    assert list(reordered) != list(payload)

    assert batch_id_for(payload) == batch_id_for(copy.deepcopy(payload))
    assert batch_id_for(payload) == batch_id_for(reordered)
    assert to_batch(payload).context.batch_id == to_batch(reordered).context.batch_id


def test_batch_id_differs_for_different_payloads(load_event):
    payload = load_event("pinpoint_docs_example")
    other = copy.deepcopy(payload)
    other["Endpoints"]["EndpointId-5678"]["Address"] = "alejandro@example.com"
    another = copy.deepcopy(payload)
    another["ScheduledTime"] = "2020-04-19T00:33:25.609Z"
    ids = {batch_id_for(payload), batch_id_for(other), batch_id_for(another)}
    assert len(ids) == 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=6), st.dictionaries(st.text(), json_values, max_size=6))
def test_batch_id_is_a_valid_execution_name_and_separates_payloads(first, second):
    first_id, second_id = batch_id_for(first), batch_id_for(second)
    for batch_id in (first_id, second_id):
        assert EXECUTION_NAME.fullmatch(batch_id), batch_id
        assert len(batch_id) <= 80
    if json.dumps(first, sort_keys=True) != json.dumps(second, sort_keys=True):
        assert first_id != second_id


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_batch_id_does_not_depend_on_key_order(payload):
    assert batch_id_for(payload) == batch_id_for(dict(reversed(list(payload.items()))))


# -- the response and results -----------------------------------------------------------------


def test_to_response_shape():
    attributes = {"e1": {"status": "DELIVERED", "channel": "SMS"}, "e2": {}}
    response = to_response(attributes)
    assert response == {
        "e1": {"EventAttributes": {"status": "DELIVERED", "channel": "SMS"}},
        "e2": {"EventAttributes": {}},
    }
    # A copy: changing the response does not change the input.
    response["e1"]["EventAttributes"]["status"] = "x"
    assert attributes["e1"]["status"] == "DELIVERED"


@pytest.mark.parametrize(
    ("ledger", "journey"),
    [
        ("SENDING", Status.PENDING),
        ("SENT", Status.SENT),
        (None, Status.PENDING),
        ("PENDING", Status.PENDING),
        ("something new", Status.PENDING),
        ("DELIVERED", Status.DELIVERED),
        ("FAILED", Status.FAILED),
        ("SKIPPED", Status.SKIPPED),
        ("TIMED_OUT", Status.TIMED_OUT),
        (LedgerStatus.SENT, Status.SENT),
        (LedgerStatus.DELIVERED, Status.DELIVERED),
    ],
)
def test_journey_status(ledger, journey):
    assert journey_status(ledger) is journey


def test_final_statuses_are_unchanged_for_the_journey():
    for status in FINAL_STATUSES:
        assert journey_status(status).value == status.value


def test_endpoint_result_view():
    result = EndpointResult(
        endpoint_id="e1",
        channel="SMS",
        status=LedgerStatus.SENT,
        provider="http",
        provider_message_id="m-1",
        attempts=2,
        unknown_field="ignored",
    )
    view = result.view()
    assert view == {
        "endpoint_id": "e1",
        "channel": "SMS",
        "status": "SENT",
        "provider": "http",
        "provider_message_id": "m-1",
        "attempts": 2,
    }
    assert result.journey_status is Status.SENT

    delivered = EndpointResult(endpoint_id="e2", channel="EMAIL", status="DELIVERED", reason=None)
    assert delivered.view()["status"] == "DELIVERED"
    assert "reason" not in delivered.view()
