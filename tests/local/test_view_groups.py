"""The execution view in group wait mode (WaitMode=group): each group's task is one node named for
its label, and every endpoint keeps its own outcome, path and timeline (from its ledger record).

``tests/events/group_execution_history.json`` is a real local group-mode run of
``examples/journey-batch.json`` (``LocalOptions(parameters={"WaitMode": "group"})``, progress
receipts, a 6 s receipt timeout, a 4 s heartbeat): its history events, its ledger records and
``DescribeExecution``'s fields, as a history file carries them. The SMS and voice group (g0) has
sms-maria, whose provider answered 503 twice (the group's task failed twice with
ProviderUnavailable; its third try sent it, then it was delivered), and voice-lucas, whose receipt
never came (the group's task timed out, "Record the group's unsent endpoints" made it TIMED_OUT);
the e-mail group's only endpoint bounced; the push group's was delivered; three were skipped. It
ran "Compile EventAttributes" then "Report engagement events", since made one task ("Compile and
report the outcomes"): drawn with today's definition, those two states come from the history.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from journey_activity_local.view.model import build_model
from journey_activity_local.view.page import render_page
from journey_activity_local.view.sources import load_history_file, write_view

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
VALIDATE, CHOICE, COMPILE, REPORT = ("Validate endpoints", "Wait per endpoint or per group?",
                                     "Compile EventAttributes", "Report engagement events")
GROUPS, TASK = "Send to each group", "Send the group and wait for its delivery receipts"
UNSENT, AWAITED, RECORDED = "Record the group's unsent endpoints", "Receipts still awaited?", "Group recorded"


@pytest.fixture
def run(load_event) -> dict[str, Any]:
    return load_event("group_execution_history")


@pytest.fixture
def view(run):
    return build_model(run["events"], DEFINITION, run["records"], run["execution"])


def offsets(run: dict[str, Any], kind: str, group: str) -> list[float]:
    """When the group's task did ``kind`` (seconds from the execution's start), read from the history
    apart from the view: the group's iteration is found by its input's group id."""
    from journey_activity_local.view.model import parse_time

    events = run["events"]
    start = parse_time(events[0]["timestamp"])
    by_id = {e["id"]: e for e in events}
    mine: set[int] = set()
    for event in events:
        details = event.get("stateEnteredEventDetails") or {}
        if details.get("name") == TASK and f'"id":"{group}"' in details.get("input", ""):
            mine.add(event["id"])
        elif event.get("previousEventId") in mine and event["type"] != "TaskStateExited":
            mine.add(event["id"])  # the group's task, up to its exit
    return [round((parse_time(by_id[i]["timestamp"]) - start).total_seconds(), 3)  # type: ignore[operator]
            for i in sorted(mine) if by_id[i]["type"] == kind]


def test_every_endpoint_is_listed_once_and_no_group_is_taken_for_one(view):
    assert [e.id for e in view.endpoints] == ["sms-maria", "email-kenji", "push-amara", "voice-lucas",
                                              "email-optedout", "sms-inactive", "sms-badnumber"]
    endpoints = {e.id: e for e in view.endpoints}
    assert {e: (x.status, x.reason, x.attempts, x.group) for e, x in endpoints.items()} == {
        "sms-maria": ("DELIVERED", "", 3, "g0"),
        "voice-lucas": ("TIMED_OUT", "no_receipt", 1, "g0"),
        "email-kenji": ("FAILED", "bounced", 1, "g1"),
        "push-amara": ("DELIVERED", "", 1, "g2"),
        "email-optedout": ("SKIPPED", "opted_out", 0, ""),
        "sms-inactive": ("SKIPPED", "inactive", 0, ""),
        "sms-badnumber": ("SKIPPED", "address_invalid", 0, ""),
    }
    # Seconds from the send to the receipt: the endpoint's own (its record), not its group task's wait.
    assert endpoints["sms-maria"].seconds_to_receipt == pytest.approx(0.322)
    assert endpoints["voice-lucas"].seconds_to_receipt is None
    assert view.summary["by_status"] == {"DELIVERED": 2, "FAILED": 1, "TIMED_OUT": 1, "SKIPPED": 3}


def test_each_group_is_one_node_named_for_its_label(view):
    groups = {g.id: g for g in view.groups}
    assert [(g.id, g.label, g.endpoints) for g in view.groups] == [
        ("g0", "Send SMS and voice (2 endpoints)", ["sms-maria", "voice-lucas"]),
        ("g1", "Send e-mail (1 endpoint)", ["email-kenji"]),
        ("g2", "Send push (1 endpoint)", ["push-amara"]),
    ]
    g0 = groups["g0"]
    assert (g0.sender, g0.map, g0.task) == ("SmsVoiceSendFunction", GROUPS, TASK)
    assert (g0.attempts, g0.error) == (3, "States.Timeout")
    assert g0.by_status == {"DELIVERED": 1, "TIMED_OUT": 1}
    assert g0.path == [VALIDATE, CHOICE, GROUPS, TASK, UNSENT, AWAITED, RECORDED, COMPILE, REPORT]
    assert groups["g1"].path == [VALIDATE, CHOICE, GROUPS, TASK, COMPILE, REPORT]
    # The group's own timeline is its task's: tries, their errors, the send, the timeout.
    assert [(e["kind"], e["text"]) for e in g0.timeline][:8] == [
        ("entered", f"entered {TASK}"),
        ("scheduled", "task scheduled (SmsVoiceSendFunction)"),
        ("error", "failed: ProviderUnavailable"),
        ("retry", "retry 1 (SmsVoiceSendFunction)"),
        ("error", "failed: ProviderUnavailable"),
        ("retry", "retry 2 (SmsVoiceSendFunction)"),
        ("sent", "sent (2 sent), waiting for the delivery receipts"),
        ("error", "timed out: States.Timeout"),
    ]
    assert ("receipt", "task resumed: every endpoint of the group is final") in [
        (e["kind"], e["text"]) for e in groups["g2"].timeline]


def test_an_endpoint_takes_its_groups_path(view):
    endpoints = {e.id: e for e in view.endpoints}
    assert endpoints["sms-maria"].path == endpoints["voice-lucas"].path == next(
        g.path for g in view.groups if g.id == "g0")
    assert endpoints["push-amara"].path == [VALIDATE, CHOICE, GROUPS, TASK, COMPILE, REPORT]
    assert endpoints["email-optedout"].path == [VALIDATE, CHOICE, COMPILE, REPORT]  # never in the Map
    # No state of the per-endpoint Maps was entered.
    states = {s.name: s for s in view.states}
    assert states["Send to each endpoint"].entered == states["Send and wait for delivery receipt"].entered == 0
    # A state of a group's iteration counts the group's endpoints.
    count = {name: (s.entered, s.succeeded, s.failed, s.retried) for name, s in states.items()}
    assert count[GROUPS] == (4, 4, 0, 0)
    assert count[TASK] == (4, 2, 2, 2)  # g0's two endpoints: its task timed out (caught) after two retries
    assert count[UNSENT] == (2, 2, 0, 0)
    assert count[VALIDATE] == count[CHOICE] == count[COMPILE] == (7, 7, 0, 0)
    # The history's states today's definition lacks are drawn after the group mode's Map, where it went.
    assert [s.name for s in view.states if s.from_history] == [COMPILE, REPORT]
    assert [s.name for s in view.states][-2:] == [COMPILE, REPORT]
    assert states["Compile and report the outcomes"].entered == 0


def test_an_endpoints_timeline_is_its_own_from_the_ledger(run, view):
    maria = next(e for e in view.endpoints if e.id == "sms-maria")
    assert [(e["kind"], e["text"]) for e in maria.timeline] == [
        ("scheduled", "send attempt 1 (its group's task)"),
        ("error", "attempt 1 not sent: ProviderUnavailable"),
        ("retry", "retry 1: send attempt 2"),
        ("error", "attempt 2 not sent: ProviderUnavailable"),
        ("retry", "retry 2: send attempt 3"),
        ("sent", "sent via http, waiting for the delivery receipt (msg-be183140498e434c9fea91329dc97799)"),
        ("heartbeat", "progress receipt 'sent': its group's heartbeat"),
        ("receipt", "receipt: delivered"),
        ("outcome", "DELIVERED"),
    ]
    # Each attempt is timed by the group task's try that made it; the send, the progress receipt and
    # the receipt by the record's own times.
    scheduled = offsets(run, "TaskScheduled", "g0")
    failed = offsets(run, "TaskFailed", "g0")
    assert [e["t"] for e in maria.timeline if e["kind"] in ("scheduled", "retry")] == scheduled
    assert [e["t"] for e in maria.timeline if e["kind"] == "error"] == failed
    assert [e["t"] for e in maria.timeline[5:8]] == [1.986, 2.156, 2.308]
    # Shown under its group.
    assert {e["state"] for e in maria.timeline[:6]} == {"Send SMS and voice (2 endpoints)"}

    lucas = next(e for e in view.endpoints if e.id == "voice-lucas")
    assert [(e["kind"], e["text"]) for e in lucas.timeline] == [
        ("scheduled", "send attempt 1 (its group's task)"),
        ("sent", "sent via http, waiting for the delivery receipt (msg-052fb50dc45d4e6588d0e6a551ea46b1)"),
        ("error", "recorded TIMED_OUT no_receipt (its group's task: States.Timeout)"),
        ("outcome", "TIMED_OUT no_receipt"),
    ]
    kenji = next(e for e in view.endpoints if e.id == "email-kenji")
    assert ("failure-receipt", "receipt: bounced") in [(e["kind"], e["text"]) for e in kenji.timeline]


def test_attempts_the_groups_tries_do_not_explain_are_counted_not_timed(run):
    """A record whose attempts do not match its group's tries (no history of the group at all, or
    fewer attempts than tries) still says how many there were, timed at the record's creation."""
    records = {"sms-maria": run["records"]["sms-maria"]}
    started = [e for e in run["events"] if e["type"] in ("ExecutionStarted", "TaskStateEntered")][:2]
    maria = next(e for e in build_model(started, DEFINITION, records).endpoints if e.id == "sms-maria")
    assert maria.group == "g0"
    assert maria.timeline[0]["kind"] == "scheduled"
    assert maria.timeline[0]["text"] == "send attempt 1 (3 attempts in all; last error: ProviderUnavailable)"
    assert maria.timeline[0]["t"] == pytest.approx(0.59)  # created_at, from the execution's start
    assert [e["kind"] for e in maria.timeline[1:]] == ["sent", "heartbeat", "receipt", "outcome"]

    # Two attempts for three tries before its send: one try left it unsent (its send window was over),
    # so which tries made them is unknown.
    records = {"sms-maria": dict(run["records"]["sms-maria"], attempts=2)}
    maria = next(e for e in build_model(run["events"], DEFINITION, records).endpoints if e.id == "sms-maria")
    assert [(e["kind"], e["text"]) for e in maria.timeline[:2]] == [
        ("scheduled", "send attempt 1 (2 attempts in all; last error: ProviderUnavailable)"),
        ("sent", "sent via http, waiting for the delivery receipt (msg-be183140498e434c9fea91329dc97799)")]


