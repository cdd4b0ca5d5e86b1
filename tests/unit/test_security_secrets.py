"""Provider header values that reference secrets: resolved at send time (Secrets Manager, SSM
SecureString), cached, and never written to logs, errors, the ledger or the execution."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from journey_activity.config import HttpProviderConfig
from journey_activity.errors import ProviderRejected, ProviderUnavailable
from journey_activity.handlers import _runtime
from journey_activity.providers.http import HttpProvider
from journey_activity.security import resolve_headers
from tests.unit.test_security_provider_urls import REQUEST, serve  # noqa: F401 - the fixture

TOKEN = "Bearer sk_live_do-not-leak-7f3a"
API_KEY = "ssm-api-key-9c1e"


def _clear_parameter_caches() -> None:
    from aws_lambda_powertools.utilities.parameters import base

    base.clear_caches()
    base.DEFAULT_PROVIDERS.clear()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, fake_aws: None) -> Iterator[dict[str, str]]:
    """A Secrets Manager secret and an SSM SecureString in moto; the references to them."""
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "true")
    _clear_parameter_caches()
    arn = boto3.client("secretsmanager").create_secret(Name="journey-activity/sms-token", SecretString=TOKEN)["ARN"]
    boto3.client("ssm").put_parameter(Name="/journey-activity/sms-key", Type="SecureString", Value=API_KEY)
    yield {"Authorization": f"secretsmanager:{arn}", "X-Api-Key": "ssm:/journey-activity/sms-key",
           "X-Plain": "not-a-secret"}
    _clear_parameter_caches()


@contextmanager
def logs() -> Iterator[io.StringIO]:
    """Everything the functions' Powertools logger writes, through its real formatter."""
    stream = io.StringIO()
    previous = _runtime.logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        _runtime.logger.registered_handler.setStream(previous)


def test_references_are_resolved_at_send_time(secrets, serve):  # noqa: F811 - the fixture
    server = serve()
    config_ = HttpProviderConfig(url=f"http://127.0.0.1:{server.server_address[1]}/send", headers=secrets)
    # The configuration (what the environment and any execution input carry) holds references only.
    assert TOKEN not in config_.model_dump_json()
    assert API_KEY not in config_.model_dump_json()
    HttpProvider(config_).send(REQUEST)
    headers = server.seen[0]["headers"]
    assert headers["Authorization"] == TOKEN
    assert headers["X-Api-Key"] == API_KEY
    assert headers["X-Plain"] == "not-a-secret"


def test_resolved_values_are_cached(secrets):
    assert resolve_headers(secrets)[0]["Authorization"] == TOKEN
    boto3.client("secretsmanager").put_secret_value(SecretId="journey-activity/sms-token", SecretString="rotated")
    # Within max_age the cached value is used (no Secrets Manager call per send)...
    assert resolve_headers(secrets)[0]["Authorization"] == TOKEN
    _clear_parameter_caches()
    # ...and once the cache expires the rotated value is read.
    assert resolve_headers(secrets)[0]["Authorization"] == "rotated"


def test_secret_reads_use_the_standard_retry_mode_of_every_other_client(secrets):
    """A throttled GetSecretValue / GetParameter is retried as the project's own calls are."""
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    from journey_activity import aws

    assert resolve_headers(secrets)[0]["Authorization"] == TOKEN
    for kind, service in (("secrets", "secretsmanager"), ("ssm", "ssm")):
        used = DEFAULT_PROVIDERS[kind].client.meta.config
        assert used.retries == aws.client(service).meta.config.retries, kind
        assert used.retries["mode"] == "standard", kind
        assert (used.connect_timeout, used.read_timeout) == (3, 10), kind


