"""Configuration from the environment: every variable, and loud, named errors."""

from __future__ import annotations

import json

import pytest

from journey_activity.config import DEFAULT_EVENT_ATTRIBUTES, HttpProviderConfig, Settings, settings_from
from journey_activity.errors import ConfigurationError


def config_error(environ: dict[str, str], *, one_line: bool = True) -> str:
    with pytest.raises(ConfigurationError) as caught:
        settings_from(environ)
    message = str(caught.value)
    assert caught.value.__cause__ is None
    if one_line:
        assert "\n" not in message
    return message


def test_defaults():
    s = settings_from({})
    assert s == Settings()
    assert s.ledger_table == "journey-activity-ledger"
    assert s.state_machine_arn is None
    assert s.invoker_deadline_seconds is None
    assert s.deadline_seconds("connect") == 25
    assert s.connect_deadline_seconds + 1.5 + 1 < 30
    assert s.deadline_seconds("pinpoint") == 10
    assert s.pinpoint_deadline_seconds + 1.5 + 1 < 15
    assert s.result_data == {"status": "status", "reason": "reason", "channel": "channel", "provider": "provider",
                             "attempts": "attempts"}
    assert s.receipt_heartbeat_seconds < s.receipt_timeout_seconds
    assert s.channel_providers == {}
    assert s.provider_url is None
    assert s.address_rules == {}
    assert s.event_attributes == DEFAULT_EVENT_ATTRIBUTES
    assert s.callback_signing_secrets == []
    assert s.ledger_ttl_days == 100
    assert s.report_sink == "eventbridge"
    assert s.effective_report_sink == "eventbridge"
    assert s.report_events is True


def test_empty_and_blank_variables_mean_the_default():
    assert settings_from({"LEDGER_TABLE": "", "CHANNEL_PROVIDERS": "   ", "LEDGER_TTL_DAYS": ""}) == Settings()


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("LEDGER_TABLE", "my-ledger", "ledger_table", "my-ledger"),
        (
            "STATE_MACHINE_ARN",
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            "state_machine_arn",
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
        ),
        ("INVOKER_DEADLINE_SECONDS", "7.5", "invoker_deadline_seconds", 7.5),
        ("CONNECT_DEADLINE_SECONDS", "20", "connect_deadline_seconds", 20),
        ("PINPOINT_DEADLINE_SECONDS", "12", "pinpoint_deadline_seconds", 12),
        ("RESULT_DATA", '{"status": "status", "tries": "attempts", "ok": "status == \'DELIVERED\'"}', "result_data",
         {"status": "status", "tries": "attempts", "ok": "status == 'DELIVERED'"}),
        ("RECEIPT_TIMEOUT_SECONDS", "3600", "receipt_timeout_seconds", 3600),
        ("RECEIPT_HEARTBEAT_SECONDS", "60", "receipt_heartbeat_seconds", 60),
        ("LEDGER_TTL_DAYS", "93", "ledger_ttl_days", 93),
        ("PROVIDER_URL", "https://p.example.com/send", "provider_url", "https://p.example.com/send"),
        ("ADDRESS_RULES", '{"CUSTOM": "^https://.+"}', "address_rules", {"CUSTOM": "^https://.+"}),
        (
            "EVENT_ATTRIBUTES",
            '{"status": "status", "why": "reason"}',
            "event_attributes",
            {"status": "status", "why": "reason"},
        ),
        ("SIGNATURE_TOLERANCE_SECONDS", "60", "signature_tolerance_seconds", 60),
        ("REPORT_EVENTS", "false", "report_events", False),
        ("REPORT_EVENTS", "true", "report_events", True),
        ("EVENT_TYPE_PREFIX", "acme", "event_type_prefix", "acme"),
    ],
)
def test_each_variable(variable, raw, field, expected):
    assert getattr(settings_from({variable: raw}), field) == expected


def test_channel_providers():
    raw = json.dumps(
        {
            "*": {"url": "https://default.example.com/send"},
            "EMAIL": {
                "url": "https://mail.example.com/send",
                "name": "mailer",
                "headers": {"Authorization": "Bearer x"},
                "timeout_seconds": 2,
                "callback_url": "https://cb.example.com/receipts",
            },
            "VOICE": None,
        }
    )
    s = settings_from({"CHANNEL_PROVIDERS": raw})
    email = s.provider_for("EMAIL")
    assert email == HttpProviderConfig(
        url="https://mail.example.com/send",
        name="mailer",
        headers={"Authorization": "Bearer x"},
        timeout_seconds=2,
        callback_url="https://cb.example.com/receipts",
    )
    default = s.provider_for("SMS")
    assert default is not None
    assert default.url == "https://default.example.com/send"
    assert s.provider_for("VOICE") is None


def test_signing_secrets_are_read_only_when_asked():
    environ = {"CALLBACK_SIGNING_SECRET": "new-secret,old-secret,"}
    assert settings_from(environ).callback_signing_secrets == []
    assert settings_from(environ, with_secrets=True).callback_signing_secrets == ["new-secret", "old-secret"]