def test_without_the_ledgers_records_every_endpoint_is_still_under_its_group(run):
    """A deployed execution read without --ledger-table, or a plain history file: the groups, their
    endpoints and the outcomes Compile gave are in the history; the timelines say where the rest is."""
    view = build_model(run["events"], DEFINITION, execution=run["execution"])
    assert {e.id: (e.status, e.reason, e.group) for e in view.endpoints} == {
        "sms-maria": ("DELIVERED", "", "g0"), "voice-lucas": ("TIMED_OUT", "no_receipt", "g0"),
        "email-kenji": ("FAILED", "bounced", "g1"), "push-amara": ("DELIVERED", "", "g2"),
        "email-optedout": ("SKIPPED", "opted_out", ""), "sms-inactive": ("SKIPPED", "inactive", ""),
        "sms-badnumber": ("SKIPPED", "address_invalid", "")}
    lucas = next(e for e in view.endpoints if e.id == "voice-lucas")
    assert [(e["kind"], e["text"]) for e in lucas.timeline] == [
        ("note", "its attempts, send and receipts are in its ledger record, not read here"),
        ("outcome", "TIMED_OUT no_receipt")]
    assert [g.label for g in view.groups] == ["Send SMS and voice (2 endpoints)", "Send e-mail (1 endpoint)",
                                              "Send push (1 endpoint)"]


