"""The receipt verification, on messages as the receipts API queues them: size limit first,
signature before parsing, the replay window, and one signing secret per provider (Secrets
Manager or SSM, with two comma-separated values during a rotation); and the consumer: a forged,
stale or malformed message is refused, counted and deleted, never applied; only a transient
failure is left on the queue."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from journey_activity import aws, config
from journey_activity.handlers import _runtime, callback
from journey_activity.signing import signed_headers
from tests.conftest import LEDGER_KEYS
from tests.receipt_messages import queued

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


def post(provider: str, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    """One request as the receipts API queues it, through the callback function's verification:
    the verdict (status and body) the endpoint answered before the API queued receipts."""
    return callback.verdict(queued(provider, body, headers), Context())


def consume(*messages: dict[str, Any]) -> list[str]:
    """A batch of queue messages through the real handler: the ids it leaves on the queue."""
    answer = callback.handler({"Records": list(messages)}, Context())  # type: ignore[arg-type]
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def sms_provider(name: str, **fields: Any) -> dict[str, Any]:
    return {"SMS": {"name": name, "url": "https://sms.example.com/send", **fields}}


# -- size, order, replay -----------------------------------------------------------------------


def test_an_oversized_body_gets_413_before_anything_else(environment):
    environment()
    big = json.dumps({"message_id": "m", "status": "delivered", "pad": "x" * callback.MAX_BODY_BYTES})
    # Unsigned: the size is refused before the signature is even looked at.
    too_large = {"error": "too_large", "message": f"the body is over {callback.MAX_BODY_BYTES} bytes"}
    assert post("http", big, {}) == (413, too_large)
    status, answer = post("http", big, signed_headers(DEFAULT_SECRET, big))
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


# -- the consumer: refused, counted, deleted; only what passes is left for redelivery -------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The metrics the callback function adds, by name."""
    names: list[str] = []
    original = _runtime.metrics.add_metric

    def add_metric(name: str, **kwargs: Any) -> None:
        names.append(name)
        original(name=name, **kwargs)

    monkeypatch.setattr(_runtime.metrics, "add_metric", add_metric)
    return names


def test_a_forged_message_is_refused_counted_and_deleted_and_changes_nothing(environment, counted):
    environment()
    book = _runtime.ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="http")[0]
    book.mark_sent("batch-1", "ep-1", provider="http", message_id="msg-1", task_token="token-1")
    forged = queued("http", RECEIPT, signed_headers("not-the-secret", RECEIPT))
    unsigned = queued("http", RECEIPT, {})
    assert consume(forged, unsigned) == []  # deleted: never delivered again
    assert counted.count("ReceiptsRefused") == 2
    record = book.get("batch-1", "ep-1")
    assert (record["status"], record.get("receipt_status")) == ("SENT", None)


@pytest.mark.parametrize(("provider", "body"), [
    ("http", "{this is not json"),  # signed, then refused as no receipt
    ("http", json.dumps({"message_id": "m", "status": "delivered", "pad": "x" * (64 * 1024)})),  # too large
    ("http\n", RECEIPT),  # no route
])
def test_a_malformed_message_is_refused_counted_and_deleted(environment, counted, provider, body):
    environment()
    assert consume(queued(provider, body, signed_headers(DEFAULT_SECRET, body))) == []
    assert counted.count("ReceiptsRefused") == 1


def test_a_genuine_message_is_applied_and_deleted(environment, counted):
    environment()
    assert consume(queued("http", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))) == []
    assert counted == ["ReceiptsParked"]  # no send recorded msg-1: parked for its sender


def test_only_the_message_that_failed_for_a_passing_reason_is_left_on_the_queue(environment, monkeypatch):
    from journey_activity.handlers import callback as module

    environment()
    monkeypatch.setattr(aws.random, "uniform", lambda low, high: 0.0)  # no pauses in the test
    body = json.dumps({"message_id": "msg-throttled", "status": "delivered"})
    throttled = queued("http", body, signed_headers(DEFAULT_SECRET, body))
    fine = queued("http", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))
    original = module.park_or_apply_retrying

    def park_or_apply(book: Any, sfn: Any, provider: str, receipt: Any) -> Any:
        if receipt.message_id == "msg-throttled":
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "UpdateItem")
        return original(book, sfn, provider, receipt)

    monkeypatch.setattr(module, "park_or_apply_retrying", park_or_apply)
    assert consume(throttled, fine) == [throttled["messageId"]]


def test_a_secret_that_cannot_be_read_leaves_the_message_for_redelivery(environment):
    environment(sms_provider("sms-co", signing_secret_arn="ssm:/journey-activity/missing"))
    message = queued("sms-co", RECEIPT, signed_headers(DEFAULT_SECRET, RECEIPT))
    assert consume(message) == [message["messageId"]]


def test_a_message_delivered_again_later_is_judged_by_when_the_api_queued_it(environment):
    """The queue delivers a message again after its 180 s visibility timeout, up to 5 times: the
    signature's 5 minutes count from when the API took the request, not from the redelivery."""
    environment()
    signed_at = time.time() - 600  # signed and queued ten minutes ago, delivered only now
    headers = signed_headers(DEFAULT_SECRET, RECEIPT, now=signed_at)
    assert callback.verdict(queued("http", RECEIPT, headers, sent_at=signed_at + 2), Context())[0] == 202
    # A capture replayed to the API now is queued now: stale.
    status, answer = callback.verdict(queued("http", RECEIPT, headers), Context())
    assert (status, answer["error"]) == (401, "stale_timestamp")
