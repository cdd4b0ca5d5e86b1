"""The Amazon Connect custom-action adapter, the trigger port and CONNECT_ACTIONS."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from journey_activity.config import ConnectAction, settings_from
from journey_activity.errors import ConfigurationError, PayloadError
from journey_activity.models.batch import Batch, EndpointResult, Recipient
from journey_activity.templating import render
from journey_activity.triggers import adapter_for, connect, pinpoint
from journey_activity.validation import SkipReason, skip_reason

SMS = {"*": {"channel": "SMS", "message": "Hi {{Profile.firstName|there}}"}}


def settings(actions: dict[str, Any] | None = None, **environ: str):
    return settings_from({"CONNECT_ACTIONS": json.dumps(SMS if actions is None else actions),
                          "PROVIDER_URL": "https://provider.example.com/send", **environ})


def profile(profile_id: str, data: Any, token: str | None = None) -> dict[str, Any]:
    text = data if isinstance(data, str) else json.dumps(data)
    return {"ProfileId": profile_id, "CustomerData": text, "IdempotencyToken": token or f"token-{profile_id}"}


def event(*profiles: dict[str, Any], action: str = "Send SMS") -> dict[str, Any]:
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-1", "RunId": "c-1#2026-11-23T09-00-00Z",
                                                       "ActionId": action, "CampaignName": "welcome"}},
            "Items": {"CustomerProfiles": list(profiles)}}


def by_id(batch: Batch) -> dict[str, Recipient]:
    return {r.endpoint_id: r for r in batch.recipients}


def test_the_example_event_is_read_profile_by_profile(load_event):
    batch = connect.to_batch(load_event("connect_journey"), settings())
    context = batch.context
    assert context.source == "connect"
    assert context.batch_id.startswith("connect-")
    assert len(context.batch_id) <= 80
    assert (context.campaign_id, context.action_id, context.campaign_name) == (
        "3f1c9a2e-7b4d-4e8a-9c61-0d2f5b7e8a14", "Renewal reminder", "renewal-journey")
    assert context.run_id.endswith("#2026-11-23T09-00-00Z")
    recipients = by_id(batch)
    maria = recipients["5f0c2a9b8e714d3fa6b1c4e2d7f80a91"]
    assert (maria.channel, maria.address) == ("SMS", "+14155550123")
    assert maria.claim_key == load_event("connect_journey")["Items"]["CustomerProfiles"][0]["IdempotencyToken"]
    assert recipients["a2e94c1d0b3f4a7e8d65c9b0f1e2d3c4"].address == "+442071838750"  # phoneNumber, no address object
    bad = recipients["c7d1e0f2a3b44c5d9e6f7a8b9c0d1e2f"]
    assert bad.invalid_reason == "invalid_profile"
    assert "not JSON" in (bad.invalid or "")
    assert bad.claim_key is None
    assert recipients["0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"].address == ""  # e-mail only: address_missing
    assert [r.endpoint_id for r in batch.recipients] == connect.endpoint_ids(load_event("connect_journey"))


@pytest.mark.parametrize(("data", "why"), [
    ("not json", "not JSON"), ("[1, 2]", "not a JSON object"), ('"text"', "not a JSON object"), ("null", "not a JSON"),
    ("[" * 40 + "1" + "]" * 40, "not a JSON object"), ('{"a": ' + "[" * 40 + "1" + "]" * 40 + "}", "nested"),
    ('{"firstName": "\\ud800"}', "Unicode"),
])
def test_customer_data_that_is_not_a_json_object_skips_only_that_profile(data, why):
    batch = connect.to_batch(event(profile("bad", data), profile("good", {"phoneNumber": "+14155550123"})), settings())
    bad, good = by_id(batch)["bad"], by_id(batch)["good"]
    assert bad.invalid_reason == "invalid_profile", bad
    assert why in (bad.invalid or ""), bad
    assert skip_reason(bad, settings()) == (SkipReason.INVALID_PROFILE, bad.invalid)
    assert good.invalid is None
    assert good.address == "+14155550123"


@pytest.mark.parametrize("raw", [{"ProfileId": "p", "CustomerData": {"firstName": "A"}, "IdempotencyToken": "t"},
                                 {"ProfileId": "p", "CustomerData": "{}"},
                                 {"ProfileId": "p", "CustomerData": "{}", "IdempotencyToken": 7}])
def test_mistyped_customer_data_or_token_is_an_invalid_profile(raw):
    (recipient,) = connect.to_batch(event(raw), settings()).recipients
    assert recipient.invalid_reason == "invalid_profile"


def test_unreadable_and_repeated_profile_ids_are_answered_once_or_left_out():
    raw = event(profile("a", {}), {"CustomerData": "{}"}, {"ProfileId": 7}, "text", profile("a", {"x": 1}),
                profile("b", {}))
    batch = connect.to_batch(raw, settings())
    assert [r.endpoint_id for r in batch.recipients] == ["a", "b"]
    assert connect.endpoint_ids(raw) == ["a", "b"]


def test_default_address_fields_by_channel_and_an_explicit_list():
    data = {"email": "e@example.com", "businessEmailAddress": "b@example.com", "homePhoneNumber": "+14155550100",
            "mobilePhoneNumber": " ", "attributes": {"pushToken": "tok-1"}}
    for channel, expected in (("EMAIL", "b@example.com"), ("SMS", "+14155550100"), ("VOICE", "+14155550100")):
        (recipient,) = connect.to_batch(event(profile("p", data)), settings({"*": {"channel": channel}})).recipients
        assert recipient.address == expected, channel
    actions = {"Send SMS": {"channel": "APNS", "address": ["attributes.missing", "attributes.pushToken"]}}
    (recipient,) = connect.to_batch(event(profile("p", data)), settings(actions)).recipients
    assert (recipient.channel, recipient.address) == ("APNS", "tok-1")


def test_an_action_without_an_entry_skips_every_profile_as_not_configured():
    batch = connect.to_batch(event(profile("a", {}), profile("b", "bad")), settings({"Other": {"channel": "SMS"}}))
    assert {r.invalid_reason for r in batch.recipients} == {"action_not_configured"}
    assert all(skip_reason(r, settings())[0] == SkipReason.ACTION_NOT_CONFIGURED for r in batch.recipients)  # type: ignore[index]
    assert batch.context.template is None


def test_an_action_entry_wins_over_the_star():
    actions = {"*": {"channel": "EMAIL", "message": "star"}, "Send SMS": {"channel": "SMS", "message": "own"}}
    batch = connect.to_batch(event(profile("a", {"phoneNumber": "+14155550123"})), settings(actions))
    assert (batch.recipients[0].channel, batch.context.template) == ("SMS", "own")
    batch = connect.to_batch(event(profile("a", {}), action="Other"), settings(actions))
    assert (batch.recipients[0].channel, batch.context.template) == ("EMAIL", "star")


def test_templates_reach_the_profile_both_ways():
    data = {"firstName": "Maria", "attributes": {"plan": "premium"},
            "address": {"city": "Lisbon", "postalCode": "1100"},
            "shippingAddress": {"city": "Porto"}}
    (recipient,) = connect.to_batch(event(profile("p", data)), settings()).recipients
    template = ("{{Profile.firstName|there}} {{Profile.attributes.plan}} {{Attributes.Customer.FirstName}} "
                "{{Attributes.Customer.Attributes.plan}} {{Attributes.Customer.City}} "
                "{{Attributes.Customer.ShippingCity}} {{Attributes.Customer.PostalCode}} {{Profile.lastName|-}}")
    assert render(template, recipient.profile) == "Maria premium Maria premium Lisbon Porto 1100 -"
    assert render('{"title": "Hi {{Profile.firstName}}"}', recipient.profile) == {"title": "Hi Maria"}


def outcome(endpoint_id: str, status: str, **fields: Any) -> EndpointResult:
    return EndpointResult(endpoint_id=endpoint_id, channel="SMS", status=status, **fields)


def test_the_response_lists_every_profile_once_in_input_order_with_typed_result_data():
    batch = connect.to_batch(event(profile("b", {}), profile("a", {}), profile("c", {})), settings())
    results = {"a": outcome("a", "DELIVERED", provider="http", attempts=2),
               "c": outcome("c", "SENT", provider="http", attempts=1), "elsewhere": outcome("elsewhere", "FAILED")}
    response = connect.to_response(batch, results, settings())
    assert response == {"Items": {"CustomerProfiles": [
        {"Id": "b", "ResultData": {"status": "PENDING", "channel": "SMS", "attempts": 0}},
        {"Id": "a", "ResultData": {"status": "DELIVERED", "channel": "SMS", "provider": "http", "attempts": 2}},
        {"Id": "c", "ResultData": {"status": "SENT", "channel": "SMS", "provider": "http", "attempts": 1}}]}}
    assert connect.answered(response)["a"]["attempts"] == 2  # a number, as Connect's own example has
    empty = connect.to_batch(event(), settings())
    assert connect.to_response(empty, {}, settings()) == {"Items": {"CustomerProfiles": []}}


def test_result_data_takes_its_keys_and_types_from_the_setting():
    configured = settings(RESULT_DATA=json.dumps({"status": "status", "delivered": "status == 'DELIVERED'",
                                                  "detail": "{tries: attempts, by: provider}"}))
    batch = connect.to_batch(event(profile("a", {})), configured)
    answer = connect.to_response(batch, {"a": outcome("a", "DELIVERED", provider="ses", attempts=3)}, configured)
    assert connect.answered(answer)["a"] == {"status": "DELIVERED", "delivered": True,
                                             "detail": {"tries": 3, "by": "ses"}}


def test_a_result_data_over_32_kb_is_cut_to_fit_and_says_so():
    configured = settings(RESULT_DATA=json.dumps({"status": "status", "reason": "reason", "channel": "channel",
                                                  "error": "error", "tries": "attempts"}))
    batch = connect.to_batch(event(profile("a", {}), profile("b", {})), configured)
    results = {"a": outcome("a", "FAILED", reason="provider_rejected", error="é" * 40_000, attempts=2),
               "b": outcome("b", "DELIVERED", attempts=1)}
    answer = connect.to_response(batch, results, configured)
    entries = {entry["Id"]: entry for entry in answer["Items"]["CustomerProfiles"]}
    cut = entries["a"]["ResultData"]
    # Measured as Lambda's runtime writes it (json.dumps' defaults: "é" is "\\u00e9", six bytes).
    assert len(json.dumps(entries["a"]).encode()) <= connect.MAX_PROFILE_ANSWER_BYTES
    assert cut["truncated"] is True
    assert (cut["status"], cut["reason"], cut["channel"], cut["tries"]) == ("FAILED", "provider_rejected", "SMS", 2)
    assert 5_000 < len(cut["error"]) < 5_400
    assert "é" * 100 in cut["error"]
    assert entries["b"]["ResultData"] == {"status": "DELIVERED", "channel": "SMS", "tries": 1}


def test_the_whole_answer_stays_within_lambdas_6_mb_response():
    configured = settings(RESULT_DATA=json.dumps({"status": "status", "error": "error"}))
    profiles = [profile(f"p-{index:04d}", {}) for index in range(2_000)]
    batch = connect.to_batch(event(*profiles), configured)
    results = {r.endpoint_id: outcome(r.endpoint_id, "FAILED", error="x" * 30_000) for r in batch.recipients}
    answer = connect.to_response(batch, results, configured)
    assert len(json.dumps(answer).encode()) <= 6 * 1024 * 1024
    assert len(answer["Items"]["CustomerProfiles"]) == 2_000
    assert all(entry["ResultData"]["status"] == "FAILED" and entry["ResultData"]["truncated"]
               for entry in answer["Items"]["CustomerProfiles"])


def test_the_batch_id_is_the_payload_hash():
    raw = event(profile("a", {}))
    assert connect.batch_id_for(raw) == connect.batch_id_for(copy.deepcopy(raw))
    other = event(profile("a", {}, token="another"))
    assert connect.batch_id_for(raw) != connect.batch_id_for(other)


@pytest.mark.parametrize(("payload", "expected"), [
    ({"InvocationMetadata": {}, "Items": {"CustomerProfiles": []}}, "InvocationMetadata.CampaignContext"),
    ({"InvocationMetadata": {"CampaignContext": {"CampaignId": "c", "RunId": "r", "ActionId": ""}},
      "Items": {"CustomerProfiles": []}}, "ActionId"),
    ({"InvocationMetadata": {"CampaignContext": {"CampaignId": "c", "RunId": "r", "ActionId": "a"}},
      "Items": {"CustomerProfiles": {}}}, "Items.CustomerProfiles"),
    ({"Items": []}, "InvocationMetadata"),
])
def test_an_unusable_envelope_is_a_one_line_payload_error(payload, expected):
    with pytest.raises(PayloadError) as caught:
        connect.to_batch(payload, settings())
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_port_recognizes_each_trigger_by_its_shape(load_event):
    assert adapter_for(load_event("connect_journey")) is connect.ADAPTER
    assert adapter_for({"ApplicationId": "a", "Endpoints": {}}) is pinpoint.ADAPTER
    with pytest.raises(PayloadError, match=r"neither a Pinpoint custom-channel event .* nor an Amazon Connect"):
        adapter_for({"hello": 1})
    with pytest.raises(PayloadError, match="more than one trigger"):
        adapter_for({"Endpoints": {}, "Items": {}})
    with pytest.raises(PayloadError, match="JSON object"):
        adapter_for([1])


@pytest.mark.parametrize(("actions", "expected"), [
    ('{"*": {"channel": "FAX"}}', "unknown channel type"),
    ('{"*": {"channel": "APNS"}}', "address"),
    ('{"*": {"channel": "SMS", "address": []}}', "address"),
    ('{"*": {"channel": "SMS", "sender": "x"}}', "sender"),
    ("not json", "CONNECT_ACTIONS is not valid JSON"),
])
def test_a_bad_connect_actions_setting_names_the_variable(actions, expected):
    with pytest.raises(ConfigurationError) as caught:
        settings_from({"CONNECT_ACTIONS": actions})
    assert expected in str(caught.value)
    assert "CONNECT_ACTIONS" in str(caught.value)


def test_a_json_message_is_kept_as_a_json_template():
    action = ConnectAction(channel="CUSTOM", address=["attributes.hook"], message={"text": "Hi {{Profile.firstName}}"})
    assert json.loads(action.template()) == {"text": "Hi {{Profile.firstName}}"}
