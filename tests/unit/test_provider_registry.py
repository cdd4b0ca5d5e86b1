"""CHANNEL_PROVIDERS as a union on ``type`` (each kind its own model, unknown fields refused), the
lazy adapter registry, and the local stand-in registry behind ``--provider CHANNEL=KIND``."""

from __future__ import annotations

import json
import sys

import pytest

from journey_activity.config import (
    HttpProviderConfig,
    SesProviderConfig,
    SmsVoiceProviderConfig,
    settings_from,
)
from journey_activity.errors import ConfigurationError, ProviderError, ProviderOptedOut, ProviderOutcomeUnknown
from journey_activity.providers import ADAPTERS, provider_for
from journey_activity_local.standins.registry import KINDS, StandIn, StandInSetup, factory_for, parse_provider_options


def _settings(providers: dict) -> object:
    return settings_from({"CHANNEL_PROVIDERS": json.dumps(providers)})


def test_an_entry_without_type_is_the_generic_http_provider_as_before():
    settings = _settings({"SMS": {"url": "https://p.example.com/send"}})
    assert settings.provider_for("SMS") == HttpProviderConfig(url="https://p.example.com/send")


def test_each_type_is_its_own_model():
    settings = _settings({
        "EMAIL": {"type": "ses", "from_address": "news@example.com", "configuration_set": "journeys"},
        "SMS": {"type": "sms-voice", "configuration_set": "journeys", "origination_identity": "pool-1"},
    })
    assert isinstance(settings.provider_for("EMAIL"), SesProviderConfig)
    assert isinstance(settings.provider_for("SMS"), SmsVoiceProviderConfig)
    assert settings.provider_for("EMAIL").name == "ses"


@pytest.mark.parametrize(("entry", "problem"), [
    ({"type": "sendgrid"}, "CHANNEL_PROVIDERS.EMAIL: unknown provider type; use one of ['http', 'ses', 'sms-voice', "
                           "'push', 'twilio']"),
    ({"type": "ses", "from_address": "a@example.com"}, "CHANNEL_PROVIDERS.EMAIL.ses.configuration_set: Field required"),
    ({"type": "ses", "from_address": "a@example.com", "configuration_set": "c", "url": "https://x.example.com"},
     "CHANNEL_PROVIDERS.EMAIL.ses.url: Extra inputs are not permitted"),
    ({"url": "https://x.example.com", "from_address": "a@example.com"},
     "CHANNEL_PROVIDERS.EMAIL.http.from_address: Extra inputs are not permitted"),
    ({"type": "ses", "from_address": "a@example.com", "configuration_set": "c", "region": "Europe"},
     "CHANNEL_PROVIDERS.EMAIL.ses.region: String should match pattern"),
])
def test_a_bad_entry_is_a_clear_configuration_error(entry, problem):
    with pytest.raises(ConfigurationError) as caught:
        _settings({"EMAIL": entry})
    assert str(caught.value).startswith(problem)


def test_adapters_are_imported_only_when_used():
    module = ADAPTERS["http"][0]
    sys.modules.pop(module, None)
    import journey_activity.providers  # noqa: F401 - the package alone

    assert module not in sys.modules
    adapter = provider_for(HttpProviderConfig(url="https://p.example.com/send"))
    assert type(adapter).__name__ == "HttpProvider"
    assert module in sys.modules


def test_the_new_errors_keep_the_asl_contract():
    assert issubclass(ProviderOutcomeUnknown, ProviderError)
    assert ProviderOutcomeUnknown.reason == "send_outcome_unknown"
    assert issubclass(ProviderOptedOut, ProviderError)
    assert ProviderOptedOut.reason == "opted_out"


def test_provider_options_are_parsed_and_checked():
    assert parse_provider_options(["EMAIL=ses", "sms=SMS-VOICE", "GCM=push"]) == {
        "EMAIL": "ses", "SMS": "sms-voice", "GCM": "push"}
    assert parse_provider_options(None) == {}
    for bad, message in [("EMAIL", "expected CHANNEL=KIND"), ("FAX=ses", "unknown channel 'FAX'"),
                         ("EMAIL=sendgrid", "unknown kind 'sendgrid'"), ("=ses", "expected CHANNEL=KIND")]:
        with pytest.raises(ValueError, match=message):
            parse_provider_options(bad.split(","))
    with pytest.raises(ValueError, match="EMAIL is given twice"):
        parse_provider_options(["EMAIL=ses", "EMAIL=http"])


def test_the_generic_stand_in_is_registered_as_http_and_speaks_the_protocol():
    assert set(KINDS) == {"http", "ses", "sms-voice", "push", "twilio"}
    setup = StandInSetup(receipts_base_url="http://127.0.0.1:9", signing_secret="s" * 16)
    with factory_for("http")(setup) as standin:
        assert isinstance(standin, StandIn)
        entry = standin.provider_config("SMS")
        assert entry == {"type": "http", "name": "http", "url": f"{standin.url}/messages"}
        assert isinstance(_settings({"SMS": entry}).provider_for("SMS"), HttpProviderConfig)
        assert standin.environment() == {}
        assert standin.describe()["url"] == f"{standin.url}/messages"
        standin.set_behaviour("+14155550100", "bounce")
    with pytest.raises(ValueError, match="unknown provider kind 'fax'"):
        factory_for("fax")
