"""The execution view's model and page, from a history in AWS's documented shape.

``tests/events/aws_execution_history.json`` is ``aws stepfunctions get-execution-history`` output
for a batch (timestamps as epoch seconds, as on the wire): a send retried after ProviderThrottled
and then delivered, a send whose receipt never came (States.HeartbeatTimeout, recorded TIMED_OUT),
an endpoint skipped by Validate, and a report that failed and was caught. States carry ids and
channels only (no addresses), as a Connect batch does. It ran before "Compile EventAttributes" and
"Report engagement events" (with its Catch, "Report not sent") became one task, "Compile and
report the outcomes": drawn with today's definition, those states come from the history.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from journey_activity_local.view.model import build_model, parse_time
from journey_activity_local.view.page import render_page
from journey_activity_local.view.sources import ViewSourceError, load_history_file

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
SEND, RECORD = "Send and wait for delivery receipt", "Record failed delivery"
MAP, VALIDATE, COMPILE, REPORT = "Send to each endpoint", "Validate endpoints", "Compile EventAttributes", \
    "Report engagement events"
COMPILE_AND_REPORT = "Compile and report the outcomes"
CHOICE, GROUPS, GROUP_SEND = "Wait per endpoint or per group?", "Send to each group", \
    "Send the group and wait for its delivery receipts"


@pytest.fixture
def aws_events(load_event):
    return load_event("aws_execution_history")["events"]


def test_every_endpoint_gets_its_outcome_and_its_own_path(aws_events):
    view = build_model(aws_events, DEFINITION)
    endpoints = {e.id: e for e in view.endpoints}
    assert list(endpoints) == ["p-1", "p-2", "p-3"]
    delivered, timed_out, skipped = endpoints["p-1"], endpoints["p-2"], endpoints["p-3"]
    assert (delivered.status, delivered.attempts, delivered.channel) == ("DELIVERED", 2, "SMS")
    assert delivered.path == [VALIDATE, MAP, SEND, COMPILE, REPORT, "Report not sent"]
    assert delivered.seconds_to_receipt == pytest.approx(2.5)  # TaskSubmitted 1.70 → TaskSucceeded 4.20
    assert (timed_out.status, timed_out.reason) == ("TIMED_OUT", "no_receipt")
    assert timed_out.path == [VALIDATE, MAP, SEND, RECORD, COMPILE, REPORT, "Report not sent"]
    assert timed_out.seconds_to_receipt is None
    assert (skipped.status, skipped.reason) == ("SKIPPED", "opted_out")
    assert skipped.path == [VALIDATE, COMPILE, REPORT, "Report not sent"]  # never in the Map


def test_the_timeline_shows_each_retry_with_its_error_and_the_receipt(aws_events):
    delivered = next(e for e in build_model(aws_events, DEFINITION).endpoints if e.id == "p-1")
    kinds = [(entry["kind"], entry["text"]) for entry in delivered.timeline]
    assert kinds == [
        ("entered", f"entered {SEND}"),
        # Which sender function ran (the item's FunctionName), on every attempt.
        ("scheduled", "task scheduled (journey-activity-send)"),
        ("error", "failed: ProviderThrottled"),
        ("retry", "retry 1 (journey-activity-send)"),
        ("sent", "sent, waiting for the delivery receipt (m-1)"),
        ("receipt", "receipt: delivered"),
        ("outcome", "DELIVERED"),
    ]
    assert delivered.timeline[3]["t"] == pytest.approx(1.40)
    timed_out = next(e for e in build_model(aws_events, DEFINITION).endpoints if e.id == "p-2")
    assert ("error", "timed out: States.HeartbeatTimeout") in [(e["kind"], e["text"]) for e in timed_out.timeline]


def test_each_state_counts_endpoints_entered_succeeded_failed_retried(aws_events):
    states = {s.name: s for s in build_model(aws_events, DEFINITION).states}
    # The definition is today's; the history is of an execution that ran before "Send to every endpoint
    # at once", the wait mode's Choice and "Compile and report the outcomes": their states are drawn,
    # entered by no one; the group mode's Map comes after the flow's main line. The states the
    # history entered and today's definition lacks are drawn after the state before them, as the
    # history went.
    assert [s.name for s in states.values()] == [
        VALIDATE, CHOICE, "Send to every endpoint at once", "Send without waiting", MAP, SEND, RECORD,
        "Outcome not recorded", COMPILE, REPORT, "Report not sent", COMPILE_AND_REPORT, GROUPS, GROUP_SEND,
        "Record the group's unsent endpoints", "Receipts still awaited?", "Group outcome not recorded",
        "Group recorded", "Wait for the group's remaining receipts", "Record the group's outcome"]
    assert [name for name, s in states.items() if s.from_history] == [COMPILE, REPORT, "Report not sent"]
    assert [(states[n].type, states[n].parent, states[n].next) for n in (COMPILE, REPORT, "Report not sent")] == [
        ("Task", None, REPORT), ("Task", None, "Report not sent"), ("Pass", None, None)]
    assert states[COMPILE_AND_REPORT].entered == 0
    assert states["Send to every endpoint at once"].entered == 0
    assert states[CHOICE].entered == states[GROUPS].entered == states[GROUP_SEND].entered == 0
    assert states[MAP].type == "Map"
    assert states[SEND].parent == MAP
    assert states[VALIDATE].parent is None
    count = {name: (s.entered, s.succeeded, s.failed, s.retried) for name, s in states.items()}
    assert count[VALIDATE] == (3, 3, 0, 0)
    assert count[MAP] == (2, 2, 0, 0)
    assert count[SEND] == (2, 1, 1, 1)  # p-1 retried then delivered; p-2 timed out (caught)
    assert count[RECORD] == (1, 1, 0, 0)
    assert count["Outcome not recorded"] == (0, 0, 0, 0)
    assert count[COMPILE] == (3, 3, 0, 0)
    assert count[REPORT] == (3, 0, 3, 0)  # the report failed for the whole batch, caught
    assert count["Report not sent"] == (3, 3, 0, 0)
    assert states[SEND].catches == [(RECORD, ["States.ALL"])]
    assert ["ProviderThrottled"] in states[SEND].retries


def test_a_history_of_todays_definition_takes_the_one_task_and_draws_no_state_of_its_own(aws_events):
    """The same execution as today's definition runs it: compiled and reported in one task, the
    report's events gone, the execution's end right after it."""
    last_compile = max(e["id"] for e in aws_events if e.get("stateExitedEventDetails", {}).get("name") == COMPILE)
    ended = next(e for e in aws_events if e["type"] == "ExecutionSucceeded")
    events = json.loads(json.dumps([e for e in aws_events if e["id"] <= last_compile]).replace(
        f'"{COMPILE}"', f'"{COMPILE_AND_REPORT}"'))
    events.append(dict(ended, id=last_compile + 1, previousEventId=last_compile))
    view = build_model(events, DEFINITION)
    assert not any(s.from_history for s in view.states)
    paths = {e.id: e.path for e in view.endpoints}
    assert paths == {"p-1": [VALIDATE, MAP, SEND, COMPILE_AND_REPORT],
                     "p-2": [VALIDATE, MAP, SEND, RECORD, COMPILE_AND_REPORT], "p-3": [VALIDATE, COMPILE_AND_REPORT]}
    count = {s.name: (s.entered, s.succeeded, s.failed, s.retried) for s in view.states}
    assert count[COMPILE_AND_REPORT] == (3, 3, 0, 0)
    assert [e.status for e in view.endpoints] == ["DELIVERED", "TIMED_OUT", "SKIPPED"]
    assert view.summary["status"] == "SUCCEEDED"


def test_the_page_draws_an_earlier_definitions_states_dashed(aws_events):
    page = render_page(build_model(aws_events, DEFINITION))
    drawn = re.findall(r'<g class="state ([^"]*)" data-state="([^"]+)"', page)
    assert [name for css, name in drawn if "from-history" in css] == [COMPILE, REPORT, "Report not sent"]
    assert "from-history" not in {name: css for css, name in drawn}[COMPILE_AND_REPORT]


def test_the_summary_names_the_trigger_its_ids_and_counts(aws_events):
    summary = build_model(aws_events, DEFINITION).summary
    assert summary["trigger"] == "connect"
    assert summary["ids"]["campaign_id"] == "cmp-8d2e"
    assert summary["ids"]["run_id"] == "run-7"
    assert summary["status"] == "SUCCEEDED"
    assert summary["wall_seconds"] == pytest.approx(301.32)
    assert summary["by_status"] == {"DELIVERED": 1, "TIMED_OUT": 1, "SKIPPED": 1}
    assert summary["by_channel"] == {"EMAIL": {"TIMED_OUT": 1}, "SMS": {"DELIVERED": 1, "SKIPPED": 1}}


def test_the_ledger_record_wins_and_adds_heartbeats(aws_events):
    records = {"p-2": {"endpoint_id": "p-2", "channel": "EMAIL", "status": "DELIVERED", "attempts": 1,
                       "receipt_status": "delivered", "sent_at": "2025-11-23T12:13:20.640Z",
                       "receipt_at": "2025-11-23T12:13:25.640Z", "last_receipt_status": "queued",
                       "last_receipt_at": "2025-11-23T12:13:22.000Z"}}
    p2 = next(e for e in build_model(aws_events, DEFINITION, records).endpoints if e.id == "p-2")
    assert p2.status == "DELIVERED"
    assert p2.seconds_to_receipt == pytest.approx(5.0)
    assert any(entry["kind"] == "heartbeat" and "queued" in entry["text"] for entry in p2.timeline)


def test_no_personal_data_unless_allowed(aws_events):
    page = render_page(build_model(aws_events, DEFINITION))
    assert "+14155550100" not in page  # in a TaskFailed cause: error names only
    assert "+14155550100" in render_page(build_model(aws_events, DEFINITION, personal_data=True))


def test_the_local_engines_shape_reads_the_same(aws_events):
    """boto3 returns datetimes and `run --history` writes them as str(datetime): the same model."""
    local = [dict(e, timestamp=str(datetime.fromtimestamp(e["timestamp"], tz=UTC))) for e in aws_events]
    iso = [dict(e, timestamp=datetime.fromtimestamp(e["timestamp"], tz=UTC).isoformat().replace("+00:00", "Z"))
           for e in aws_events]
    expected = build_model(aws_events, DEFINITION).as_data()
    assert build_model(local, DEFINITION).as_data() == expected
    assert build_model(iso, DEFINITION).as_data() == expected


def test_endpoint_ids_are_escaped_in_the_page(aws_events):
    hostile = json.loads(json.dumps(aws_events).replace("p-3", "</script><img src=x onerror=alert(1)>"))
    page = render_page(build_model(hostile, DEFINITION))
    assert "<img src=x" not in page
    assert "</script><img" not in page
    assert page.count("<script") == 2


def test_timestamps_in_every_shape():
    expected = datetime(2025, 11, 23, 12, 13, 20, 640000, tzinfo=UTC)
    for value in (1763900000.64, "2025-11-23 12:13:20.640000+00:00", "2025-11-23T12:13:20.640Z", expected):
        assert parse_time(value) == expected
    assert parse_time("yesterday") is None


def test_a_history_file_in_each_shape(tmp_path, aws_events):
    listed, wrapped = tmp_path / "list.json", tmp_path / "wrapped.json"
    listed.write_text(json.dumps(aws_events))
    wrapped.write_text(json.dumps({"events": aws_events, "definition": json.dumps(DEFINITION)}))
    assert load_history_file(listed).events == aws_events
    assert load_history_file(wrapped).definition == DEFINITION
    asl = ROOT / "statemachines" / "batch.asl.json"
    assert load_history_file(listed, fallback_definition=asl).definition == DEFINITION


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not JSON"),
    ('{"nothing": 1}', "holds no history events"),
    ("[]", "every history event needs an id and a type"),
    ('[{"type": "ExecutionStarted"}]', "every history event needs an id and a type"),
])
def test_a_bad_history_file_gets_a_clear_error(tmp_path, content, message):
    path = tmp_path / "history.json"
    path.write_text(content)
    with pytest.raises(ViewSourceError, match=message):
        load_history_file(path)


def test_an_execution_arn_is_read_with_every_history_page_and_the_definition_it_ran(aws_events):
    """What `view ARN` asks AWS, exactly: DescribeExecution, GetExecutionHistory until no nextToken,
    DescribeStateMachineForExecution (the definition the execution ran, not today's)."""
    import boto3
    from botocore.stub import Stubber

    from journey_activity_local.view.sources import load_execution

    arn = "arn:aws:states:eu-west-1:111122223333:execution:journey-activity-batch:connect-4f1c2a"
    machine = "arn:aws:states:eu-west-1:111122223333:stateMachine:journey-activity-batch"
    started = datetime(2025, 11, 23, 12, 13, 20, tzinfo=UTC)
    sfn = boto3.client("stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    events = [dict(e, timestamp=datetime.fromtimestamp(e["timestamp"], tz=UTC)) for e in aws_events]
    with Stubber(sfn) as stub:
        stub.add_response("describe_execution", {"executionArn": arn, "stateMachineArn": machine, "status": "SUCCEEDED",
                                                 "name": "connect-4f1c2a", "startDate": started},
                          {"executionArn": arn})
        stub.add_response("get_execution_history", {"events": events[:30], "nextToken": "page-2"},
                          {"executionArn": arn, "maxResults": 1000})
        stub.add_response("get_execution_history", {"events": events[30:]},
                          {"executionArn": arn, "maxResults": 1000, "nextToken": "page-2"})
        stub.add_response("describe_state_machine_for_execution",
                          {"stateMachineArn": machine, "name": "journey-activity-batch",
                           "definition": json.dumps(DEFINITION), "roleArn": "arn:aws:iam::111122223333:role/r",
                           "updateDate": started}, {"executionArn": arn})
        data = load_execution(sfn, arn)
        stub.assert_no_pending_responses()
    assert [e["id"] for e in data.events] == list(range(1, len(aws_events) + 1))
    assert data.definition == DEFINITION
    assert data.execution["status"] == "SUCCEEDED"
    view = build_model(data.events, data.definition, execution=data.execution)
    assert view.summary["execution"] == "connect-4f1c2a"
    assert [e.status for e in view.endpoints] == ["DELIVERED", "TIMED_OUT", "SKIPPED"]
