"""Property tests of the REAL invoker handler against arbitrary Amazon Connect custom-action payloads.

Whatever a journey's custom action (or anything shaped like one) sends, the invoker either raises a
:class:`PayloadError` with a one-line message (an envelope Connect's but unusable: Connect documents
that a raised error fails every profile, and Lambda's Errors metric shows it), or answers
``{"Items": {"CustomerProfiles": [...]}}`` holding every readable ``ProfileId`` exactly once, in
input order, each ``ResultData`` a JSON object within Connect's 32 KB. Only an event that has the
keys of both triggers gets ``{"error": …}`` (no trigger can be told).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from journey_activity.errors import PayloadError
from journey_activity.handlers import invoker
from journey_activity.triggers.connect import MAX_PROFILE_ANSWER_BYTES
from tests.property import strategies
from tests.property.conftest import Stack, _reset_caches
from tests.property.strategies import EXAMPLES, PROPERTY, any_char, any_text

STATUSES = {"DELIVERED", "FAILED", "SKIPPED", "TIMED_OUT", "SENT", "PENDING"}
ACTIONS = {"Send SMS": {"channel": "SMS", "message": "Hi {{Profile.firstName|there}} {{Attributes.Customer.City}}"},
           "Email": {"channel": "EMAIL", "address": ["attributes.workEmail", "emailAddress"]}}
RUNS: Counter[str] = Counter()

json_values = strategies.json_values(max_size=4, max_leaves=8)
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
# A small pool, so profiles repeat within a payload and across payloads (Connect's regrouped retries).
pooled_ids = st.sampled_from([f"{n:032x}" for n in range(6)])
profile_ids = (pooled_ids | hex32 | any_text | json_values
               | st.sampled_from(["", "\ud800", "x" * 1500, "\U0001f600" * 300]))
tokens = st.sampled_from([f"{n:064x}" for n in range(6)]) | hex64 | any_text | json_values

PROFILE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "firstName": any_text, "lastName": any_text,
    "emailAddress": st.sampled_from(["a@example.com", "not-an-email", ""]) | any_text,
    "mobilePhoneNumber": st.sampled_from(["+14155550123", "555-0100", " +14155550124 "]) | any_text | json_values,
    "phoneNumber": any_text, "homePhoneNumber": any_text,
    "address": st.dictionaries(st.sampled_from(["city", "postalCode", "country", "address1"]) | any_text,
                               any_text | json_values, max_size=4) | json_values,
    "attributes": st.dictionaries(any_text | st.just("workEmail"), any_text | json_values, max_size=4) | json_values,
}
customer_profiles = st.fixed_dictionaries({}, optional=PROFILE_FIELDS).map(lambda d: json.dumps(d))
customer_data = (customer_profiles
                 | json_values.map(lambda v: json.dumps(v))
                 | any_text
                 | st.builds(lambda unit, size: json.dumps({"firstName": (unit * size)[:size]}),
                             st.text(any_char, min_size=1, max_size=4), st.integers(1000, 120_000))
                 | json_values)
profiles = st.fixed_dictionaries({}, optional={"ProfileId": profile_ids, "CustomerData": customer_data,
                                              "IdempotencyToken": tokens, "Extra": json_values}) | json_values
well_profiles = st.fixed_dictionaries({"ProfileId": pooled_ids | hex32, "CustomerData": customer_data,
                                       "IdempotencyToken": tokens})
contexts = st.fixed_dictionaries(
    {}, optional={"CampaignId": any_text | st.just("c-1") | json_values, "RunId": any_text | st.just("c-1#r"),
                  "ActionId": st.sampled_from(["Send SMS", "Email", "Other"]) | any_text | json_values,
                  "CampaignName": any_text | json_values, "Unknown": json_values},
) | json_values
connect_shaped = st.builds(
    lambda extra, metadata, items: {**extra, "InvocationMetadata": metadata, "Items": items},
    st.dictionaries(any_text, json_values, max_size=2),
    st.fixed_dictionaries({}, optional={"CampaignContext": contexts}) | json_values,
    st.fixed_dictionaries({}, optional={"CustomerProfiles": st.lists(profiles, max_size=12) | json_values})
    | json_values,
)
well_formed = st.fixed_dictionaries({
    "InvocationMetadata": st.fixed_dictionaries({"CampaignContext": st.fixed_dictionaries(
        {"CampaignId": st.just("c-1") | hex32, "RunId": st.just("c-1#2026-11-23T09-00-00Z"),
         "ActionId": st.sampled_from(["Send SMS", "Email", "Other"]), "CampaignName": st.just("renewals")})}),
    "Items": st.fixed_dictionaries({"CustomerProfiles": st.lists(well_profiles | profiles, max_size=12)}),
})


@pytest.fixture(scope="module", autouse=True)
def connect_actions(stack: Stack) -> Iterator[None]:
    os.environ["CONNECT_ACTIONS"] = json.dumps(ACTIONS)
    _reset_caches()
    yield
    os.environ.pop("CONNECT_ACTIONS", None)
    _reset_caches()


def as_lambda_event(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=True))


def readable_ids(payload: Any) -> list[str] | None:
    """The ProfileIds an answer must hold: strings, non-empty, valid Unicode; each once, first wins."""
    items = payload.get("Items") if isinstance(payload, dict) else None
    entries = items.get("CustomerProfiles") if isinstance(items, dict) else None
    if not isinstance(entries, list):
        return None
    ids: list[str] = []
    for entry in entries:
        profile_id = entry.get("ProfileId") if isinstance(entry, dict) else None
        if isinstance(profile_id, str) and profile_id and not any("\ud800" <= c <= "\udfff" for c in profile_id):
            ids.append(profile_id)
    return list(dict.fromkeys(ids))


def is_error_shape(response: Any) -> bool:
    return (isinstance(response, dict) and set(response) == {"error"} and isinstance(response["error"], dict)
            and set(response["error"]) == {"type", "message"})


def check(payload: Any, response: Any) -> None:
    if isinstance(response, PayloadError):
        assert len(str(response).splitlines()) == 1, response
        event("raised: " + str(response)[:30])
        return
    json.dumps(response)  # what the Lambda runtime does with it
    if is_error_shape(response):
        assert "Endpoints" in payload or "ApplicationId" in payload, response  # both triggers' keys
        message = response["error"]["message"]
        assert isinstance(message, str)
        assert message
        assert len(message.splitlines()) == 1, message
        event("error: " + message[:30])
        return
    ids = readable_ids(payload)
    assert ids is not None, f"an answer for an event without a CustomerProfiles list: {response!r}"
    assert set(response) == {"Items"}, response
    assert set(response["Items"]) == {"CustomerProfiles"}, response
    answered = response["Items"]["CustomerProfiles"]
    assert [entry["Id"] for entry in answered] == ids, "not every readable ProfileId exactly once, in input order"
    for entry in answered:
        assert set(entry) == {"Id", "ResultData"}, entry
        data = entry["ResultData"]
        assert isinstance(data, dict), entry
        assert data.get("status") in STATUSES, entry
        assert len(json.dumps(entry).encode()) <= MAX_PROFILE_ANSWER_BYTES, entry
        assert isinstance(data.get("attempts", 0), int), entry  # typed, as Connect's own example
        for name in data:
            assert 0 < len(name) <= 128, entry
    event(f"answer with {len(ids)} profiles" if len(ids) < 3 else "answer with 3+ profiles")


def invoke(stack: Stack, payload: Any) -> Any:
    """The handler's answer, or the PayloadError it raised."""
    note(f"event: {json.dumps(payload, ensure_ascii=True)[:3000]}")
    try:
        return invoker.handler(payload, stack.context)
    except PayloadError as error:
        return error


