"""``journey-activity run``: the README's main job, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "journey-batch.json"
CONNECT_EXAMPLE = ROOT / "examples" / "connect-journey.json"


def journey_activity(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "journey_activity_local.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=dict(os.environ))


def test_run_prints_the_response_and_writes_the_history(tmp_path):
    history = tmp_path / "history.json"
    result = journey_activity("run", str(EXAMPLE), "--history", str(history), "--behave", "kenji@example.com=bounce")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    event = json.loads(EXAMPLE.read_text())
    assert list(response) == list(event["Endpoints"])
    assert response["sms-maria"]["EventAttributes"]["status"] == "DELIVERED"
    assert response["email-kenji"]["EventAttributes"] == {"status": "FAILED", "channel": "EMAIL",
                                                          "reason": "bounced", "provider": "http"}
    assert response["sms-badnumber"]["EventAttributes"]["reason"] == "address_invalid"
    assert "sms-maria" in result.stderr  # the table for people
    assert "SUCCEEDED" in result.stderr
    events = json.loads(history.read_text())
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"


def test_json_prints_only_the_json():
    result = journey_activity("run", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)  # nothing but the JSON on stdout
    assert "Endpoints" not in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        ('{"ApplicationId": "a", "Endpoints": {}}', "Endpoints"),
        ('["a list"]', "JSON object"),
    ],
)
def test_an_unusable_file_or_payload_exits_non_zero_with_one_line(tmp_path, content, expected):
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    result = journey_activity("run", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"ApplicationId": "a", "Endpoints": {"e-1": {"ChannelType": "SMS", "Address": "+14155550100"}}, "Data": 5},
         "error: PayloadError: Data: Input should be a valid string"),
        ({"InvocationMetadata": {"CampaignContext": {"CampaignId": "c", "RunId": "r", "ActionId": "a"}},
          "Items": {"CustomerProfiles": "not a list"}},
         "error: PayloadError: Items.CustomerProfiles: Input should be a valid list"),
    ],
    ids=["pinpoint", "connect"],
)
def test_a_bad_envelope_is_refused_in_one_line_before_the_engine_starts(tmp_path, event, expected):
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = journey_activity("run", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert [line for line in result.stderr.splitlines() if line.strip()] == [expected]


def test_an_empty_connect_batch_is_answered_and_exits_zero(tmp_path):
    event = json.loads(CONNECT_EXAMPLE.read_text())
    event["Items"]["CustomerProfiles"] = []
    path, history = tmp_path / "empty.json", tmp_path / "history.json"
    path.write_text(json.dumps(event))
    result = journey_activity("run", str(path), "--history", str(history))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"Items": {"CustomerProfiles": []}}
    assert "Traceback" not in result.stderr
    assert "no execution (nothing to send)" in result.stderr
    assert "--history not written" in result.stderr
    assert not history.exists()


def test_the_connect_example_runs_as_shipped():
    result = journey_activity("run", str(CONNECT_EXAMPLE))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    event = json.loads(CONNECT_EXAMPLE.read_text())
    ids = [profile["ProfileId"] for profile in event["Items"]["CustomerProfiles"]]
    assert [entry["Id"] for entry in response["Items"]["CustomerProfiles"]] == ids
    statuses = [entry["ResultData"]["status"] for entry in response["Items"]["CustomerProfiles"]]
    assert statuses == ["DELIVERED", "DELIVERED", "SKIPPED", "SKIPPED", "SKIPPED"]
    assert ids[0] in result.stderr  # the table, by profile id
    assert "SUCCEEDED" in result.stderr


def test_connect_actions_can_be_overridden():
    actions = json.dumps({"*": {"channel": "EMAIL"}})
    result = journey_activity("run", str(CONNECT_EXAMPLE), "--json", "--env", f"CONNECT_ACTIONS={actions}")
    assert result.returncode == 0, result.stderr
    answers = {e["Id"]: e["ResultData"] for e in json.loads(result.stdout)["Items"]["CustomerProfiles"]}
    assert answers["5f0c2a9b8e714d3fa6b1c4e2d7f80a91"]["status"] == "DELIVERED"  # emailAddress
    assert answers["a2e94c1d0b3f4a7e8d65c9b0f1e2d3c4"]["reason"] == "address_missing"  # a phone only
    assert answers["0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"]["status"] == "DELIVERED"


def test_connect_actions_can_come_from_a_configuration_object_of_any_size(tmp_path):
    paragraph = "<p>Dear {{Profile.firstName|customer}}, your plan renews soon.</p>"
    html = "<html><body>" + paragraph * 1200 + "</body></html>"
    configuration = tmp_path / "configuration.json"
    configuration.write_text(json.dumps({"CONNECT_ACTIONS": {"*": {"channel": "EMAIL", "message": html}}}))
    assert configuration.stat().st_size > 64 * 1024
    result = journey_activity("run", str(CONNECT_EXAMPLE), "--json", "--configuration", str(configuration))
    assert result.returncode == 0, result.stderr
    answers = {e["Id"]: e["ResultData"] for e in json.loads(result.stdout)["Items"]["CustomerProfiles"]}
    assert answers["5f0c2a9b8e714d3fa6b1c4e2d7f80a91"]["status"] == "DELIVERED"  # Maria's emailAddress
    assert answers["0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"]["status"] == "DELIVERED"  # Lena's


@pytest.mark.parametrize(("content", "env", "expected"), [
    ('{"CONNECT_ACTIONS": {"*": {"channel": "EMAIL"}}}', ["--env", 'CONNECT_ACTIONS={"*": {"channel": "SMS"}}'],
     "--configuration CONNECT_ACTIONS set both in the environment and in "),
    ('{"CONNECT_ACTIONS": {"*": {"channel": "FAX"}}}', [], ": CONNECT_ACTIONS.*.channel: "),
    ('{"CONNECT_ACTIONS": ', [], "is not JSON"),
])
def test_a_bad_configuration_object_exits_non_zero_with_one_line(tmp_path, content, env, expected):
    configuration = tmp_path / "configuration.json"
    configuration.write_text(content)
    result = journey_activity("run", str(CONNECT_EXAMPLE), "--configuration", str(configuration), *env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_connect_register_refuses_a_bad_arn_in_one_line():
    result = journey_activity("connect", "register", "--instance-id", "i-1", "--function-arn", "not-an-arn")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "not a Lambda function ARN" in lines[0]


def test_a_template_whose_sender_lost_its_policies_sends_nothing(tmp_path):
    """What AWS would refuse, the local run refuses: --template with a copy of the template."""
    import shutil

    import yaml
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse((ROOT / "template.yaml").read_text())
    for sender in ("SendFunction", "EmailSendFunction", "SmsVoiceSendFunction", "PushSendFunction"):
        del document["Resources"][sender]["Properties"]["Policies"]
    shutil.copytree(ROOT / "statemachines", tmp_path / "statemachines")
    (tmp_path / "template.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = journey_activity("run", str(EXAMPLE), "--template", str(tmp_path / "template.yaml"))
    assert result.returncode == 0, result.stderr
    statuses = {e: a["EventAttributes"]["status"] for e, a in json.loads(result.stdout).items()}
    assert "DELIVERED" not in statuses.values()
    assert statuses["sms-badnumber"] == "SKIPPED"
    assert "AWS calls refused by IAM" in result.stderr
    assert "SendFunction: dynamodb:UpdateItem" in result.stderr


def test_aws_faults_answer_or_fail_clearly():
    result = journey_activity("run", str(EXAMPLE), "--aws-faults", "0.1", "--fault-seed", "4", "--json")
    if result.returncode == 0:
        response = json.loads(result.stdout)
        assert list(response) == list(json.loads(EXAMPLE.read_text())["Endpoints"])
    else:
        assert result.returncode == 2, result.stderr
        assert "AwsThrottled" in result.stderr
    bad = journey_activity("run", str(EXAMPLE), "--aws-faults", "2")
    assert bad.returncode == 2
    assert "aws-faults" in bad.stderr


def test_run_shows_progress_and_writes_a_view_and_view_rebuilds_it_from_the_history(tmp_path):
    history, page, rebuilt = tmp_path / "history.json", tmp_path / "run.html", tmp_path / "again.html"
    result = journey_activity("run", str(EXAMPLE), "--history", str(history), "--view", str(page),
                              "--behave", "kenji@example.com=bounce")
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert progress, result.stderr  # stderr is not a terminal here: plain lines
    assert progress[-1].split("s  ", 1)[1].startswith("7/7 final")
    assert isinstance(json.loads(history.read_text()), list)  # the history file keeps its shape

    def shown(html: str) -> dict:
        data = html.split('<script type="application/json" id="execution-data">', 1)[1].split("</script>", 1)[0]
        return {e["id"]: (e["status"], e["path"]) for e in json.loads(data)["endpoints"]}

    from_run = shown(page.read_text())
    assert from_run["email-kenji"][0] == "FAILED"
    assert "Record failed delivery" in from_run["email-kenji"][1]
    assert len(from_run) == 7

    result = journey_activity("view", str(history), "-o", str(rebuilt))
    assert result.returncode == 0, result.stderr
    assert shown(rebuilt.read_text()) == from_run


def test_view_refuses_what_is_not_an_execution(tmp_path):
    for source, message in (("missing.json", "cannot read"), ("arn:aws:states:us-east-1:1:x", "not a Step Functions"),
                            (str(EXAMPLE), "holds no history events")):
        result = journey_activity("view", source, "-o", str(tmp_path / "x.html"))
        assert result.returncode == 2
        assert message in result.stderr
        assert not (tmp_path / "x.html").exists()
    result = journey_activity("view", str(EXAMPLE), "--ledger-table", "ledger", "-o", str(tmp_path / "x.html"))
    assert result.returncode == 2
    assert "--ledger-table is for an execution ARN" in result.stderr


def test_provider_chooses_a_stand_in_per_channel_and_refuses_a_bad_choice_in_one_line():
    result = journey_activity("run", str(EXAMPLE), "--json", "--provider", "EMAIL=http", "--provider", "SMS=http",
                              "--behave", "kenji@example.com=bounce")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["email-kenji"]["EventAttributes"]["reason"] == "bounced"
    assert response["sms-maria"]["EventAttributes"]["status"] == "DELIVERED"

    refused = journey_activity("run", str(EXAMPLE), "--provider", "EMAIL=sendgrid")
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "error: --provider 'EMAIL=sendgrid': unknown kind 'sendgrid'; use one of "
        "['http', 'ses', 'sms-voice', 'push', 'twilio']"]


def test_a_group_mode_run_draws_each_group_and_every_endpoints_own_timeline(tmp_path):
    """WaitMode=group: each group's task is one node named for its label; every endpoint stays
    listed under its group, its timeline from its ledger record (attempts, send, receipt, outcome)."""
    history, page, rebuilt = tmp_path / "history.json", tmp_path / "run.html", tmp_path / "again.html"
    result = journey_activity("run", str(EXAMPLE), "--wait-mode", "group", "--history", str(history), "--view",
                              str(page), "--behave", "kenji@example.com=bounce", "--behave", "+14155550123=flaky:2")
    assert result.returncode == 0, result.stderr

    def data(html: str) -> dict:
        return json.loads(html.split('<script type="application/json" id="execution-data">', 1)[1]
                          .split("</script>", 1)[0])

    html = page.read_text()
    shown = data(html)
    labels = {g["id"]: g["label"] for g in shown["groups"]}
    assert sorted(labels.values()) == ["Send SMS and voice (2 endpoints)", "Send e-mail (1 endpoint)",
                                       "Send push (1 endpoint)"]
    graph = html.split('<svg id="graph"', 1)[1].split("</svg>", 1)[0]
    for group_id, label in labels.items():
        assert f'<g class="group-node" data-group="{group_id}"' in graph  # its node in the graph, named for it
        assert f">{label}</text>" in graph
    endpoints = {e["id"]: e for e in shown["endpoints"]}
    assert len(endpoints) == 7  # no group is taken for an endpoint
    assert {e["id"]: e["status"] for e in shown["endpoints"]} == {
        "sms-maria": "DELIVERED", "email-kenji": "FAILED", "push-amara": "DELIVERED", "voice-lucas": "DELIVERED",
        "email-optedout": "SKIPPED", "sms-inactive": "SKIPPED", "sms-badnumber": "SKIPPED"}
    for endpoint in shown["endpoints"]:
        kinds = [entry["kind"] for entry in endpoint["timeline"]]
        if endpoint["status"] == "SKIPPED":
            assert endpoint["group"] == ""
            continue
        assert labels[endpoint["group"]].startswith("Send ")
        assert "Send the group and wait for its delivery receipts" in endpoint["path"]
        assert (kinds[0], kinds[-1]) == ("scheduled", "outcome"), endpoint["id"]
        assert "sent" in kinds, endpoint["id"]
        assert all(entry["t"] is not None for entry in endpoint["timeline"][:-1]), endpoint["id"]
    maria = [entry["text"] for entry in endpoints["sms-maria"]["timeline"]]
    # Failed twice: sent again within the group's first try (after a pause), then in its retry.
    assert endpoints["sms-maria"]["attempts"] == 3
    assert maria[0].startswith("send attempt 1 (its group's task; 3 attempts in 2 tries")
    assert "retry 1: its group's task's try 2" in maria
    assert "receipt: delivered" in maria
    assert "receipt: bounced" in [entry["text"] for entry in endpoints["email-kenji"]["timeline"]]
    for address in ("+14155550123", "kenji@example.com", "+442071838750"):
        assert address not in html

    # A history file holds no ledger records: every endpoint and its outcome are still drawn.
    result = journey_activity("view", str(history), "-o", str(rebuilt))
    assert result.returncode == 0, result.stderr
    again = data(rebuilt.read_text())
    assert {e["id"]: (e["status"], e["group"]) for e in again["endpoints"]} == {
        e["id"]: (e["status"], e["group"]) for e in shown["endpoints"]}
    assert [g["label"] for g in again["groups"]] == [g["label"] for g in shown["groups"]]