def test_the_page_draws_each_group_and_lists_its_endpoints_under_it(view):
    page = render_page(view)
    nodes = re.findall(r'<g class="group-node" data-group="(g\d)"[^>]*><title>[^<]*</title><rect[^>]*/>'
                       r'<text class="name"[^>]*>([^<]*)</text>', page)
    assert nodes == [("g0", "Send SMS and voice (2 endpoints)"), ("g1", "Send e-mail (1 endpoint)"),
                     ("g2", "Send push (1 endpoint)")]
    table = page[page.index('<table id="endpoint-table">'):]
    rows = re.findall(r'<tr (?:class="group-row" data-group="(g\d)"|class="group-row"|data-endpoint="([^"]+)")',
                      table)
    assert [group or endpoint or "-" for group, endpoint in rows] == [
        "g0", "sms-maria", "voice-lucas", "g1", "email-kenji", "g2", "push-amara",
        "-", "email-optedout", "sms-inactive", "sms-badnumber"]
    assert "In no group: skipped by Validate" in table
    assert "one wait per group (3 groups)" in page
    # Every state is still drawn, once.
    assert sorted(re.findall(r'<g class="state [^"]*" data-state="([^"]+)"', page)) == sorted(
        s.name.replace("'", "&#x27;") for s in view.states)


