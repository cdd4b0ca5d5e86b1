"""One sender function per channel family: Validate names it on every sendable endpoint, from
SENDER_FUNCTIONS (the template's sender ARNs), and refuses to run without it."""

from __future__ import annotations

import json

import pytest

from journey_activity.config import settings_from
from journey_activity.errors import ConfigurationError
from journey_activity.handlers.validate import split
from journey_activity.models.batch import BatchContext, Recipient
from journey_activity.models.execution import ExecutionInput, RecipientRef
from journey_activity.models.pinpoint import ChannelType
from journey_activity.senders import FAMILIES, family_for

ARNS = {family: f"arn:aws:lambda:us-east-1:123456789012:function:{family}-sender" for family in FAMILIES}
ADDRESSES = {"EMAIL": "a@example.com", "SMS": "+14155550100", "VOICE": "+14155550101", "GCM": "token-1",
             "APNS": "token-2", "CUSTOM": "https://hooks.example.com/x", "IN_APP": "user-1"}


def test_every_channel_type_has_a_family():
    assert family_for("EMAIL") == "email"
    assert family_for("SMS") == family_for("VOICE") == "sms-voice"
    for channel in ("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"):
        assert family_for(channel) == "push"
    assert family_for("CUSTOM") == family_for("IN_APP") == "http"
    assert {family_for(c.value) for c in ChannelType} == set(FAMILIES)


def test_validate_names_each_endpoints_sender(book):
    settings = settings_from({"SENDER_FUNCTIONS": json.dumps(ARNS), "PROVIDER_URL": "https://p.example.com/m"})
    parts = book.put_recipients("b-1", {f"ep-{c}": Recipient(endpoint_id=f"ep-{c}", channel=c, address=a)
                                        for c, a in ADDRESSES.items()})
    run = ExecutionInput(context=BatchContext(batch_id="b-1", source="test"),
                         recipients=[RecipientRef(endpoint_id=f"ep-{c}", channel=c, part=parts[f"ep-{c}"])
                                     for c in ADDRESSES])
    sendable, skipped = split(run, settings, book)
    assert skipped == []
    assert {item["channel"]: item["sender"] for item in sendable} == {
        "EMAIL": ARNS["email"], "SMS": ARNS["sms-voice"], "VOICE": ARNS["sms-voice"], "GCM": ARNS["push"],
        "APNS": ARNS["push"], "CUSTOM": ARNS["http"], "IN_APP": ARNS["http"]}


def test_validate_refuses_to_run_without_the_senders(book):
    run = ExecutionInput(context=BatchContext(batch_id="b-1", source="test"), recipients=[])
    with pytest.raises(ConfigurationError, match="SENDER_FUNCTIONS is not set"):
        split(run, settings_from({"PROVIDER_URL": "https://p.example.com/m"}), book)


@pytest.mark.parametrize(("value", "problem"), [
    ({"email": "arn"}, "a sender function is needed for each of"),
    ({**ARNS, "fax": "arn"}, "unknown sender families ['fax']"),
])
def test_an_incomplete_sender_map_is_a_configuration_error(value, problem):
    with pytest.raises(ConfigurationError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        settings_from({"SENDER_FUNCTIONS": json.dumps(value)})