@PROPERTY
@given(payload=connect_shaped)
def test_any_connect_shaped_payload_is_refused_in_one_line_or_answers_every_readable_profile(
        stack: Stack, payload: Any) -> None:
    RUNS["connect shaped"] += 1
    payload = as_lambda_event(payload)
    check(payload, invoke(stack, payload))


@PROPERTY
@given(payload=well_formed)
def test_a_well_formed_custom_action_is_answered_and_a_retry_answers_the_same(stack: Stack, payload: Any) -> None:
    RUNS["well formed"] += 1
    payload = as_lambda_event(payload)
    response = invoke(stack, payload)
    check(payload, response)
    # A well-formed custom action is answered whole, whatever its profiles (any size, any id).
    assert not isinstance(response, PayloadError), response
    assert not is_error_shape(response), response
    statuses = {entry["ResultData"]["status"] for entry in response["Items"]["CustomerProfiles"]}
    assert statuses <= {"SKIPPED", "PENDING"}, statuses  # nothing ran: the engine only records executions
    # Connect retrying the same invocation gets the same answer (and starts nothing new).
    assert invoke(stack, payload) == response


@pytest.mark.parametrize("name", ["connect shaped", "well formed"])
def test_each_property_ran_at_least_1000_inputs(name: str) -> None:
    if not RUNS:
        pytest.skip("the properties were not run in this session")
    assert RUNS[name] >= EXAMPLES, dict(RUNS)
