"""Property tests of the REAL invoker handler against arbitrary payloads.

Whatever Pinpoint (or anything else) sends, the invoker never raises: it answers either
``{"error": {"type": str, "message": str}}`` with a one-line message, or every endpoint id it
could read exactly once, each ``{"EventAttributes": {...}}`` within Pinpoint's limits.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st

from journey_activity.handlers import invoker
from journey_activity.models.pinpoint import MAX_ENDPOINTS, ChannelType
from tests.property import strategies
from tests.property.conftest import Stack
from tests.property.strategies import EXAMPLES, PROPERTY, any_char, any_text, json_scalars

STATUSES = {"DELIVERED", "FAILED", "SKIPPED", "TIMED_OUT", "PENDING"}
PINPOINT_KEYS = ("ApplicationId", "Endpoints", "Data", "Message", "CampaignId", "JourneyId", "TreatmentId",
                 "ActivityId", "ScheduledTime")

# How many inputs each property really ran (checked by the tests at the end of the module).
RUNS: Counter[str] = Counter()

# -- strategies ---------------------------------------------------------------------------------

json_values = strategies.json_values(max_size=6, max_leaves=12)
# Lighter, for the many values inside endpoints (drawing is most of a property's time).
small_json_values = strategies.json_values(max_size=3, max_leaves=4)


def _nest(depth: int, leaf: Any, kinds: str) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if kinds[level % len(kinds)] == "l" else {"k": value}
    return value


# Hundreds of levels (json.loads, which parsed the real event, stops near 1000).
deep_values = st.builds(_nest, st.integers(1, 900), json_scalars, st.sampled_from(["l", "d", "ld", "dl", "ddl"]))
big_json_values = json_values | deep_values
small_big_json_values = small_json_values | deep_values


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Around the inline (8 KiB), by-reference and refused (350 000 bytes) sizes of Data.
huge_text = st.builds(
    _repeat,
    st.text(any_char, min_size=1, max_size=8),
    st.sampled_from([8 * 1024 - 1, 8 * 1024, 8 * 1024 + 1, 100_000, 349_999, 350_000, 350_001])
    | st.integers(0, 420_000),
)
template_text = st.lists(
    st.sampled_from(["Hi ", "{{User.UserAttributes.FirstName|there}}", "{{Attributes.CohortId}}", "{{Address}}",
                     "{{", "}}", "|", "{{User.UserAttributes.}}", '{"a": "{{Address}}"}', "\x00", "\ud800", "\n"])
    | any_text,
    max_size=8,
).map("".join)
data_values = (any_text | template_text | json_values.map(lambda v: json.dumps(v, ensure_ascii=True))
               | huge_text)

TRICKY_IDS = ["", " ", "error", "Error", "ERROR", "EventAttributes", "type", "message", "\u00e9", "e\u0301",
              "K", "k", "\u212a", "\ufb01", "fi", "\u00df", "SS", "ss", "\u0130", "i\u0307", "\x00", "\ud800",
              "\udfff", "\u2028", "a\nb", "#template", "#pointer", "msg#http#1", "x" * 1000, "\U0001f600"]


def _variants(base: str) -> list[str]:
    """``base`` and the ids that differ from it only by case or unicode normalisation."""
    forms = [base, base.lower(), base.upper(), base.casefold(), base.swapcase(), base.title()]
    forms += [unicodedata.normalize(form, text) for text in list(forms) for form in ("NFC", "NFD", "NFKC", "NFKD")]
    return list(dict.fromkeys(forms))


endpoint_ids = any_text | st.sampled_from(TRICKY_IDS)
id_families = st.lists(endpoint_ids | st.sampled_from(["\u00c9t\u00e9", "Stra\u00dfe", "\u212aelvin", "\ufb01le"]),
                       min_size=1, max_size=6).map(lambda bases: [v for b in bases for v in _variants(b)])

channels = (st.sampled_from([c.value for c in ChannelType])
            | st.sampled_from(["sms", "Email", " SMS", "SMS ", "UNKNOWN", "", "\u0053\u004d\u0053\u200b"])
            | small_json_values)
string_lists = st.dictionaries(any_text, st.lists(any_text, max_size=3), max_size=4)
ENDPOINT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "Address": any_text | st.sampled_from(["+14155550123", "someone@example.com", " +14155550123 ", ""]),
    "EndpointStatus": st.sampled_from(["ACTIVE", "INACTIVE", "inactive", ""]) | any_text,
    "OptOut": st.sampled_from(["NONE", "ALL", "all", ""]) | any_text,
    "User": st.fixed_dictionaries({}, optional={"UserId": any_text, "UserAttributes": string_lists}),
    "Attributes": string_lists,
    "Metrics": st.dictionaries(any_text, st.floats(allow_nan=True, allow_infinity=True), max_size=3),
    "Location": st.dictionaries(any_text, small_json_values, max_size=3),
    "Demographic": st.dictionaries(any_text, small_json_values, max_size=3),
    "EffectiveDate": any_text,
    "CreationDate": any_text,
    "CohortId": any_text,
}
small_endpoints = st.fixed_dictionaries({"ChannelType": channels}, optional={"Address": any_text}) | json_scalars
# Each field well typed, or any JSON value at all (mistyped), or deeply nested.
endpoints = st.fixed_dictionaries(
    {"ChannelType": channels},
    optional={name: strategy | small_big_json_values for name, strategy in ENDPOINT_FIELDS.items()}
    | {"Custom": small_big_json_values, "\u00c4ddress\u202e": small_json_values},
) | small_big_json_values


# Distinct ids by construction (a unique-keyed dictionary strategy of 51+ entries is slow to draw).
too_many_endpoints = st.builds(
    lambda count, prefix, values: {f"{prefix}{index}": values[index % len(values)] for index in range(count)},
    st.integers(MAX_ENDPOINTS + 1, 400),
    st.sampled_from(["", "E", "e", "\u00e9", "e\u0301", "\u212a", "\ufb01", "\x00"]) | any_text,
    st.lists(small_endpoints, min_size=1, max_size=5),
)


def _endpoint_map(ids: list[str], values: list[Any]) -> dict[str, Any]:
    return dict(zip(ids, values, strict=False))


def endpoint_maps(min_size: int = 1, max_size: int = MAX_ENDPOINTS) -> st.SearchStrategy[dict[str, Any]]:
    plain = st.dictionaries(endpoint_ids, endpoints, min_size=min_size, max_size=max_size)
    families = id_families.map(lambda ids: ids[:max_size]).flatmap(
        lambda ids: st.lists(small_endpoints, min_size=len(ids), max_size=len(ids)).map(
            lambda values: _endpoint_map(ids, values)))
    return plain | families


TOP_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "ApplicationId": any_text | st.just("app-1"),
    "Endpoints": endpoint_maps(0, MAX_ENDPOINTS + 5),
    "Data": data_values,
    "Message": st.dictionaries(any_text, json_values, max_size=3),
    "CampaignId": any_text,
    "JourneyId": any_text,
    "TreatmentId": any_text,
    "ActivityId": any_text,
    "ScheduledTime": any_text,
}
# Pinpoint-shaped: the keys, each well typed or mistyped, missing or not, plus unknown keys.
pinpoint_shaped = st.builds(
    lambda extra, required, optional: {**extra, **required, **optional},
    st.dictionaries(any_text, json_values, max_size=3),
    st.fixed_dictionaries({name: TOP_FIELDS[name] | big_json_values for name in ("ApplicationId", "Endpoints")}),
    st.fixed_dictionaries({}, optional={name: strategy | big_json_values for name, strategy in TOP_FIELDS.items()}),
)

# Well formed: every key Pinpoint sends, well typed; endpoints themselves anything.
well_formed = st.fixed_dictionaries(
    {"ApplicationId": any_text.filter(bool) | st.just("app-1"), "Endpoints": endpoint_maps()},
    optional={name: strategy | st.none() for name, strategy in TOP_FIELDS.items()
              if name not in ("ApplicationId", "Endpoints")},
)


def as_lambda_event(value: Any) -> Any:
    """What the Lambda runtime hands the function: the value after a JSON round trip."""
    return json.loads(json.dumps(value, ensure_ascii=True))


# -- checks ------------------------------------------------------------------------------------


def _short(value: Any, limit: int = 3000) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _walk(value: Any) -> tuple[int, bool]:
    """The nesting depth of a JSON value, and whether it holds a lone surrogate."""
    depth, surrogate, stack = 0, False, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            surrogate = surrogate or any("\ud800" <= char <= "\udfff" for char in item)
        elif isinstance(item, dict | list):
            depth = max(depth, level)
            stack.extend((key, level) for key in item if isinstance(item, dict))
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return depth, surrogate


def label(payload: Any, response: dict[str, Any]) -> None:
    """What an input exercised (shown by ``--hypothesis-show-statistics``)."""
    event("error: " + response["error"]["message"][:40] if is_error_shape(response) else "answer")
    depth, surrogate = _walk(payload)
    if depth > 100:
        event("nested over 100 levels")
    if surrogate:
        event("a lone surrogate")
    if not isinstance(payload, dict):
        return
    data = payload.get("Data")
    if isinstance(data, str) and len(data) > 8 * 1024:
        event("Data over 8 KiB")
    endpoints = payload.get("Endpoints")
    if isinstance(endpoints, dict):
        folded = {unicodedata.normalize("NFKC", endpoint_id).casefold() for endpoint_id in endpoints}
        if len(folded) < len(endpoints):
            event("endpoint ids differing only by case or normalisation")


def is_error_shape(response: Any) -> bool:
    return (isinstance(response, dict) and set(response) == {"error"} and isinstance(response["error"], dict)
            and set(response["error"]) == {"type", "message"})


def check_error(response: dict[str, Any]) -> None:
    error = response["error"]
    assert isinstance(error["type"], str), error
    assert error["type"], error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert len(error["message"].splitlines()) == 1, f"not one line: {error['message']!r}"


def readable_endpoint_ids(event: Any) -> list[str] | None:
    if isinstance(event, dict) and isinstance(event.get("Endpoints"), dict):
        return list(event["Endpoints"])
    return None


def check_answer(event: Any, response: dict[str, Any]) -> None:
    ids = readable_endpoint_ids(event)
    assert ids is not None, f"an answer for an event without an Endpoints object: {response!r}"
    assert list(response) == ids, "not every endpoint id exactly once, in input order"
    for endpoint_id, answer in response.items():
        assert isinstance(answer, dict), (endpoint_id, answer)
        assert set(answer) == {"EventAttributes"}, (endpoint_id, answer)
        attributes = answer["EventAttributes"]
        assert isinstance(attributes, dict), (endpoint_id, attributes)
        assert len(attributes) <= 5, (endpoint_id, attributes)
        for name, value in attributes.items():
            assert isinstance(name, str), (endpoint_id, name)
            assert 0 < len(name) <= 128, (endpoint_id, name)
            assert isinstance(value, str), (endpoint_id, name, value)
            assert 0 < len(value) <= 128, (endpoint_id, name, value)
        assert attributes.get("status") in STATUSES, (endpoint_id, attributes)


def invoke(stack: Stack, event: Any) -> dict[str, Any]:
    note(f"event: {_short(event)}")
    response = invoker.handler(event, stack.context)
    assert isinstance(response, dict), response
    json.dumps(response)  # what the Lambda runtime does with it
    return response


def check_invocation(stack: Stack, event: Any) -> dict[str, Any]:
    """Invoke and check the two possible shapes; returns the response."""
    response = invoke(stack, event)
    if is_error_shape(response):
        check_error(response)
    else:
        check_answer(event, response)
    return response


# -- properties --------------------------------------------------------------------------------


@PROPERTY
@given(payload=json_values | deep_values | pinpoint_shaped)
def test_any_payload_gets_an_error_or_an_answer_for_every_endpoint(stack: Stack, payload: Any) -> None:
    RUNS["any payload"] += 1
    payload = as_lambda_event(payload)
    label(payload, check_invocation(stack, payload))


@PROPERTY
@given(pinpoint_event=well_formed)
def test_a_well_formed_event_is_answered_for_every_endpoint(stack: Stack, pinpoint_event: dict[str, Any]) -> None:
    RUNS["well formed"] += 1
    pinpoint_event = as_lambda_event(pinpoint_event)
    response = check_invocation(stack, pinpoint_event)
    label(pinpoint_event, response)
    if is_error_shape(response):
        # Only the documented size limits, and text no UTF-8 document can carry (a lone surrogate)
        # in an endpoint id or a field of the batch, refuse a well-formed batch as a whole.
        assert response["error"]["type"] == "PayloadError", response
        message = response["error"]["message"]
        assert "bytes" in message or "unicode" in message.lower(), response
    # The same payload again (Pinpoint retrying) joins the execution and answers the same.
    assert invoke(stack, pinpoint_event) == response


@PROPERTY
@given(endpoints=too_many_endpoints,
       data=st.none() | any_text)
def test_more_than_50_endpoints_is_a_one_line_error(stack: Stack, endpoints: dict[str, Any], data: Any) -> None:
    RUNS["too many endpoints"] += 1
    response = invoke(stack, as_lambda_event({"ApplicationId": "app-1", "Endpoints": endpoints, "Data": data}))
    assert is_error_shape(response), response
    check_error(response)
    assert response["error"]["type"] == "PayloadError"


# -- the properties really ran ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["any payload", "well formed", "too many endpoints"])
def test_each_property_ran_at_least_1000_inputs(name: str) -> None:
    if not RUNS:
        pytest.skip("the properties were not run in this session")
    assert RUNS[name] >= EXAMPLES, dict(RUNS)
