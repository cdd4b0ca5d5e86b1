"""A failed, timed-out or aborted execution loses nothing: every endpoint still ends final."""

from __future__ import annotations

import threading
import time

import pytest

from .conftest import endpoint, event_with, reported

pytestmark = pytest.mark.integration


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_an_aborted_execution_gives_every_endpoint_a_final_status_and_reports_it(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=60,
                       receipt_heartbeat_seconds=30, deadline_seconds=0.5)
    run = invoke(local, event_with({"waiting": endpoint("SMS", "+14155550123"),
                                    "done": endpoint("SMS", "+14155550124"),
                                    "skipped": endpoint("SMS", "555")}))
    assert run.status("waiting") == "PENDING"
    assert _wait_for(lambda: run.ledger().get("done", {}).get("status") == "DELIVERED")

    local.client("stepfunctions").stop_execution(executionArn=run.arn, error="Operator", cause="stopped by hand")
    assert _wait_for(lambda: run.ledger()["waiting"]["status"] == "FAILED")
    records = run.ledger()
    assert records["waiting"]["reason"] == "execution_aborted"
    assert records["done"]["status"] == "DELIVERED"  # final outcomes stand
    assert records["skipped"]["status"] == "SKIPPED"
    # The finalizer reports every endpoint in one PutEvents request, and EventBridge routes its
    # entries to the observing queue one by one: wait for all of them, not only the first.
    expected = {("waiting", "journey_activity.failed"), ("done", "journey_activity.delivered"),
                ("skipped", "journey_activity.skipped")}
    assert _wait_for(lambda: expected <= reported(local)), reported(local)

    # Pinpoint retries the batch after the abort: the answer comes from the ledger.
    again = invoke(local, run.event)
    assert again.attributes("waiting") == {"status": "FAILED", "channel": "SMS", "reason": "execution_aborted",
                                           "provider": "http"}
    assert len(local.provider.sends) == 2


def test_the_invoker_answers_failed_when_the_execution_ends_without_outcomes(make_local):
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=60,
                       receipt_heartbeat_seconds=30, deadline_seconds=8)
    event = event_with({"waiting": endpoint("SMS", "+14155550123")})
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(local.invoke(event)))
    thread.start()
    assert _wait_for(lambda: bool(local.executions()))
    arn = local.executions()[0]["executionArn"]
    assert _wait_for(lambda: bool(local.provider.sends))
    local.client("stepfunctions").stop_execution(executionArn=arn)
    thread.join(timeout=20)
    assert answers[0]["waiting"]["EventAttributes"]["status"] == "FAILED"
    assert answers[0]["waiting"]["EventAttributes"]["reason"] == "execution_aborted"


def test_a_receipt_after_the_abort_is_late_not_an_error(make_local, invoke):
    import json

    import urllib3

    from journey_activity.signing import signed_headers

    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=60,
                       receipt_heartbeat_seconds=30, deadline_seconds=0.5)
    run = invoke(local, event_with({"waiting": endpoint("SMS", "+14155550123")}))
    assert _wait_for(lambda: bool(run.ledger().get("waiting", {}).get("provider_message_id")))
    local.client("stepfunctions").stop_execution(executionArn=run.arn)
    assert _wait_for(lambda: run.ledger()["waiting"]["status"] == "FAILED")
    body = json.dumps({"message_id": run.ledger()["waiting"]["provider_message_id"], "status": "delivered"})
    answer = urllib3.PoolManager().request("POST", local.receipts_url, body=body.encode(),
                                           headers=signed_headers(local.signing_secret, body))
    assert answer.status == 200  # queued; the callback function applies it from the queue
    assert local.callback_poller.wait_deleted(1)
    assert run.ledger()["waiting"]["late_receipt_status"] == "delivered"


def _ledger_outage(*_args, **_kwargs):
    """DynamoDB failing outright (500). Not throttling: a throttled Compile is retried by the
    state machine for up to about 50 s (full jitter), which made this test's wait a lottery."""
    from botocore.exceptions import ClientError

    raise ClientError({"Error": {"Code": "InternalServerError", "Message": "Internal server error"},
                       "ResponseMetadata": {"HTTPStatusCode": 500}}, "Query")


def _break_the_ledger_for_compile() -> None:
    """Runs in every function's execution environment (a worker initializer)."""
    import journey_activity.handlers.compile as compile_handler

    compile_handler.reconcile = _ledger_outage


def test_a_failed_execution_keeps_final_outcomes_and_fails_the_rest(make_local, invoke):
    """The ledger is unavailable when the batch is compiled: Compile has no Catch, so the real
    execution FAILS. Outcomes already final stand, the rest end FAILED, and the batch is reported."""
    local = make_local(behaviours={"+14155550124": "reject"}, deadline_seconds=8,
                       worker_initializers=[(_break_the_ledger_for_compile, ())])
    run = invoke(local, event_with({"delivered": endpoint("SMS", "+14155550123"),
                                    "rejected": endpoint("SMS", "+14155550124"),
                                    "skipped": endpoint("SMS", "555")}))
    described = local.wait_for_execution(run.arn, timeout=30)
    assert described["status"] == "FAILED"
    assert "InternalServerError" in described.get("cause", "")
    assert _wait_for(lambda: any(d["function"] == "FinalizeFunction" and d["result"].get("status") == "FAILED"
                                 for d in local.execution_events.delivered))
    records = run.ledger()
    assert {eid: (r["status"], r.get("reason")) for eid, r in records.items()} == {
        "delivered": ("DELIVERED", None),
        "rejected": ("FAILED", "provider_rejected"),
        "skipped": ("SKIPPED", "address_invalid"),
    }
    # Report never ran in the execution; the finalizer reported the batch's outcome instead.
    assert {("delivered", "journey_activity.delivered"), ("rejected", "journey_activity.failed"),
            ("skipped", "journey_activity.skipped")} <= reported(local)
    # Pinpoint's retry of the batch gets the same outcomes, from the ledger; nothing is sent again.
    again = invoke(local, run.event)
    assert {eid: again.status(eid) for eid in records} == {"delivered": "DELIVERED", "rejected": "FAILED",
                                                           "skipped": "SKIPPED"}
    assert len(local.provider.sends) == 1