@pytest.mark.parametrize("variable", ["CHANNEL_PROVIDERS", "ADDRESS_RULES", "EVENT_ATTRIBUTES"])
def test_invalid_json_names_the_variable(variable):
    message = config_error({variable: "{not json"})
    assert message.startswith(variable)
    assert "JSON" in message


@pytest.mark.parametrize("variable", ["CHANNEL_PROVIDERS", "ADDRESS_RULES", "EVENT_ATTRIBUTES"])
def test_json_of_the_wrong_shape_names_the_variable(variable):
    assert variable in config_error({variable: "[1, 2]"})


def test_unknown_channel_type_in_channel_providers():
    message = config_error({"CHANNEL_PROVIDERS": json.dumps({"FAX": {"url": "https://fax.example.com"}})})
    assert "CHANNEL_PROVIDERS" in message
    assert "FAX" in message


def test_unknown_channel_type_in_address_rules():
    message = config_error({"ADDRESS_RULES": json.dumps({"PIGEON": ".+"})})
    assert "ADDRESS_RULES" in message
    assert "PIGEON" in message


def test_provider_without_an_http_url():
    message = config_error({"CHANNEL_PROVIDERS": json.dumps({"SMS": {"url": "ftp://x.example.com"}})})
    assert "CHANNEL_PROVIDERS" in message
    assert "SMS" in message


def test_provider_with_an_unknown_key():
    message = config_error({"CHANNEL_PROVIDERS": json.dumps({"SMS": {"url": "https://x.example.com", "ulr": "x"}})})
    assert "CHANNEL_PROVIDERS" in message
    assert "ulr" in message


def test_more_than_five_event_attributes():
    raw = json.dumps({f"a{i}": "status" for i in range(6)})
    message = config_error({"EVENT_ATTRIBUTES": raw})
    assert "EVENT_ATTRIBUTES" in message
    assert "5" in message


def test_five_event_attributes_are_fine():
    raw = json.dumps({f"a{i}": "status" for i in range(5)})
    assert len(settings_from({"EVENT_ATTRIBUTES": raw}).event_attributes) == 5


def test_invalid_jmespath():
    # jmespath's own message points at the error with a caret on a second line: kept.
    message = config_error({"EVENT_ATTRIBUTES": json.dumps({"status": "status[", "ok": "reason"})}, one_line=False)
    assert "EVENT_ATTRIBUTES" in message
    assert "status[" in message


def test_attribute_name_too_long():
    message = config_error({"EVENT_ATTRIBUTES": json.dumps({"x" * 129: "status"})})
    assert "EVENT_ATTRIBUTES" in message


@pytest.mark.parametrize(
    ("heartbeat", "timeout"),
    [("900", "900"), ("901", "900"), ("300", "60")],
)
def test_heartbeat_must_be_below_timeout(heartbeat, timeout):
    message = config_error({"RECEIPT_HEARTBEAT_SECONDS": heartbeat, "RECEIPT_TIMEOUT_SECONDS": timeout})
    assert "RECEIPT_HEARTBEAT_SECONDS" in message


def test_heartbeat_alone_above_the_default_timeout():
    assert "RECEIPT_HEARTBEAT_SECONDS" in config_error({"RECEIPT_HEARTBEAT_SECONDS": "1000"})


def test_bad_regex_in_address_rules():
    message = config_error({"ADDRESS_RULES": json.dumps({"CUSTOM": "(unclosed"})})
    assert "ADDRESS_RULES" in message
    assert "CUSTOM" in message


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("RECEIPT_TIMEOUT_SECONDS", "1"),
        ("RECEIPT_TIMEOUT_SECONDS", "many"),
        ("INVOKER_DEADLINE_SECONDS", "0"),
        # Connect documents 30 s: a longer wait leaves no room for a cold start and the answer.
        ("CONNECT_DEADLINE_SECONDS", "27"),
        ("PINPOINT_DEADLINE_SECONDS", "13"),
        ("RESULT_DATA", '{"tries": "attempts"}'),
        ("RESULT_DATA", '{"status": "status", "truncated": "attempts"}'),
        ("RESULT_DATA", '{"status": "status["}'),
        ("REPORT_EVENTS", "perhaps"),
        ("LEDGER_TTL_DAYS", "-1"),
        # Shorter than an execution name stays reserved (90 days after a run of up to 3 days).
        ("LEDGER_TTL_DAYS", "92"),
        ("LEDGER_TTL_DAYS", "30"),
    ],
)
def test_bad_scalar_values_name_the_variable(variable, raw):
    assert config_error({variable: raw}).startswith(variable)


def test_each_trigger_has_its_deadline_and_the_override_applies_to_both():
    s = settings_from({"CONNECT_DEADLINE_SECONDS": "20", "PINPOINT_DEADLINE_SECONDS": "8"})
    assert (s.deadline_seconds("connect"), s.deadline_seconds("pinpoint")) == (20, 8)
    s = settings_from({"CONNECT_DEADLINE_SECONDS": "20", "INVOKER_DEADLINE_SECONDS": "0.5"})
    assert (s.deadline_seconds("connect"), s.deadline_seconds("pinpoint")) == (0.5, 0.5)


