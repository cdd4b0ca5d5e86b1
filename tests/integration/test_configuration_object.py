"""The configuration object (ConfigurationObject) end to end on the local engine: the functions read
it from the local S3 through the product's own loader, under their roles' IAM, once per container;
settings that cannot fit Lambda's 4 KB of environment are sent whole."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from journey_activity_local.engine.limits import EnvironmentTooLargeError
from journey_activity_local.stack import CONFIGURATION_BUCKET, CONFIGURATION_URI, LocalEnvironment, LocalInvokeError

pytestmark = pytest.mark.integration

ACTION = "Monthly newsletter"
# An HTML e-mail of more than 64 KB, with the profile's fields in it.
SECTION = ('<tr><td style="padding:16px;font-family:Arial,sans-serif;font-size:15px;color:#333">'
           "<h2>{{Profile.firstName|there}}, this month at Example</h2><p>Offers picked for your "
           "{{Profile.attributes.plan|}} plan, with the details you asked about.</p></td></tr>\n")
HTML = ('<!doctype html><html><head><meta charset="utf-8"><title>News</title></head><body><table width="600">\n'
        + SECTION * 300 + "</table></body></html>")
# The HTTP provider's headers map (its only free-form setting) of more than 64 KB: 50 headers.
HEADERS = {f"X-Tenant-Policy-{index:02d}": hashlib.sha256(str(index).encode()).hexdigest() * 21
           for index in range(50)}


def profile(name: str, plan: str) -> dict[str, Any]:
    profile_id = hashlib.md5(name.encode()).hexdigest()  # noqa: S324 - 32 hex characters, like Connect's ids
    data = {"profileId": profile_id, "firstName": name, "emailAddress": f"{name.lower()}@example.com",
            "attributes": {"plan": plan}}
    return {"ProfileId": profile_id, "CustomerData": json.dumps(data),
            "IdempotencyToken": hashlib.sha256(name.encode()).hexdigest()}


def event(*profiles: dict[str, Any]) -> dict[str, Any]:
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-news", "RunId": "c-news#2026-12-07T09-00-00Z",
                                                       "ActionId": ACTION, "CampaignName": "newsletter"}},
            "Items": {"CustomerProfiles": list(profiles)}}


def answers(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["Id"]: entry["ResultData"] for entry in response["Items"]["CustomerProfiles"]}


def document(provider_url: str) -> dict[str, Any]:
    return {
        "CONNECT_ACTIONS": {ACTION: {"channel": "EMAIL", "message": {"subject": "News for {{Profile.firstName}}",
                                                                     "html": HTML}}},
        "CHANNEL_PROVIDERS": {"EMAIL": {"type": "http", "name": "http", "url": provider_url, "headers": HEADERS}},
    }


def configuration_file(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "configuration.json"
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


@pytest.fixture
def configured(make_local, tmp_path) -> LocalEnvironment:
    # The stand-in's URL is known once it runs: the object is replaced with the full document then,
    # as a deploy uploads a new object.
    local = make_local(configuration_file=configuration_file(tmp_path, {}), deadline_seconds=None)
    local.set_configuration(document(f"{local.provider.url}/messages"))
    return local


def test_a_64_kb_html_email_and_a_64_kb_provider_setting_are_sent_from_the_object(configured):
    local = configured
    assert len(json.dumps(HTML).encode()) > 64 * 1024
    assert len(json.dumps(HEADERS).encode()) > 64 * 1024
    ana, bo = profile("Ana", "premium"), profile("Bo", "basic")
    response = local.invoke(event(ana, bo))
    got = answers(response)
    assert got[ana["ProfileId"]]["status"] == "DELIVERED"
    assert got[bo["ProfileId"]]["status"] == "DELIVERED"
    messages = {send["address"]: send["message"] for send in local.provider.sends}
    assert len(messages) == 2
    expected = {name: {"subject": f"News for {name}",
                       "html": HTML.replace("{{Profile.firstName|there}}", name).replace(
                           "{{Profile.attributes.plan|}}", plan)}
                for name, plan in (("Ana", "premium"), ("Bo", "basic"))}
    for name in ("Ana", "Bo"):
        sent = messages[f"{name.lower()}@example.com"]
        assert (json.loads(sent) if isinstance(sent, str) else sent) == expected[name]
    heard = local.provider.send_headers
    assert len(heard) == 2
    for headers in heard:
        assert {name: headers.get(name) for name in HEADERS} == HEADERS
    # Nothing of it went through the environment: every function's stays far under 4 KB.
    for spec in local.registry.specs.values():
        assert spec.environment["CONFIGURATION_OBJECT"] == CONFIGURATION_URI
        assert len(json.dumps(spec.environment)) < 2048, spec.logical_id
    assert local.guard_totals().snapshot()["denied"] == 0


def test_a_connect_actions_variable_over_4_kb_fails_as_the_deploy_would(make_local):
    actions = {ACTION: {"channel": "EMAIL", "message": HTML[:5000]}}
    with pytest.raises(EnvironmentTooLargeError) as caught:
        make_local(environment={"CONNECT_ACTIONS": json.dumps(actions)})
    message = str(caught.value)
    assert message.startswith("InvokerFunction: Lambda refuses environment variables over 4 KB in all (")
    assert "largest: CONNECT_ACTIONS 5," in message
    assert message.endswith("put CONNECT_ACTIONS in the configuration object instead (template parameter "
                            "ConfigurationObject; docs/configuration.md)")


def _refused(local: LocalEnvironment) -> str:
    with pytest.raises(LocalInvokeError) as caught:
        local.invoke(event(profile("Ana", "premium")))
    assert caught.value.payload["errorType"] == "ConfigurationError"
    assert local.executions() == []
    assert local.provider.sends == []
    return str(caught.value.payload["errorMessage"])


def test_a_malformed_document_fails_the_invocation_naming_the_object(make_local, tmp_path):
    local = make_local(configuration_file=configuration_file(tmp_path, b'{"CONNECT_ACTIONS": {'))
    assert _refused(local).startswith(f"the configuration object {CONFIGURATION_URI} is not valid JSON: ")


def test_an_invalid_setting_in_the_object_is_named_with_its_key(make_local, tmp_path):
    content = {"CONNECT_ACTIONS": {ACTION: {"channel": "EMAIL", "message": "Hi", "adress": ["email"]}}}
    local = make_local(configuration_file=configuration_file(tmp_path, content))
    assert _refused(local).startswith(f"{CONFIGURATION_URI}: CONNECT_ACTIONS.{ACTION}.adress: ")


def test_a_missing_object_fails_the_invocation_naming_it(make_local, tmp_path):
    local = make_local(configuration_file=configuration_file(tmp_path, {}))
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket=CONFIGURATION_BUCKET, Key="configuration.json")
    assert _refused(local) == f"cannot read the configuration object {CONFIGURATION_URI}: it does not exist"


def test_an_object_the_role_does_not_grant_is_denied(make_local, tmp_path):
    """The roles may read the object ConfigurationObject names and nothing else: a function pointed
    at another object of the same bucket is refused by IAM (enforced locally from the template)."""
    other = f"s3://{CONFIGURATION_BUCKET}/other.json"
    local = make_local(configuration_file=configuration_file(tmp_path, {}),
                       environment={"CONFIGURATION_OBJECT": other})
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=CONFIGURATION_BUCKET, Key="other.json", Body=b"{}")
    assert _refused(local).startswith(f"cannot read the configuration object {other}: access denied (the function's "
                                      f"role must allow s3:GetObject on arn:aws:s3:::{CONFIGURATION_BUCKET}/other.json")
    denials = local.guard_totals().snapshot()["denials"]
    assert f"InvokerFunction: s3:GetObject on arn:aws:s3:::{CONFIGURATION_BUCKET}/other.json" in denials


def test_a_key_both_in_the_environment_and_in_the_object_is_refused(make_local, tmp_path):
    content = {"CONNECT_ACTIONS": {ACTION: {"channel": "EMAIL", "message": "Hi"}}}
    local = make_local(configuration_file=configuration_file(tmp_path, content),
                       environment={"CONNECT_ACTIONS": json.dumps(content["CONNECT_ACTIONS"])})
    assert _refused(local).startswith(f"CONNECT_ACTIONS set both in the environment and in {CONFIGURATION_URI}: ")


def test_provider_stand_ins_chosen_for_the_run_join_the_objects_channel_providers(make_local, tmp_path):
    """--provider CHANNEL=KIND with an object that holds CHANNEL_PROVIDERS: the stand-in's entry goes
    into the object (a CHANNEL_PROVIDERS variable as well would be refused as set twice)."""
    content = {"CONNECT_ACTIONS": {ACTION: {"channel": "EMAIL", "message": "Hi {{Profile.firstName}}"}},
               "CHANNEL_PROVIDERS": {"SMS": None}}
    local = make_local(configuration_file=configuration_file(tmp_path, content), providers={"EMAIL": "http"},
                       deadline_seconds=None)
    ana = profile("Ana", "premium")
    assert answers(local.invoke(event(ana)))[ana["ProfileId"]]["status"] == "DELIVERED"
    assert [send["message"] for send in local.provider.sends] == ["Hi Ana"]
    stored = boto3.client("s3", region_name="us-east-1").get_object(Bucket=CONFIGURATION_BUCKET,
                                                                    Key="configuration.json")
    providers = json.loads(stored["Body"].read())["CHANNEL_PROVIDERS"]
    standin = {"type": "http", "name": "http", "url": f"{local.provider.url}/messages"}
    assert providers == {"SMS": None, "EMAIL": standin}
    assert not local.registry.overrides.get("CHANNEL_PROVIDERS")
