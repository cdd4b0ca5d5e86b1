"""The configuration object in S3 (CONFIGURATION_OBJECT): read once per container, validated by
the same models as the environment, every problem a ConfigurationError naming the object."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from journey_activity import aws, config
from journey_activity.config import (
    OBJECT_KEYS,
    get_settings,
    load_settings,
    parse_object_uri,
    read_configuration_object,
    reset_settings_cache,
)
from journey_activity.errors import ConfigurationError
from journey_activity.settings import base as settings_base
from journey_activity.settings import configuration_object
from journey_activity.settings.invoker import InvokerSettings, get_invoker_settings

BUCKET, KEY = "journey-config", "journey-activity/configuration-v1.json"
URI = f"s3://{BUCKET}/{KEY}"
# An HTML e-mail of more than 64 KB: what no environment variable (4 KB in all) can hold.
HTML = "<!doctype html><html><body>" + "<p>Hello {{Profile.firstName|there}}, news.</p>" * 1500 + "</body></html>"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        aws.reset_clients()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    aws.reset_clients()
    reset_settings_cache()


def put(client: Any, document: Any, key: str = KEY) -> None:
    body = document if isinstance(document, (bytes, str)) else json.dumps(document)
    client.put_object(Bucket=BUCKET, Key=key, Body=body)


def error_of(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_uri_is_a_bucket_and_a_key():
    assert parse_object_uri("s3://my.bucket-1/a/b/c.json") == ("my.bucket-1", "a/b/c.json")


@pytest.mark.parametrize("uri", ["my-bucket/key.json", "s3://my-bucket", "s3://my-bucket/", "s3://My_Bucket/k",
                                 "https://my-bucket.s3.amazonaws.com/k", "s3://my-bucket/k.json?versionId=3"])
def test_a_malformed_uri_is_refused_by_name(uri):
    with pytest.raises(ConfigurationError, match="CONFIGURATION_OBJECT must be s3://<bucket>/<key>"):
        parse_object_uri(uri)


def test_the_object_holds_the_settings_under_the_variables_names(s3):
    document = {
        "CONNECT_ACTIONS": {"welcome": {"channel": "EMAIL", "message": {"subject": "Hi", "html": HTML}}},
        "CHANNEL_PROVIDERS": {"EMAIL": {"type": "http", "url": "https://mail.example.com/send"}},
        "PROVIDER_URL": "https://provider.example.com/messages",
        "ADDRESS_RULES": {"SMS": r"\+[0-9]{8,15}"},
        "EVENT_ATTRIBUTES": {"status": "status"},
        "RESULT_DATA": {"status": "status", "why": "reason"},
    }
    assert set(document) == set(OBJECT_KEYS)
    put(s3, document)
    settings = load_settings({"CONFIGURATION_OBJECT": URI, "LEDGER_TABLE": "ledger", "CONNECT_ACTIONS": ""})
    action = settings.connect_action("welcome")
    assert action is not None
    assert len(action.template().encode()) > 64 * 1024
    assert json.loads(action.template())["html"] == HTML
    assert settings.provider_for("EMAIL").url == "https://mail.example.com/send"  # type: ignore[union-attr]
    assert settings.provider_url == "https://provider.example.com/messages"
    assert settings.address_rules == {"SMS": r"\+[0-9]{8,15}"}
    assert settings.event_attributes == {"status": "status"}
    assert settings.result_data == {"status": "status", "why": "reason"}
    assert settings.ledger_table == "ledger"  # the rest still from the environment


def test_an_empty_document_changes_nothing(s3):
    put(s3, {})
    assert load_settings({"CONFIGURATION_OBJECT": URI}) == load_settings({})


def test_no_object_named_means_the_environment_alone():
    assert load_settings({"CONFIGURATION_OBJECT": "  ", "PROVIDER_URL": "https://p.example.com"}).provider_url == (
        "https://p.example.com")


def test_a_key_set_in_both_places_is_refused(s3):
    put(s3, {"CONNECT_ACTIONS": {"*": {"channel": "SMS", "message": "Hi"}}, "RESULT_DATA": {"status": "status"}})
    message = error_of({"CONFIGURATION_OBJECT": URI, "CONNECT_ACTIONS": '{"*": {"channel": "EMAIL"}}',
                        "RESULT_DATA": " "})
    assert message == (f"CONNECT_ACTIONS set both in the environment and in {URI}: set each in one place (leave "
                       "the template parameter empty when the configuration object holds it)")


def test_validation_errors_name_the_object_and_the_key(s3):
    put(s3, {"CONNECT_ACTIONS": {"welcome": {"channel": "FAX", "message": "Hi"}}})
    message = error_of({"CONFIGURATION_OBJECT": URI, "EVENT_ATTRIBUTES": '{"a": "b"}'})
    assert message.startswith(f"{URI}: CONNECT_ACTIONS.welcome.channel: ")
    assert "unknown channel type 'FAX'" in message


def test_errors_from_the_environment_still_name_the_variable_alone(s3):
    put(s3, {"CONNECT_ACTIONS": {}})
    message = error_of({"CONFIGURATION_OBJECT": URI, "ADDRESS_RULES": '{"SMS": "("}'})
    assert message.startswith("ADDRESS_RULES: ")


def test_a_json_string_instead_of_a_json_value_is_refused(s3):
    put(s3, {"CHANNEL_PROVIDERS": '{"SMS": {"url": "https://p.example.com"}}'})
    assert error_of({"CONFIGURATION_OBJECT": URI}) == (
        f"{URI}: CHANNEL_PROVIDERS must be a JSON value (an object), not a string holding JSON")


def test_unknown_keys_are_refused(s3):
    put(s3, {"LEDGER_TABLE": "other", "CALLBACK_SIGNING_SECRET": "x"})
    message = error_of({"CONFIGURATION_OBJECT": URI})
    assert message.startswith(f"{URI}: unknown keys ['CALLBACK_SIGNING_SECRET', 'LEDGER_TABLE']; ")
    assert "CONNECT_ACTIONS" in message


@pytest.mark.parametrize(("body", "expected"), [
    (b"{not json", "is not valid JSON: "),
    (b"\xff\xfe", "is not valid JSON: "),
    (b'["CONNECT_ACTIONS"]', "must be a JSON object"),
])
def test_a_malformed_document_is_named(s3, body, expected):
    put(s3, body)
    message = error_of({"CONFIGURATION_OBJECT": URI})
    assert message.startswith(f"the configuration object {URI} ")
    assert expected in message


def test_a_missing_object_is_named(s3):
    message = error_of({"CONFIGURATION_OBJECT": f"s3://{BUCKET}/missing.json"})
    assert message == f"cannot read the configuration object s3://{BUCKET}/missing.json: it does not exist"


def test_a_missing_bucket_is_named(s3):
    message = error_of({"CONFIGURATION_OBJECT": "s3://no-such-bucket-here/c.json"})
    assert message == ("cannot read the configuration object s3://no-such-bucket-here/c.json: the bucket "
                       "no-such-bucket-here does not exist")


def _stubbed(code: str, status: int) -> Stubber:
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_client_error("get_object", service_error_code=code, service_message="no", http_status_code=status,
                             expected_params={"Bucket": BUCKET, "Key": KEY})
    stubber.activate()
    aws._clients["s3"] = client
    return stubber


def test_a_denied_read_says_what_the_role_needs():
    stubber = _stubbed("AccessDenied", 403)
    try:
        message = error_of({"CONFIGURATION_OBJECT": URI})
    finally:
        aws.reset_clients()
    stubber.assert_no_pending_responses()
    assert message == (f"cannot read the configuration object {URI}: access denied (the function's role must "
                       f"allow s3:GetObject on arn:aws:s3:::{BUCKET}/{KEY}; the template grants it for "
                       "ConfigurationObject)")


def test_throttling_is_raised_as_it_comes_for_the_state_machine_to_retry():
    _stubbed("SlowDown", 503)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the point is which class it is not
            read_configuration_object(URI)
    finally:
        aws.reset_clients()
    assert not isinstance(caught.value, ConfigurationError)
    assert aws.is_throttling(caught.value)


def test_an_object_too_large_is_refused(s3, monkeypatch):
    monkeypatch.setattr(configuration_object, "MAX_CONFIGURATION_OBJECT_BYTES", 100)
    put(s3, {"PROVIDER_URL": "https://p.example.com/" + "x" * 200})
    assert error_of({"CONFIGURATION_OBJECT": URI}) == (
        f"the configuration object {URI} is 242 bytes; at most 100 are read")


def test_read_once_per_container_and_a_failed_read_is_tried_again(s3, monkeypatch):
    monkeypatch.setenv("CONFIGURATION_OBJECT", URI)
    for name in OBJECT_KEYS:
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    with pytest.raises(ConfigurationError, match="it does not exist"):
        get_settings()
    put(s3, {"PROVIDER_URL": "https://one.example.com"})
    reads: list[str] = []
    aws.client("s3").meta.events.register("before-call.s3.GetObject", lambda **_: reads.append("read"))
    assert get_settings().provider_url == "https://one.example.com"
    put(s3, {"PROVIDER_URL": "https://two.example.com"})
    assert get_settings().provider_url == "https://one.example.com"  # cached: changes need a new key
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", "s1")
    with_secrets = config.get_settings_with_secrets()  # the callback's: the same document, not read again
    assert (with_secrets.provider_url, with_secrets.callback_signing_secrets) == ("https://one.example.com", ["s1"])
    assert reads == ["read"]
    reset_settings_cache()
    assert get_settings().provider_url == "https://two.example.com"


def test_the_invoker_reads_its_keys_from_the_same_object_once(s3, monkeypatch):
    monkeypatch.setenv("CONFIGURATION_OBJECT", URI)
    for name in OBJECT_KEYS:
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    put(s3, {"CONNECT_ACTIONS": {"welcome": {"channel": "EMAIL", "message": {"html": HTML}}},
             "CHANNEL_PROVIDERS": {"EMAIL": {"type": "http", "url": "https://mail.example.com/send"}},
             "RESULT_DATA": {"status": "status", "why": "reason"}})
    reads: list[str] = []
    aws.client("s3").meta.events.register("before-call.s3.GetObject", lambda **_: reads.append("read"))
    invoker = get_invoker_settings()
    action = invoker.connect_action("welcome")
    assert action is not None
    assert json.loads(action.template())["html"] == HTML
    assert invoker.result_data == {"status": "status", "why": "reason"}
    assert not hasattr(invoker, "channel_providers")  # the senders' setting: not the invoker's to read
    assert get_settings().provider_for("EMAIL").url == "https://mail.example.com/send"  # type: ignore[union-attr]
    assert reads == ["read"]  # one GetObject per container, whichever function's settings ask


def test_the_invoker_refuses_a_bad_object_as_every_function_does(s3):
    put(s3, {"CONNECT_ACTIONS": {}, "SENDERS": {}})
    with pytest.raises(ConfigurationError, match=r"unknown keys \['SENDERS'\]"):
        settings_base.load_settings({"CONFIGURATION_OBJECT": URI}, InvokerSettings)
    put(s3, {"RESULT_DATA": {"why": "reason"}})
    with pytest.raises(ConfigurationError, match=f'^{URI}: RESULT_DATA: .*must keep "status"'):
        settings_base.load_settings({"CONFIGURATION_OBJECT": URI}, InvokerSettings)
