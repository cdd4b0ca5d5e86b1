"""The receipt endpoint, through the real Lambda handler: size limit first, signature before
parsing, the replay window, and one signing secret per provider (Secrets Manager or SSM, with
two comma-separated values during a rotation)."""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from journey_activity import aws, config
from journey_activity.handlers import _runtime, callback
from journey_activity.signing import signed_headers
from tests.conftest import LEDGER_KEYS

DEFAULT_SECRET = "default-secret-value"
RECEIPT = json.dumps({"message_id": "msg-1", "status": "delivered"})
TABLE = "security-test-ledger"


@dataclass
class Context:
    function_name: str = "CallbackFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:CallbackFunction"
    aws_request_id: str = "request-1"


def _reset() -> None:
    from aws_lambda_powertools.utilities.parameters import base

    config.reset_settings_cache()
    aws.reset_clients()
    _runtime.reset()
    base.clear_caches()
    base.DEFAULT_PROVIDERS.clear()


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, fake_aws: None) -> Iterator[Callable[..., None]]:
    """moto for Secrets Manager, SSM and the ledger; ``configure(providers={...})`` sets the
    callback function's environment as the template does."""
    for variable, value in {"POWERTOOLS_METRICS_NAMESPACE": "Test", "POWERTOOLS_METRICS_DISABLED": "true",
                            "LEDGER_TABLE": TABLE, "CALLBACK_SIGNING_SECRET": DEFAULT_SECRET}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("CALLBACK_SIGNING_SECRET_ARN", raising=False)
    monkeypatch.delenv("CHANNEL_PROVIDERS", raising=False)
    _reset()
    boto3.client("dynamodb").create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)

    def configure(providers: dict[str, Any] | None = None) -> None:
        if providers is not None:
            monkeypatch.setenv("CHANNEL_PROVIDERS", json.dumps(providers))
        _reset()

    yield configure
    _reset()


def post(provider: str, body: str, headers: dict[str, str], *, base64_encoded: bool = False) -> tuple[int, Any]:
    """One request through the real handler, as the HTTP API (payload 2.0) delivers it."""
    event = {
        "version": "2.0",
        "routeKey": "POST /receipts/{provider}",
        "rawPath": f"/receipts/{provider}",
        "rawQueryString": "",
        "headers": {key.lower(): value for key, value in {"Content-Type": "application/json", **headers}.items()},
        "pathParameters": {"provider": provider},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
                           "http": {"method": "POST", "path": f"/receipts/{provider}", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "provider"},
                           "requestId": str(uuid.uuid4()), "routeKey": "POST /receipts/{provider}",
                           "stage": "$default", "timeEpoch": int(time.time() * 1000)},
        "body": base64.b64encode(body.encode()).decode() if base64_encoded else body,
        "isBase64Encoded": base64_encoded,
    }
    answer = callback.handler(event, Context())  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"])


def sms_provider(name: str, **fields: Any) -> dict[str, Any]:
    return {"SMS": {"name": name, "url": "https://sms.example.com/send", **fields}}


# -- size, order, replay -----------------------------------------------------------------------


def test_an_oversized_body_gets_413_before_anything_else(environment):
    environment()
    big = json.dumps({"message_id": "m", "status": "delivered", "pad": "x" * callback.MAX_BODY_BYTES})
    # Unsigned: the size is refused before the signature is even looked at.
    too_large = {"error": "too_large", "message": f"the body is over {callback.MAX_BODY_BYTES} bytes"}
    assert post("http", big, {}) == (413, too_large)
    status, answer = post("http", big, signed_headers(DEFAULT_SECRET, big), base64_encoded=True)
    assert status == 413
    assert answer["error"] == "too_large"


def test_a_body_at_the_limit_is_not_refused_for_its_size(environment):
    environment()
    body = json.dumps({"message_id": "m", "status": "delivered", "pad": ""})
    body = body.replace('"pad": ""', '"pad": "' + "x" * (callback.MAX_BODY_BYTES - len(body)) + '"')
    assert len(body.encode()) == callback.MAX_BODY_BYTES
    assert post("http", body, signed_headers(DEFAULT_SECRET, body))[0] == 202


def test_a_forged_body_that_is_not_json_gets_401_not_400(environment):
    environment()
    forged = "{this is not json"
    status, answer = post("http", forged, signed_headers("not-the-secret", forged))
    assert (status, answer["error"]) == (401, "invalid_signature")
    # The same body signed with the right secret is parsed, and only then refused as not a receipt.
    assert post("http", forged, signed_headers(DEFAULT_SECRET, forged))[0] == 400


def test_a_valid_receipt_replayed_more_than_five_minutes_later_is_refused(environment):
    environment()
    captured = signed_headers(DEFAULT_SECRET, RECEIPT, now=time.time() - 301)
    status, answer = post("http", RECEIPT, captured)
    assert (status, answer["error"]) == (401, "stale_timestamp")
    # Within the window the same receipt is accepted (parked: no send recorded it yet) and a
    # repeat is a duplicate the ledger absorbs.
    fresh = signed_headers(DEFAULT_SECRET, RECEIPT, now=time.time() - 240)
    assert post("http", RECEIPT, fresh)[0] == 202
    assert post("http", RECEIPT, fresh)[0] == 202


# -- one secret per provider ---------------------------------------------------------------------