def test_several_problems_are_all_named():
    message = config_error({"INVOKER_DEADLINE_SECONDS": "0", "LEDGER_TTL_DAYS": "0"})
    assert "INVOKER_DEADLINE_SECONDS" in message
    assert "LEDGER_TTL_DAYS" in message


# -- settings per function ---------------------------------------------------------------------------


def test_the_invoker_reads_only_its_settings():
    from journey_activity.settings.base import settings_from as build
    from journey_activity.settings.invoker import InvokerSettings

    # The senders', the callback's and the receipt queue's settings, broken: none of the invoker's business.
    environ = {"CHANNEL_PROVIDERS": "{not json", "ADDRESS_RULES": '{"SMS": "("}', "SENDER_FUNCTIONS": '{"x": 1}',
               "RECEIPT_HEARTBEAT_SECONDS": "900", "REPORT_SINK": "kafka", "CONNECT_DEADLINE_SECONDS": "20",
               "CONNECT_ACTIONS": '{"*": {"channel": "SMS", "message": "Hi"}}', "LEDGER_TABLE": "ledger"}
    invoker = build(environ, InvokerSettings)
    assert invoker.deadline_seconds("connect") == 20
    assert invoker.ledger_table == "ledger"
    assert invoker.connect_action("any") is not None
    assert config_error(environ).startswith("CHANNEL_PROVIDERS is not valid JSON")  # the full settings still refuse


def test_the_invoker_names_its_own_bad_settings_as_before():
    from journey_activity.settings.base import settings_from as build
    from journey_activity.settings.invoker import InvokerSettings

    environ = {"CONNECT_DEADLINE_SECONDS": "40", "RESULT_DATA": '{"why": "reason"}', "LEDGER_TTL_DAYS": "5"}
    with pytest.raises(ConfigurationError) as caught:
        build(environ, InvokerSettings)
    assert str(caught.value) == config_error(environ)


@pytest.mark.parametrize(("handler", "own"), [
    ("invoker", "invoker"), ("validate", "validate"), ("send", "providers"), ("callback", "callback"),
    ("receipt_queue", "providers"), ("compile", "compile"), ("compile", "reporting"), ("finalize", "reporting"),
])
def test_each_handler_imports_its_own_settings_and_not_all_of_them(handler, own):
    import subprocess
    import sys

    code = (f"import sys, journey_activity.handlers.{handler}; "
            "print(sorted(m for m in sys.modules if m.startswith('journey_activity.')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert f"'journey_activity.settings.{own}'" in loaded
    assert "'journey_activity.config'" not in loaded
    if handler == "invoker":  # nothing of the providers, senders, receipts or reporting
        for module in ("settings.providers", "providers", "senders", "receipts", "reporting", "validation"):
            assert f"'journey_activity.{module}'" not in loaded, module


# Each function's model, and a setting it does not read, broken.
_BROKEN = {"CHANNEL_PROVIDERS": "{not json", "ADDRESS_RULES": '{"SMS": "("}', "SENDER_FUNCTIONS": '{"x": 1}',
           "RECEIPT_HEARTBEAT_SECONDS": "900", "REPORT_SINK": "kafka", "CONNECT_ACTIONS": "[",
           "RESULT_DATA": "{}", "EVENT_ATTRIBUTES": '{"a": "("}', "SIGNATURE_TOLERANCE_SECONDS": "0",
           "CONNECT_DEADLINE_SECONDS": "99", "WAIT_MODE": "batch", "GROUP_SIZE": "0"}


@pytest.mark.parametrize("name", ["InvokerSettings", "CompileSettings", "ProviderSettings", "ValidateSettings",
                                  "CallbackSettings", "ReportSettings"])
def test_each_function_validates_only_the_settings_it_reads(name):
    from journey_activity import config
    from journey_activity.settings.base import ENV, FunctionSettings
    from journey_activity.settings.base import settings_from as build

    model: type[FunctionSettings] = getattr(config, name)
    assert issubclass(config.Settings, model)
    read = {ENV[field][0] for field in model.model_fields if field in ENV}
    unread = {variable: raw for variable, raw in _BROKEN.items() if variable not in read}
    assert build(unread, model) == model()
    for variable in sorted(set(_BROKEN) & read):  # what it reads fails it as it fails every function
        with pytest.raises(ConfigurationError) as caught:
            build({variable: _BROKEN[variable]}, model)
        assert str(caught.value) == config_error({variable: _BROKEN[variable]}), variable


def test_every_setting_is_some_function_s():
    from journey_activity import config
    from journey_activity.settings.base import ENV

    models = (config.InvokerSettings, config.ValidateSettings, config.CallbackSettings, config.ReportSettings)
    fields = set().union(*(model.model_fields for model in models))
    assert fields == set(config.Settings.model_fields)
    assert set(ENV) == fields - {"callback_signing_secrets"}
