"""Which endpoints can be sent, and why the others are skipped."""

from __future__ import annotations

from typing import Any

import pytest

from journey_activity.config import HttpProviderConfig, Settings
from journey_activity.models.batch import Recipient
from journey_activity.validation import SkipReason, address_is_valid, skip_reason

PROVIDER = {"url": "https://provider.example.com/send"}
PUSH_TYPES = ["PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU"]
GOOD_ADDRESS = {
    "EMAIL": "ana@example.com",
    "SMS": "+14155550123",
    "VOICE": "+14155550123",
    "CUSTOM": "https://hooks.example.com/x",
    "IN_APP": "in-app-id",
    **dict.fromkeys(PUSH_TYPES, "f1e2d3c4b5a6-token"),
}


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"channel_providers": {"*": PROVIDER}}
    values.update(overrides)
    return Settings.model_validate(values)


def recipient(channel: str = "SMS", address: str = "+14155550123", **fields: Any) -> Recipient:
    return Recipient(endpoint_id="e1", channel=channel, address=address, **fields)


def reason_of(r: Recipient, s: Settings | None = None) -> SkipReason | None:
    verdict = skip_reason(r, s or settings())
    if verdict is None:
        return None
    reason, detail = verdict
    assert isinstance(detail, str)
    assert detail
    return reason


# -- reasons and precedence -----------------------------------------------------------------


def test_reason_values_are_machine_readable():
    assert {r.value for r in SkipReason} == {
        "invalid_endpoint",
        "invalid_profile",
        "action_not_configured",
        "opted_out",
        "inactive",
        "address_missing",
        "address_invalid",
        "no_provider",
        "profile_missing",
    }


@pytest.mark.parametrize("channel", sorted(GOOD_ADDRESS))
def test_a_good_endpoint_is_sent(channel):
    assert reason_of(recipient(channel, GOOD_ADDRESS[channel])) is None


def test_invalid_endpoint_carries_the_adapters_detail():
    verdict = skip_reason(recipient(invalid="ChannelType: Input should be 'PUSH', ..."), settings())
    assert verdict == (SkipReason.INVALID_ENDPOINT, "ChannelType: Input should be 'PUSH', ...")


def test_each_reason_alone():
    assert reason_of(recipient(invalid="ChannelType: bad")) is SkipReason.INVALID_ENDPOINT
    assert reason_of(recipient(opted_out=True)) is SkipReason.OPTED_OUT
    assert reason_of(recipient(active=False)) is SkipReason.INACTIVE
    assert reason_of(recipient(address="")) is SkipReason.ADDRESS_MISSING
    assert reason_of(recipient(address="555-0100")) is SkipReason.ADDRESS_INVALID
    assert reason_of(recipient(), settings(channel_providers={})) is SkipReason.NO_PROVIDER


def test_precedence():
    no_provider = settings(channel_providers={"SMS": None})
    everything_wrong = {"invalid": "ChannelType: bad", "opted_out": True, "active": False, "address": ""}

    assert reason_of(recipient(**everything_wrong), no_provider) is SkipReason.INVALID_ENDPOINT
    del everything_wrong["invalid"]
    assert reason_of(recipient(**everything_wrong), no_provider) is SkipReason.OPTED_OUT
    del everything_wrong["opted_out"]
    assert reason_of(recipient(**everything_wrong), no_provider) is SkipReason.INACTIVE
    del everything_wrong["active"]
    # A channel without a provider is reported before anything about its address.
    assert reason_of(recipient(**everything_wrong), no_provider) is SkipReason.NO_PROVIDER
    assert reason_of(recipient(address="not a phone"), no_provider) is SkipReason.NO_PROVIDER
    assert reason_of(recipient(**everything_wrong)) is SkipReason.ADDRESS_MISSING
    # An address that is missing is not reported as invalid.
    assert reason_of(recipient(address="")) is SkipReason.ADDRESS_MISSING


# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["ana@example.com", "ana.maria+tag@mail.example.co.uk", "a_b-c@sub-domain.example.io", "x@y.org"],
)
def test_valid_emails(address):
    assert address_is_valid("EMAIL", address)
    assert reason_of(recipient("EMAIL", address)) is None


@pytest.mark.parametrize(
    "address",
    [
        "ana maria@example.com",
        "ana@exa mple.com",
        " ana@example.com",
        "ana@example.com ",
        "ana.example.com",
        "ana@example",
        "ana@localhost",
        "ana@@example.com",
        "ana@mail@example.com",
        "@example.com",
        "ana@",
        "ana@.com",
        "ana@example.c",
        "ana@-example.com",
        "ana@example.com\n",
    ],
)
def test_invalid_emails(address):
    assert not address_is_valid("EMAIL", address)
    assert reason_of(recipient("EMAIL", address)) is SkipReason.ADDRESS_INVALID


@pytest.mark.parametrize("channel", ["SMS", "VOICE"])
@pytest.mark.parametrize("address", ["+14155550123", "+447911123456", "+12", "+123456789012345"])
def test_valid_e164(channel, address):
    assert address_is_valid(channel, address)
    assert reason_of(recipient(channel, address)) is None


