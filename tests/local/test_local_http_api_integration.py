"""The local HTTP API serves the template's SQS-SendMessage integration as API Gateway does: the
request parameters mapped from the request, SendMessage made under the integration's role (the
local IAM enforces it), 200 with SQS's answer, 500 when SQS or IAM refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3

from journey_activity_local.engine import aws_guards
from journey_activity_local.engine.http_api import LocalHttpApi, ServiceIntegration, map_parameter
from journey_activity_local.runtime.lambda_endpoint import LambdaRegistry
from journey_activity_local.template import Template
from tests.lint.test_template import ROOT

REGION = "us-east-1"


def _integration(queue_url: str) -> ServiceIntegration:
    """The template's own integration, its QueueUrl resolved to the test's queue."""
    template = Template(ROOT / "template.yaml")
    settings = template.resources["ReceiptsIntegration"]["Properties"]
    parameters = {key: str(template.resolve(value, {"CallbackQueue": queue_url}))
                  for key, value in settings["RequestParameters"].items()}
    return ServiceIntegration(method="POST", path="/receipts/{provider}", subtype=settings["IntegrationSubtype"],
                              role="ReceiptsApiRole", parameters=parameters)


@pytest.fixture
def queue(fake_aws: None) -> Iterator[tuple[str, str]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="callback-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield url, arn
    aws_guards.uninstall()


def _guard(statements: list[dict[str, Any]]) -> None:
    aws_guards.install(aws_guards.GuardConfig(principals={"ReceiptsApiRole": aws_guards.Principal(
        role="ReceiptsApiRole", statements=tuple(statements))}))


def _post(api: LocalHttpApi, path: str, body: str, headers: dict[str, str]) -> int:
    return int(urllib3.PoolManager().request("POST", f"{api.url}{path}", body=body.encode(), headers=headers,
                                             retries=False).status)


def test_a_request_is_queued_with_what_verification_needs(queue):
    url, arn = queue
    _guard([{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}])
    with LocalHttpApi(LambdaRegistry({})) as api:
        api.use_integrations([_integration(url)], REGION)
        status = _post(api, "/receipts/twilio?ja_key=abc&other=1", "MessageSid=SM1&MessageStatus=sent",
                       {"X-Twilio-Signature": "c2lnbmVk", "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    [message] = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == "MessageSid=SM1&MessageStatus=sent"
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["provider"] == "v=twilio"
    assert attributes["twilio_signature"] == "v=c2lnbmVk"
    assert attributes["ja_key"] == "v=abc"
    assert attributes["signature"] == "v="  # a header the request lacks: "v=", never empty
    assert attributes["domain"].startswith("v=127.0.0.1:")


def test_the_integrations_role_is_enforced(queue):
    url, _ = queue
    _guard([{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:other"}])
    with LocalHttpApi(LambdaRegistry({})) as api:
        api.use_integrations([_integration(url)], REGION)
        assert _post(api, "/receipts/http", "{}", {}) == 500
    assert aws_guards.denials()[0].action == "sqs:SendMessage"
    assert "Messages" not in boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=url)


def test_an_empty_body_is_refused_as_sqs_refuses_it(queue):
    url, arn = queue
    _guard([{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}])
    with LocalHttpApi(LambdaRegistry({})) as api:
        api.use_integrations([_integration(url)], REGION)
        assert _post(api, "/receipts/http", "", {}) == 500
        assert api.queued == 0


def test_mapping_expressions():
    context = {"domainName": "api.example.com"}
    headers = {"X-Signature": "v1=ab", "Accept": "a"}
    assert map_parameter("$request.body", "raw", headers, {}, "", context) == "raw"
    assert map_parameter("$request.header.x-signature", "", headers, {}, "", context) == "v1=ab"
    mapped = map_parameter('{"a": "v=${request.querystring.k}", "b": "${request.path.p}/${context.domainName}",'
                           ' "c": "${request.header.missing}"}', "", headers, {"p": "twilio"}, "k=1&k=2", context)
    assert json.loads(mapped) == {"a": "v=1,2", "b": "twilio/api.example.com", "c": ""}