def test_a_provider_with_its_own_secrets_manager_secret(environment):
    arn = boto3.client("secretsmanager").create_secret(
        Name="journey-activity/sms-co-signing", SecretString="sms-co-secret")["ARN"]
    environment(sms_provider("sms-co", signing_secret_arn=arn))
    assert post("sms-co", RECEIPT, signed_headers("sms-co-secret", RECEIPT))[0] == 202
    # The default secret is not accepted for a provider that has its own...
    assert post("sms-co", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))[0] == 401
    # ...and the provider's secret is not accepted on another provider's path.
    assert post("http", RECEIPT, signed_headers("sms-co-secret", RECEIPT))[0] == 401
    assert post("http", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))[0] == 202


def test_a_provider_secret_in_ssm_with_two_values_during_rotation(environment):
    boto3.client("ssm").put_parameter(Name="/journey-activity/mail-co/signing", Type="SecureString",
                                      Value="old-mail-secret,new-mail-secret")
    environment(sms_provider("mail-co", signing_secret_arn="ssm:/journey-activity/mail-co/signing"))
    for secret in ("old-mail-secret", "new-mail-secret"):
        assert post("mail-co", RECEIPT, signed_headers(secret, RECEIPT))[0] == 202, secret
    assert post("mail-co", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))[0] == 401


def test_an_unknown_provider_uses_the_default_secret(environment):
    environment(sms_provider("sms-co", signing_secret_arn="ssm:/journey-activity/never-read"))
    assert post("other", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))[0] == 202


def test_a_throttled_read_of_the_providers_secret_is_read_again_not_refused(environment, monkeypatch):
    from tests.unit.test_security_secrets import throttled_secret_reads

    arn = boto3.client("secretsmanager").create_secret(
        Name="journey-activity/sms-co-signing", SecretString="sms-co-secret")["ARN"]
    environment(sms_provider("sms-co", signing_secret_arn=arn))
    monkeypatch.setattr(aws.random, "uniform", lambda low, high: 0.0)  # no pauses in the test
    with throttled_secret_reads(1) as asked:
        assert post("sms-co", RECEIPT, signed_headers("sms-co-secret", RECEIPT))[0] == 202
    assert len(asked) == 2


def test_a_provider_secret_that_cannot_be_read_is_a_500_without_details(environment):
    environment(sms_provider("sms-co", signing_secret_arn="ssm:/journey-activity/missing"))
    stream = io.StringIO()
    previous = _runtime.logger.registered_handler.setStream(stream)
    try:
        status, answer = post("sms-co", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))
    finally:
        _runtime.logger.registered_handler.setStream(previous)
    assert (status, answer["error"]) == (500, "secret_unavailable")
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines() if "could not be read" in line]
    assert line["error_type"] == "GetParameterError"


def test_the_signing_secret_reference_is_validated():
    from pydantic import ValidationError

    from journey_activity.config import HttpProviderConfig

    for good in ("arn:aws:secretsmanager:us-east-1:123456789012:secret:journey-activity/x-AbCdEf",
                 "secretsmanager:journey-activity/x", "ssm:/journey-activity/x",
                 "arn:aws:ssm:us-east-1:123456789012:parameter/journey-activity/x"):
        assert HttpProviderConfig(url="https://p.example.com", signing_secret_arn=good).signing_secret_arn == good
    with pytest.raises(ValidationError, match="signing_secret_arn"):
        HttpProviderConfig(url="https://p.example.com", signing_secret_arn="the-secret-itself")


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the parameters cache's clock on, as a warm container lives on."""
    from datetime import datetime, timedelta

    from aws_lambda_powertools.utilities.parameters import base

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(base, "datetime", Later)


def test_the_default_secret_rotates_on_a_warm_container(environment, monkeypatch):
    """The README's rotation (``old`` -> ``old,new`` -> provider on ``new`` -> ``new``) on one warm
    container: the default secret is read through the same 5-minute cache as provider secrets,
    not once for the container's life."""
    secrets_manager = boto3.client("secretsmanager")
    arn = secrets_manager.create_secret(Name="journey-activity/receipts", SecretString="old-secret")["ARN"]
    monkeypatch.delenv("CALLBACK_SIGNING_SECRET")
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET_ARN", arn)
    environment()
    assert post("http", RECEIPT, signed_headers("old-secret", RECEIPT))[0] == 202  # warm now

    secrets_manager.put_secret_value(SecretId=arn, SecretString="old-secret,new-secret")
    _later(monkeypatch, 301)
    assert post("http", RECEIPT, signed_headers("new-secret", RECEIPT))[0] == 202
    assert post("http", RECEIPT, signed_headers("old-secret", RECEIPT))[0] == 202

    secrets_manager.put_secret_value(SecretId=arn, SecretString="new-secret")
    _later(monkeypatch, 602)
    assert post("http", RECEIPT, signed_headers("new-secret", RECEIPT))[0] == 202
    assert post("http", RECEIPT, signed_headers("old-secret", RECEIPT))[0] == 401


@pytest.mark.parametrize("provider", ["0\n", "http\n", "http\r\n"])
def test_a_path_ending_in_a_newline_is_not_the_receipt_route(environment, provider):
    """The route's regular expression ends in "$", which matches before a final newline too:
    /receipts/http<newline> is no provider's route (found by the callback's property test)."""
    status, body = post(provider, "{}", {"content-type": "application/json"})
    assert status == 404, body