def test_no_personal_data_unless_allowed(run):
    page = render_page(build_model(run["events"], DEFINITION, run["records"], run["execution"]))
    # The provider's answer, in the record's last_error, and the skips' details stay out: error names only.
    assert "temporarily unavailable" not in page
    assert "OptOut is ALL" not in page
    allowed = render_page(build_model(run["events"], DEFINITION, run["records"], run["execution"],
                                      personal_data=True))
    assert "temporarily unavailable" in allowed


def test_a_history_file_carries_the_records(tmp_path):
    """What `view FILE` reads: the run's document with its records draws the same page."""
    source = ROOT / "tests" / "events" / "group_execution_history.json"
    data = load_history_file(source, fallback_definition=ROOT / "statemachines" / "batch.asl.json")
    assert len(data.records) == 7
    view = write_view(tmp_path / "group.html", data)
    assert [g.label for g in view.groups] == ["Send SMS and voice (2 endpoints)", "Send e-mail (1 endpoint)",
                                              "Send push (1 endpoint)"]
    assert (tmp_path / "group.html").read_text().count('class="group-node"') == 3


def test_endpoint_mode_draws_no_group(load_event):
    view = build_model(load_event("aws_execution_history")["events"], DEFINITION)
    assert view.groups == []
    assert {e.group for e in view.endpoints} == {""}
    page = render_page(view)
    assert 'class="group-node"' not in page
    assert 'class="group-row"' not in page
    assert "one wait per group" not in page


def test_a_deployed_executions_records_are_read_from_the_ledger_table(run):
    """`view ARN --ledger-table TABLE`: a strongly consistent Query of the batch's partition, every page,
    numbers back as numbers; the batch id is the execution input's."""
    import boto3
    from boto3.dynamodb.types import TypeSerializer
    from botocore.stub import Stubber

    from journey_activity_local.view.sources import batch_id_of, load_records

    batch_id = batch_id_of(run["events"], {})
    assert batch_id == run["execution"]["name"]
    assert batch_id_of([], {"name": "connect-4f1c2a"}) == "connect-4f1c2a"
    serialize = TypeSerializer().serialize
    items = [{key: serialize(value) for key, value in record.items()} for record in run["records"].values()]
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    asked = {"TableName": "journey-activity-LedgerTable", "KeyConditionExpression": "pk = :pk",
             "ExpressionAttributeValues": {":pk": {"S": batch_id}}, "ConsistentRead": True}
    last = {"pk": {"S": batch_id}, "sk": {"S": "push-amara"}}
    with Stubber(dynamodb) as stub:
        stub.add_response("query", {"Items": items[:3], "LastEvaluatedKey": last}, asked)
        stub.add_response("query", {"Items": items[3:]}, {**asked, "ExclusiveStartKey": last})
        records = load_records(dynamodb, "journey-activity-LedgerTable", batch_id)
        stub.assert_no_pending_responses()
    assert records == run["records"]
    assert isinstance(records["sms-maria"]["attempts"], int)
    maria = next(e for e in build_model(run["events"], DEFINITION, records).endpoints if e.id == "sms-maria")
    assert "retry 2: send attempt 3" in [entry["text"] for entry in maria.timeline]