@pytest.mark.parametrize("channel", ["SMS", "VOICE"])
@pytest.mark.parametrize(
    "address",
    [
        "555-0100",
        "14155550123",
        "+0123",
        "+1234567890123456",
        "+1415555ABCD",
        "+1 415 555 0123",
        "+1-415-555-0123",
        "+",
        "+1",
        "++14155550123",
        "+14155550123\n",
        "+1\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662\u0663",  # Arabic-Indic digits
        "+1\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12\uff13",  # full-width digits
    ],
)
def test_invalid_e164(channel, address):
    assert not address_is_valid(channel, address)
    assert reason_of(recipient(channel, address)) is SkipReason.ADDRESS_INVALID


@pytest.mark.parametrize("channel", PUSH_TYPES)
def test_push_tokens(channel):
    assert address_is_valid(channel, "f1e2d3c4b5a6")
    assert address_is_valid(channel, "APA91bH:x_y-z/=")
    assert not address_is_valid(channel, "")
    assert not address_is_valid(channel, "   ")
    assert not address_is_valid(channel, "two parts")
    assert not address_is_valid(channel, "x" * 4097)
    assert reason_of(recipient(channel, "")) is SkipReason.ADDRESS_MISSING
    assert reason_of(recipient(channel, "   ")) is SkipReason.ADDRESS_INVALID
    assert reason_of(recipient(channel, "f1e2d3c4b5a6")) is None


def test_custom_without_a_rule_takes_any_non_blank_address():
    assert address_is_valid("CUSTOM", "anything at all")
    assert not address_is_valid("CUSTOM", "   ")
    assert reason_of(recipient("CUSTOM", "customer-42")) is None
    assert reason_of(recipient("CUSTOM", "")) is SkipReason.ADDRESS_MISSING


def test_custom_with_a_configured_rule():
    rules = {"CUSTOM": "^https://.+"}
    s = settings(address_rules=rules)
    assert address_is_valid("CUSTOM", "https://hooks.example.com/a", rules)
    assert not address_is_valid("CUSTOM", "http://hooks.example.com/a", rules)
    assert not address_is_valid("CUSTOM", "customer-42", rules)
    assert reason_of(recipient("CUSTOM", "https://hooks.example.com/a"), s) is None
    assert reason_of(recipient("CUSTOM", "customer-42"), s) is SkipReason.ADDRESS_INVALID
    # The rule is for CUSTOM only.
    assert reason_of(recipient("SMS", "+14155550123"), s) is None


def test_a_rule_must_match_the_whole_address():
    rules = {"CUSTOM": "[a-z]+"}
    assert address_is_valid("CUSTOM", "abc", rules)
    assert not address_is_valid("CUSTOM", "abc123", rules)


def test_a_configured_rule_wins_over_the_default():
    rules = {"SMS": r"\d{3}-\d{4}"}
    assert address_is_valid("SMS", "555-0100", rules)
    assert not address_is_valid("SMS", "+14155550123", rules)


# -- providers ------------------------------------------------------------------------------


def test_channel_mapped_to_none_has_no_provider():
    s = settings(channel_providers={"*": PROVIDER, "VOICE": None})
    assert s.provider_for("VOICE") is None
    verdict = skip_reason(recipient("VOICE", "+14155550123"), s)
    assert verdict is not None
    assert verdict[0] is SkipReason.NO_PROVIDER
    assert "VOICE" in verdict[1]
    assert reason_of(recipient("SMS", "+14155550123"), s) is None


def test_star_is_the_default_provider():
    s = settings(
        channel_providers={"*": {"url": "https://default.example.com"}, "EMAIL": {"url": "https://mail.example.com"}}
    )
    email, sms = s.provider_for("EMAIL"), s.provider_for("SMS")
    assert isinstance(email, HttpProviderConfig)
    assert isinstance(sms, HttpProviderConfig)
    assert email.url == "https://mail.example.com"
    assert sms.url == "https://default.example.com"


def test_provider_url_is_the_fallback():
    s = Settings(provider_url="https://fallback.example.com/send")
    provider = s.provider_for("SMS")
    assert provider is not None
    assert provider.url == "https://fallback.example.com/send"
    assert provider.type == "http"
    assert reason_of(recipient("SMS", "+14155550123"), s) is None


def test_star_wins_over_provider_url_and_explicit_none_wins_over_both():
    s = Settings(
        provider_url="https://fallback.example.com",
        channel_providers={"*": {"url": "https://star.example.com"}, "SMS": None},
    )
    star = s.provider_for("EMAIL")
    assert star is not None
    assert star.url == "https://star.example.com"
    assert s.provider_for("SMS") is None


def test_nothing_configured_means_no_provider():
    s = Settings()
    assert s.provider_for("EMAIL") is None
    assert reason_of(recipient("EMAIL", "ana@example.com"), s) is SkipReason.NO_PROVIDER