def test_a_timed_out_execution_gives_every_open_endpoint_a_final_status(make_local, invoke, tmp_path):
    """The real ASL with only its execution-level TimeoutSeconds (a 3-day backstop) shortened to
    5 s (room for every function's cold start on a loaded machine): an endpoint still waiting for
    its receipt ends FAILED / execution_timed_out."""
    import json
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "template.yaml", tmp_path / "template.yaml")
    (tmp_path / "statemachines").mkdir()
    definition = json.loads((root / "statemachines" / "batch.asl.json").read_text())
    assert definition["TimeoutSeconds"] >= 2 * 86_400
    definition["TimeoutSeconds"] = 5
    (tmp_path / "statemachines" / "batch.asl.json").write_text(json.dumps(definition))

    local = make_local(template=tmp_path / "template.yaml", behaviours={"+14155550123": "never"},
                       receipt_timeout_seconds=60, receipt_heartbeat_seconds=30, deadline_seconds=15)
    run = invoke(local, event_with({"waiting": endpoint("SMS", "+14155550123"),
                                    "done": endpoint("SMS", "+14155550124")}))
    # The invoker saw the execution end within its deadline and answered from the ledger.
    assert run.attributes("waiting") == {"status": "FAILED", "channel": "SMS", "reason": "execution_timed_out",
                                         "provider": "http"}
    assert run.status("done") == "DELIVERED"
    assert local.wait_for_execution(run.arn)["status"] == "TIMED_OUT"
    assert _wait_for(lambda: run.ledger()["waiting"]["status"] == "FAILED")
    assert run.ledger()["waiting"]["reason"] == "execution_timed_out"
    assert _wait_for(lambda: ("waiting", "journey_activity.failed") in reported(local))


def test_a_run_left_over_from_a_closed_environment_does_not_reach_the_next_one():
    """Closing an environment stops its runs; the thread of one that was waiting for a receipt
    ends only when its heartbeat expires, in the next environment's lifetime. That ending is not
    announced there (its engine never heard of the run), so no finalizer fails on it."""
    from journey_activity_local.stack import LocalEnvironment, LocalOptions

    options = {"behaviours": {"+14155550123": "never"}, "receipt_delay": 0.05, "receipt_timeout_seconds": 60,
               "receipt_heartbeat_seconds": 2, "deadline_seconds": 0.5}
    with LocalEnvironment(LocalOptions(**options)) as first:
        first.invoke(event_with({"waiting": endpoint("SMS", "+14155550123")}))
        arn = first.executions()[0]["executionArn"]
        assert _wait_for(lambda: bool(first.provider.sends))
    with LocalEnvironment(LocalOptions(**{**options, "deadline_seconds": 8})) as second:
        # The first run's heartbeat (2 s) expires meanwhile and its thread ends.
        time.sleep(4)
        assert not second.execution_events.delivered
        assert not second.registry.errors
        run = second.invoke(event_with({"done": endpoint("SMS", "+14155550124")}, JourneyId="journey-2"))
        assert run["done"]["EventAttributes"]["status"] == "DELIVERED"
        statuses = {d["event"]["detail"]["executionArn"]: d["event"]["detail"]["status"]
                    for d in second.execution_events.delivered}
        assert arn not in statuses


def _break_the_finalizer() -> None:
    """Runs in every function's execution environment: the finalizer fails on every event."""
    import journey_activity.handlers.finalize as finalize_handler

    finalize_handler.finalize = _ledger_outage


def test_a_finalizer_event_that_keeps_failing_ends_in_the_finalizers_dead_letter_queue(make_local, invoke):
    """EventBridge invokes the finalizer asynchronously: Lambda tries the event 3 times (the first
    and MaximumRetryAttempts 2), then sends its invocation record to the on-failure destination,
    FinalizeDeadLetterQueue, with the function's role. Nothing else records the lost event."""
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=60,
                       receipt_heartbeat_seconds=30, deadline_seconds=0.5,
                       worker_initializers=[(_break_the_finalizer, ())])
    run = invoke(local, event_with({"waiting": endpoint("SMS", "+14155550123")}))
    assert _wait_for(lambda: bool(run.ledger().get("waiting", {}).get("provider_message_id")))
    local.client("stepfunctions").stop_execution(executionArn=run.arn, error="Operator", cause="stopped by hand")

    def finalizer_gave_up():
        return [d for d in local.execution_events.delivered if d["function"] == "FinalizeFunction"]

    assert _wait_for(lambda: bool(finalizer_gave_up()))
    delivery, = finalizer_gave_up()
    assert delivery["attempts"] == 3
    assert delivery["destination"] == local.destination_queues["FinalizeDeadLetterQueue"][1]
    record, = local.dead_letters()
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:FinalizeFunction:$LATEST")
    assert record["requestPayload"]["detail"] == {**record["requestPayload"]["detail"], "executionArn": run.arn,
                                                  "status": "ABORTED"}
    assert "Internal server error" in record["responsePayload"]["errorMessage"]
    # The endpoint is still open: the record is what an operator replays (docs/operations).
    assert run.ledger()["waiting"]["status"] != "FAILED"
    assert not local.guard_totals().denials