def test_a_provider_echoing_the_secret_does_not_put_it_in_the_error(secrets, serve):  # noqa: F811
    def echo(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        return 401, {"Content-Type": "text/plain"}, f"bad credentials: {request['headers']['Authorization']}".encode()

    server = serve(echo)
    url = f"http://127.0.0.1:{server.server_address[1]}/send"
    provider = HttpProvider(HttpProviderConfig(url=url, headers=secrets))
    with logs() as stream, pytest.raises(ProviderRejected) as caught:
        provider.send(REQUEST)
    assert TOKEN not in str(caught.value)
    assert "bad credentials: ***" in str(caught.value)
    assert TOKEN not in stream.getvalue()


def test_a_missing_secret_is_a_rejection_naming_no_value(secrets, serve):  # noqa: F811
    server = serve()
    headers = {"Authorization": "secretsmanager:journey-activity/does-not-exist"}
    url = f"http://127.0.0.1:{server.server_address[1]}/send"
    provider = HttpProvider(HttpProviderConfig(url=url, headers=headers))
    with pytest.raises(ProviderRejected, match=r"could not be read \(GetParameterError\)"):
        provider.send(REQUEST)
    assert server.seen == []


def test_an_empty_reference_is_a_configuration_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a name"):
        HttpProviderConfig(url="https://p.example.com", headers={"Authorization": "ssm:"})


def test_the_secret_never_reaches_the_ledger_the_execution_or_the_logs(tmp_path):
    """The whole workflow on the embedded engine, with the provider's Authorization header a
    Secrets Manager reference. The functions run in their own processes: their logs are read
    from the file they write to, through their real logger and formatter."""
    from journey_activity.triggers.pinpoint import batch_id_for
    from journey_activity_local.stack import LocalEnvironment, LocalOptions

    event = {
        "Message": {}, "Data": "Hi {{User.UserAttributes.FirstName|there}}", "ApplicationId": "app-security",
        "JourneyId": "journey-1", "ActivityId": "activity-1", "TreatmentId": "0",
        "ScheduledTime": "2026-11-23T09:00:00.000Z",
        "Endpoints": {"sms-1": {"ChannelType": "SMS", "Address": "+14155550123", "EndpointStatus": "ACTIVE",
                                "OptOut": "NONE", "User": {"UserAttributes": {"FirstName": ["Ana"]}}}},
    }
    function_log = tmp_path / "functions.log"
    options = LocalOptions(receipt_delay=0.05, receipt_timeout_seconds=20, receipt_heartbeat_seconds=10,
                           deadline_seconds=8, log_level="DEBUG", function_log=function_log)
    with LocalEnvironment(options) as local:
        boto3.client("secretsmanager").create_secret(Name="journey-activity/standin-token", SecretString=TOKEN)
        reference = "secretsmanager:journey-activity/standin-token"
        local.set_environment(CHANNEL_PROVIDERS=json.dumps(
            {"*": {"url": f"{local.provider.url}/messages", "headers": {"Authorization": reference}}}))
        response = local.invoke(event)
        assert response["sms-1"]["EventAttributes"]["status"] == "DELIVERED", response
        batch_id = batch_id_for(event)
        arn = local.execution_arn(batch_id)
        local.wait_for_execution(arn)
        described = boto3.client("stepfunctions").describe_execution(executionArn=arn)
        recorded = json.dumps([response, local.ledger_records(batch_id), local.history(arn),
                               described.get("input"), described.get("output"), local.event_bus.events()],
                              default=str)
        assert local.event_bus.events(), "no engagement events were reported: nothing to search"
        assert TOKEN not in recorded
    logged = function_log.read_text()
    assert "InvokerFunction" in logged, "the functions logged nothing: the capture is not on their logs"
    assert TOKEN not in logged
    # Personal data is redacted in those logs by default too.
    assert "+14155550123" not in logged


@contextmanager
def throttled_secret_reads(times: int) -> Iterator[list[str]]:
    """GetSecretValue throttled ``times`` times (as when throttling outlasts the SDK's retries,
    the local run's ``--aws-faults``), then answered; yields the secret ids asked for."""
    from botocore.exceptions import ClientError

    from journey_activity import aws

    asked: list[str] = []

    def throttle(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("SecretId", ""))
        if len(asked) <= times:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "GetSecretValue")

    _clear_parameter_caches()
    events = aws.client("secretsmanager").meta.events
    events.register("before-call.secrets-manager.GetSecretValue", throttle)
    try:
        yield asked
    finally:
        events.unregister("before-call.secrets-manager.GetSecretValue", throttle)
        _clear_parameter_caches()


def test_a_throttled_secret_read_is_retried_by_the_state_machine_not_a_rejection(secrets, serve):  # noqa: F811
    """Nothing was sent, so the send is ProviderUnavailable (the ASL retries it, as after a
    refused connection), not a rejection that would fail the endpoint for good."""
    server = serve()
    url = f"http://127.0.0.1:{server.server_address[1]}/send"
    provider = HttpProvider(HttpProviderConfig(url=url, headers={"Authorization": secrets["Authorization"]}))
    with throttled_secret_reads(1), pytest.raises(ProviderUnavailable, match=r"could not be read now "
                                                                            r"\(GetParameterError\); nothing was sent"):
        provider.send(REQUEST)
    assert server.seen == []
    with throttled_secret_reads(0):
        provider.send(REQUEST)  # the state machine's retry
    assert server.seen[0]["headers"]["Authorization"] == TOKEN


def test_only_transient_causes_make_a_secret_read_transient():
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from botocore.exceptions import ClientError, EndpointConnectionError

    from journey_activity.security import secret_read_is_transient

    def wrapped(cause: BaseException) -> GetParameterError:
        try:
            try:
                raise cause
            except Exception as error:
                raise GetParameterError(str(error))  # noqa: B904 - as Powertools does: chained by context
        except GetParameterError as raised:
            return raised

    def client_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetSecretValue")

    assert secret_read_is_transient(wrapped(client_error("ThrottlingException", 400)))
    assert secret_read_is_transient(wrapped(client_error("InternalServiceError", 500)))
    assert secret_read_is_transient(wrapped(EndpointConnectionError(endpoint_url="https://secretsmanager")))
    assert not secret_read_is_transient(wrapped(client_error("ResourceNotFoundException", 400)))
    assert not secret_read_is_transient(wrapped(client_error("AccessDeniedException", 400)))
    assert not secret_read_is_transient(ValueError("not a secretsmanager: or ssm: reference"))
