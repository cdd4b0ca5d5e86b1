"""What a journey branches on: Pinpoint's EventAttributes within its 5 x 128-character limits,
Connect's typed ResultData within 32 KB."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from journey_activity.compile import compile_batch, event_attributes, fit_result_data, json_size, pending_result
from journey_activity.config import DEFAULT_EVENT_ATTRIBUTES, MAX_ATTRIBUTE_CHARS, MAX_EVENT_ATTRIBUTES
from journey_activity.models.batch import EndpointResult, LedgerStatus, Recipient, Status


def result(endpoint_id: str = "e1", **fields) -> EndpointResult:
    values = {"endpoint_id": endpoint_id, "channel": "SMS", "status": LedgerStatus.DELIVERED}
    values.update(fields)
    return EndpointResult(**values)


def literal(value) -> str:
    """A jmespath expression that evaluates to ``value``."""
    return "`" + json.dumps(value).replace("`", "\\`") + "`"


def test_the_limits_are_pinpoints():
    assert MAX_EVENT_ATTRIBUTES == 5
    assert MAX_ATTRIBUTE_CHARS == 128


def test_default_expressions():
    r = result(status=LedgerStatus.FAILED, reason="provider_rejected", provider="http", provider_message_id="m1")
    assert event_attributes(r.view(), DEFAULT_EVENT_ATTRIBUTES) == {
        "status": "FAILED",
        "channel": "SMS",
        "reason": "provider_rejected",
        "provider": "http",
    }


def test_default_expressions_leave_out_what_is_not_known():
    assert event_attributes(result(status=LedgerStatus.SENT).view(), DEFAULT_EVENT_ATTRIBUTES) == {
        "status": "SENT",
        "channel": "SMS",
    }


def test_at_most_five_attributes():
    expressions = {f"a{i}": literal(f"v{i}") for i in range(9)}
    attributes = event_attributes(result().view(), expressions)
    assert attributes == {f"a{i}": f"v{i}" for i in range(5)}


def test_names_and_values_are_cut_to_128_characters():
    long_name = "n" * 300
    attributes = event_attributes(result(reason="r" * 500).view(), {long_name: "reason"})
    assert attributes == {"n" * 128: "r" * 128}


def test_none_and_empty_values_are_left_out():
    expressions = {
        "missing": "no_such_field",
        "none": "`null`",
        "empty_string": literal(""),
        "empty_list": "`[]`",
        "empty_object": "`{}`",
    }
    assert event_attributes(result().view(), expressions) == {}


def test_false_and_zero_are_kept():
    expressions = {"flag": "`false`", "zero": "`0`", "attempts": "attempts"}
    assert event_attributes(result(attempts=0).view(), expressions) == {
        "flag": "false",
        "zero": "0",
        "attempts": "0",
    }


def test_non_string_values_are_stringified():
    expressions = {
        "yes": "`true`",
        "int": "`42`",
        "float": "`2.5`",
        "object": literal({"b": [1, 2], "a": "x"}),
        "list": '`[1, "two"]`',
    }
    assert event_attributes(result().view(), expressions) == {
        "yes": "true",
        "int": "42",
        "float": "2.5",
        "object": '{"a":"x","b":[1,2]}',
        "list": '[1,"two"]',
    }


def test_expressions_see_the_journey_status_and_every_field():
    r = result(
        status=LedgerStatus.SENT,
        provider="http",
        provider_message_id="m-1",
        attempts=3,
        receipt_status="queued",
    )
    expressions = {
        "status": "status",
        "delivered": "status == 'DELIVERED'",
        "tried": "attempts",
        "receipt": "receipt_status",
        "id": "provider_message_id",
    }
    assert event_attributes(r.view(), expressions) == {
        "status": "SENT",
        "delivered": "false",
        "tried": "3",
        "receipt": "queued",
        "id": "m-1",
    }


def test_compile_batch_gives_every_recipient_once_in_input_order():
    recipients = [Recipient(endpoint_id=f"e{i}", channel="EMAIL" if i % 2 else "SMS") for i in (3, 1, 2, 0)]
    results = {
        "e1": result("e1", channel="EMAIL", status=LedgerStatus.DELIVERED, provider="http"),
        "e0": result("e0", channel="SMS", status=LedgerStatus.SKIPPED, reason="opted_out"),
        "not-in-batch": result("not-in-batch"),
    }

    compiled = compile_batch(recipients, results, DEFAULT_EVENT_ATTRIBUTES)

    assert list(compiled) == ["e3", "e1", "e2", "e0"]
    assert compiled["e1"] == {"status": "DELIVERED", "channel": "EMAIL", "provider": "http"}
    assert compiled["e0"] == {"status": "SKIPPED", "channel": "SMS", "reason": "opted_out"}
    assert compiled["e3"] == {"status": "PENDING", "channel": "EMAIL"}
    assert compiled["e2"] == {"status": "PENDING", "channel": "SMS"}


def test_pending_result():
    pending = pending_result(Recipient(endpoint_id="e9", channel="VOICE"))
    assert (pending.endpoint_id, pending.channel, pending.journey_status) == ("e9", "VOICE", Status.PENDING)


# -- property -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
expressions = st.sampled_from(
    [
        "status",
        "channel",
        "reason",
        "provider",
        "provider_message_id",
        "attempts",
        "error",
        "@",
        "endpoint_id",
        "receipt_status",
        "sent_at",
        "no_such_field",
        "[status, reason]",
        "length(@)",
        "status == 'FAILED'",
    ]
) | json_values.map(literal)
optional_text = st.none() | st.text(max_size=400)
results = st.builds(
    EndpointResult,
    endpoint_id=st.text(min_size=1, max_size=300),
    channel=st.text(max_size=300),
    status=st.sampled_from(list(LedgerStatus) + list(Status)),
    reason=optional_text,
    provider=optional_text,
    provider_message_id=optional_text,
    attempts=st.integers(min_value=0, max_value=10**6),
    error=optional_text,
    receipt_status=optional_text,
    sent_at=optional_text,
)


@settings(max_examples=200)
@given(
    st.lists(results, max_size=8),
    st.dictionaries(st.text(min_size=1, max_size=300), expressions, max_size=12),
    st.lists(st.text(min_size=1, max_size=10), max_size=8, unique=True),
)
def test_every_attribute_map_keeps_the_limits(endpoint_results, expression_map, extra_ids):
    by_id = {r.endpoint_id: r for r in endpoint_results}
    recipients = [Recipient(endpoint_id=i, channel="SMS") for i in dict.fromkeys([*by_id, *extra_ids])]

    compiled = compile_batch(recipients, by_id, expression_map)

    assert list(compiled) == [r.endpoint_id for r in recipients]
    for attributes in compiled.values():
        assert len(attributes) <= MAX_EVENT_ATTRIBUTES
        for name, value in attributes.items():
            assert isinstance(name, str)
            assert isinstance(value, str)
            assert 0 < len(name) <= MAX_ATTRIBUTE_CHARS
            assert 0 < len(value) <= MAX_ATTRIBUTE_CHARS


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(min_size=1, max_size=20), json_values | st.text(min_size=500, max_size=3000),
                            max_size=8),
       status=st.sampled_from([s.value for s in Status]), limit=st.integers(min_value=120, max_value=4000))
def test_a_cut_result_data_fits_keeps_the_status_and_says_so(data, status, limit):
    data = {"status": status, **{k: v for k, v in data.items() if k not in ("status", "truncated")}}
    fitted = fit_result_data(data, limit)
    assert json_size(fitted) <= limit
    assert fitted["status"] == status
    if fitted == data:
        assert json_size(data) <= limit
    else:
        assert fitted["truncated"] is True
        for key, value in fitted.items():
            if key != "truncated":
                assert value == data[key] or (isinstance(value, str) and data[key].startswith(value))
