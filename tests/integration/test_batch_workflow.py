"""The whole batch, end to end: the real ASL on moto's engine, the real handlers behind the
local Lambda endpoint, a real HTTP provider stand-in and real signed receipts."""

from __future__ import annotations

import json
import time

import pytest
import urllib3

from journey_activity.ledger import Ledger
from journey_activity.models.pinpoint import ChannelType
from journey_activity.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signed_headers
from journey_activity_local.stack import PROVIDER_NAME, TABLE_NAME

from .conftest import address_for, endpoint, event_with, load_event

pytestmark = pytest.mark.integration

HTTP = urllib3.PoolManager(retries=False)


def post_receipt(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    response = HTTP.request("POST", url, body=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json", **headers}, timeout=5)
    return response.status, json.loads(response.data or b"{}")


def post_consumed(local, body: dict | str, headers: dict[str, str]) -> None:
    """Post one receipt to the receipts API, which queues it (200), and wait until the callback
    function has taken it off the queue (applied, parked or refused)."""
    before = local.callback_poller.deleted
    raw = body if isinstance(body, str) else json.dumps(body)
    response = HTTP.request("POST", local.receipts_url, body=raw.encode(),
                            headers={"Content-Type": "application/json", **headers}, timeout=5)
    assert response.status == 200, response.data
    assert local.callback_poller.wait_deleted(before + 1)


def test_every_channel_type_is_sent_and_delivered(make_local, invoke):
    # The whole of the invoker's time (its Lambda timeout allows 27 s): other tests' batches (a
    # 600-profile one) may load the machine; the answer still comes as soon as every endpoint is final.
    local = make_local(deadline_seconds=25)
    endpoints = {f"ep-{c.value.lower()}": endpoint(c.value, address_for(c)) for c in ChannelType}
    run = invoke(local, event_with(endpoints))

    assert set(run.response) == set(endpoints)
    for endpoint_id, item in endpoints.items():
        attributes = run.attributes(endpoint_id)
        assert attributes["status"] == "DELIVERED", (endpoint_id, attributes)
        assert attributes["channel"] == item["ChannelType"]
        assert attributes["provider"] == "http"
        assert len(attributes) <= 5
    output = run.finish()
    assert {r["status"] for r in output["results"]} == {"DELIVERED"}
    sends = {s["endpoint_id"]: s for s in local.provider.sends}
    assert set(sends) == set(endpoints)
    assert sends["ep-sms"]["message"] == "Hi Ana"
    assert sends["ep-sms"]["address"] == "+14155550123"
    assert sends["ep-email"]["channel"] == "EMAIL"
    records = run.ledger()
    assert all(r["status"] == "DELIVERED" and r["provider_message_id"] and r["attempts"] == 1
               for r in records.values())
    # Each endpoint is one Map iteration of one state: the happy path costs one transition per endpoint.
    entered = [e["stateEnteredEventDetails"]["name"] for e in run.history() if e["type"].endswith("StateEntered")]
    assert entered.count("Send and wait for delivery receipt") == len(endpoints)
    assert "Record failed delivery" not in entered
    # Plus, per batch: Validate, the wait mode's Choice, the send at once (one Map and one sender per
    # channel family: e-mail, SMS and voice, push, HTTP), the Map of waits, and one task to compile
    # and report.
    families = 4
    assert entered.count("Send without waiting") == families
    assert entered[-1] == "Compile and report the outcomes"
    assert len(entered) == len(endpoints) + 5 + families


def test_the_documentation_example_runs(make_local, invoke):
    local = make_local()
    run = invoke(local, load_event("pinpoint_docs_example"))
    assert run.attributes("EndpointId-1234")["status"] == "DELIVERED"
    assert run.attributes("EndpointId-5678") == {"status": "SKIPPED", "channel": "EMAIL", "reason": "address_missing"}
    run.finish()
    # The plain-text Data is sent as it is: it has no placeholders.
    assert local.provider.sends[0]["message"].startswith("The payload that's provided")


def test_endpoints_that_cannot_be_sent_are_skipped_with_a_reason(make_local, invoke):
    local = make_local(environment={"ADDRESS_RULES": json.dumps({"CUSTOM": r"^https://.+"}),
                                    "CHANNEL_PROVIDERS": json.dumps({"BAIDU": None})})
    endpoints = {
        "opted-out": endpoint("EMAIL", "quiet@example.com", OptOut="ALL"),
        "inactive": endpoint("SMS", "+14155550100", EndpointStatus="INACTIVE"),
        "bad-email": endpoint("EMAIL", "not an address"),
        "bad-sms": endpoint("SMS", "555-0100"),
        "bad-voice": endpoint("VOICE", "+0123"),
        "empty-push": endpoint("APNS", ""),
        "bad-custom": endpoint("CUSTOM", "ftp://nope"),
        "no-provider": endpoint("BAIDU", "baidu-token"),
        "bad-channel": endpoint("FAX", "+14155550101"),
        "good": endpoint("SMS", "+14155550102"),
    }
    run = invoke(local, event_with(endpoints))
    expected = {
        "opted-out": "opted_out", "inactive": "inactive", "bad-email": "address_invalid",
        "bad-sms": "address_invalid", "bad-voice": "address_invalid", "empty-push": "address_missing",
        "bad-custom": "address_invalid", "no-provider": "no_provider", "bad-channel": "invalid_endpoint",
    }
    for endpoint_id, reason in expected.items():
        assert run.attributes(endpoint_id)["status"] == "SKIPPED", endpoint_id
        assert run.attributes(endpoint_id)["reason"] == reason, endpoint_id
    assert run.status("good") == "DELIVERED"
    run.finish()
    assert [s["endpoint_id"] for s in local.provider.sends] == ["good"]
    assert run.ledger()["bad-channel"]["channel"] == "FAX"


def test_provider_5xx_is_retried_until_it_succeeds(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "flaky:2"})
    run = invoke(local, event_with({"flaky": endpoint("SMS", "+14155550123")}))
    assert run.status("flaky") == "DELIVERED"
    run.finish()
    key = local.provider.sends[0]["idempotency_key"]
    assert local.provider.attempts[key] == 3
    assert run.ledger()["flaky"]["attempts"] == 3
    # The first 503 answered the send at once, which leaves the endpoint to its own task (no error in
    # the history); the task's first try had the second, and its retry succeeded.
    failures = [e for e in run.history() if e["type"] == "TaskFailed"]
    assert [e["taskFailedEventDetails"]["error"] for e in failures] == ["ProviderUnavailable"]


def test_provider_4xx_is_not_retried_and_fails_the_endpoint(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "reject"})
    run = invoke(local, event_with({"rejected": endpoint("SMS", "+14155550123"),
                                    "fine": endpoint("SMS", "+14155550124")}))
    assert run.attributes("rejected")["status"] == "FAILED"
    assert run.attributes("rejected")["reason"] == "provider_rejected"
    assert run.status("fine") == "DELIVERED"
    run.finish()
    assert sorted(local.provider.attempts.values()) == [1, 1]
    assert "400" in run.ledger()["rejected"]["error"]


def test_provider_outage_fails_after_the_retries(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "outage"}, deadline_seconds=15)
    run = invoke(local, event_with({"down": endpoint("SMS", "+14155550123")}))
    run.finish()
    record = run.ledger()["down"]
    assert record["status"] == "FAILED"
    assert record["reason"] == "provider_unavailable"
    assert record["attempts"] == 5  # the send at once, the endpoint's task's first try and its three retries


def test_bounced_receipt_fails_the_endpoint(make_local, invoke):
    local = make_local(behaviours={"someone@example.com": "bounce"})
    run = invoke(local, event_with({"bounced": endpoint("EMAIL", "someone@example.com")}))
    assert run.attributes("bounced")["status"] == "FAILED"
    assert run.attributes("bounced")["reason"] == "bounced"
    output = run.finish()
    assert output["results"][0]["receipt_status"] == "bounced"
    assert any(e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "DeliveryFailed"
               for e in run.history())


def test_no_receipt_times_out(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=4,
                       receipt_heartbeat_seconds=2, deadline_seconds=6)
    run = invoke(local, event_with({"silent": endpoint("SMS", "+14155550123"),
                                    "fine": endpoint("SMS", "+14155550124")}))
    assert run.attributes("silent")["status"] == "TIMED_OUT"
    assert run.attributes("silent")["reason"] == "no_receipt"
    assert run.status("fine") == "DELIVERED"
    run.finish()


def test_an_unconfirmed_endpoint_is_pending_at_the_deadline(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=4,
                       receipt_heartbeat_seconds=2, deadline_seconds=0.5)
    run = invoke(local, event_with({"silent": endpoint("SMS", "+14155550123")}))
    assert run.status("silent") == "PENDING"
    run.finish()
    assert run.ledger()["silent"]["status"] == "TIMED_OUT"


def test_the_same_batch_twice_starts_one_execution_and_sends_once(make_local, invoke):
    local = make_local()
    event = event_with({"a": endpoint("SMS", "+14155550123"), "b": endpoint("EMAIL", "b@example.com")})
    first = invoke(local, event)
    second = invoke(local, event)  # Pinpoint's retry while the execution may still run
    assert first.response == second.response
    first.finish()
    third = invoke(local, event)  # and once it has closed
    assert third.response == first.response
    assert len(local.executions()) == 1
    assert len(local.provider.sends) == 2
    assert local.provider.duplicate_sends == 0


def test_the_same_batch_invoked_concurrently_joins_one_execution(make_local, invoke):
    """Pinpoint's retry of a slow invocation runs while the first is still waiting."""
    from concurrent.futures import ThreadPoolExecutor

    local = make_local()
    event = event_with({f"e{n}": endpoint("SMS", f"+1415555{n:04d}") for n in range(10)})
    for round_ in range(3):
        batch = event_with(event["Endpoints"], data=f"round {round_}")
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = list(pool.map(invoke, [local] * 4, [batch] * 4))
        assert all(run.response == runs[0].response for run in runs)
        runs[0].finish()
    assert len(local.executions()) == 3
    assert len({e["name"] for e in local.executions()}) == 3
    assert len(local.provider.sends) == 30
    assert local.provider.duplicate_sends == 0


def test_concurrent_starts_of_one_name_give_one_execution(make_local):
    """StartExecution is atomic in AWS: same name and input while running join the first run."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    local = make_local()
    sfn = local.client("stepfunctions")
    document = json.dumps({"context": {"batch_id": "x"}})
    for round_ in range(5):
        barrier = threading.Barrier(8)

        def start(_: int, name: str = f"concurrent-{round_}", barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return sfn.start_execution(stateMachineArn=local.state_machine_arn, name=name, input=document)[
                "executionArn"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert len(set(pool.map(start, range(8)))) == 1
    names = [e["name"] for e in local.executions()]
    assert sorted(names) == [f"concurrent-{n}" for n in range(5)]


def test_receipt_before_the_message_id_is_recorded(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "early"})
    run = invoke(local, event_with({"early": endpoint("SMS", "+14155550123")}))
    assert run.status("early") == "DELIVERED"
    run.finish()
    # The API queued the receipt (200) before the send was recorded; the callback parked it and the
    # sender applied it when it linked the message id.
    assert [r["http_status"] for r in local.provider.receipts] == [200]
    assert run.ledger()["early"]["receipt_status"] == "delivered"
    assert "Record failed delivery" not in [e.get("stateEnteredEventDetails", {}).get("name") for e in run.history()]


def _receipt_for(local, run, endpoint_id: str, status: str = "delivered") -> dict:
    message_id = run.ledger()[endpoint_id]["provider_message_id"]
    return {"message_id": message_id, "status": status, "timestamp": "2026-11-23T09:00:01Z"}


def test_forged_missing_and_stale_signatures_are_rejected(make_local, invoke):
    local = make_local(behaviours={"+14155550123": "never"}, receipt_timeout_seconds=6,
                       receipt_heartbeat_seconds=5, deadline_seconds=0.5)
    run = invoke(local, event_with({"silent": endpoint("SMS", "+14155550123")}))
    deadline = time.monotonic() + 5
    while not run.ledger().get("silent", {}).get("provider_message_id") and time.monotonic() < deadline:
        time.sleep(0.05)
    body = _receipt_for(local, run, "silent", "bounced")
    raw = json.dumps(body)

    # The API queues each (200); the callback function refuses each from the queue and deletes it.
    post_consumed(local, body, {})
    post_consumed(local, body, signed_headers("not-the-secret", raw))
    stale_at = int(time.time()) - 301
    post_consumed(local, body, {TIMESTAMP_HEADER: str(stale_at),
                                SIGNATURE_HEADER: sign(local.signing_secret, stale_at, raw)})
    post_consumed(local, body, signed_headers(local.signing_secret, raw.replace("bounced", "delivered")))

    # None of them changed anything: the endpoint is still waiting for its receipt.
    assert run.ledger()["silent"]["status"] == "SENT"
    assert "receipt_status" not in run.ledger()["silent"]
    assert local.callback_poller.left == 0
    post_consumed(local, body, signed_headers(local.signing_secret, raw))
    assert run.finish()["results"][0]["reason"] == "bounced"


def test_duplicate_and_late_receipts_are_acknowledged_and_recorded(make_local, invoke):
    # The invoker's deadline leaves headroom over the 3 s timeout for a loaded machine.
    local = make_local(behaviours={"+14155550124": "never"}, receipt_timeout_seconds=3,
                       receipt_heartbeat_seconds=2, deadline_seconds=10)
    run = invoke(local, event_with({"fine": endpoint("SMS", "+14155550123"),
                                    "late": endpoint("SMS", "+14155550124")}))
    run.finish()
    assert run.status("late") == "TIMED_OUT"

    duplicate = _receipt_for(local, run, "fine")
    before = run.ledger()["fine"]
    raw = json.dumps(duplicate)
    post_consumed(local, duplicate, signed_headers(local.signing_secret, raw))
    assert run.ledger()["fine"]["status"] == before["status"] == "DELIVERED"

    late = _receipt_for(local, run, "late")
    raw = json.dumps(late)
    post_consumed(local, late, signed_headers(local.signing_secret, raw))
    record = run.ledger()["late"]
    assert record["status"] == "TIMED_OUT"
    assert record["late_receipt_status"] == "delivered"
    # ... and reported as a late delivery.
    late_events = [e for e in local.event_bus.events() if e["detail-type"] == "late_delivered"]
    assert [e["detail"]["endpoint_id"] for e in late_events] == ["late"]
    assert late_events[0]["detail"]["trigger"]["journey_id"] == "journey-1"
    assert late_events[0]["detail"]["receipt_status"] == "delivered"


def test_a_receipt_for_an_unknown_message_is_parked_not_refused(make_local):
    local = make_local()
    body = {"message_id": "msg-nobody-knows", "status": "delivered"}
    post_consumed(local, body, signed_headers(local.signing_secret, json.dumps(body)))
    parked = Ledger(TABLE_NAME).pointer(PROVIDER_NAME, "msg-nobody-knows")
    assert [receipt["status"] for receipt in parked["receipts"]] == ["delivered"]


def test_a_receipt_that_is_not_json_is_refused_from_the_queue(make_local):
    local = make_local()
    raw = "message_id=1&status=delivered"
    post_consumed(local, raw, signed_headers(local.signing_secret, raw))
    # Refused and deleted (not left for redelivery), nothing parked.
    assert local.callback_poller.left == 0
    assert Ledger(TABLE_NAME).pointer(PROVIDER_NAME, "1") is None


def test_engagement_events_arrive_in_eventbridge(make_local, invoke):
    """The default sink: the template's event bus on the local EventBridge, read back through a
    rule on that bus (not from the sender's side). One outcome event per endpoint by default."""
    local = make_local(behaviours={"b@example.com": "bounce"})
    run = invoke(local, event_with({"a": endpoint("SMS", "+14155550123"), "b": endpoint("EMAIL", "b@example.com"),
                                    "c": endpoint("SMS", "+14155550125", OptOut="ALL")}))
    output = run.finish()
    assert output["report"]["outcome"]["sink"] == "eventbridge"
    assert output["report"]["outcome"]["accepted"] == 3
    received = local.event_bus.events()
    assert sorted((e["detail"]["endpoint_id"], e["detail-type"]) for e in received) == [
        ("a", "delivered"), ("b", "failed"), ("c", "skipped")]
    delivered = next(e["detail"] for e in received if e["detail-type"] == "delivered")
    assert delivered["sent_at"]
    assert delivered["provider_message_id"]
    assert {e["source"] for e in received} == {"journey_activity"}
    assert {e["detail"]["trigger"]["application_id"] for e in received} == {"app-integration"}
    assert {e["detail"]["trigger"]["batch_id"] for e in received} == {run.arn.rsplit(":", 1)[-1]}
    failed = next(e["detail"] for e in received if e["detail-type"] == "failed")
    assert (failed["status"], failed["channel"], failed["provider"]) == ("FAILED", "EMAIL", "http")
    # No personal data: neither address nor message reaches the bus.
    text = json.dumps(received)
    assert "b@example.com" not in text
    assert "+14155550123" not in text
    assert "Hi " not in text
    assert local.pinpoint.events == []


def test_engagement_events_are_reported_to_pinpoint_when_configured(make_local, invoke):
    local = make_local(behaviours={"b@example.com": "bounce"},
                       environment={"REPORT_SINK": "pinpoint", "REPORT_SENT_EVENTS": "true"})
    run = invoke(local, event_with({"a": endpoint("SMS", "+14155550123"), "b": endpoint("EMAIL", "b@example.com"),
                                    "c": endpoint("SMS", "+14155550125", OptOut="ALL")}))
    output = run.finish()
    assert output["report"]["outcome"]["accepted"] == 5
    types = sorted((e["endpoint_id"], e["event"]["EventType"]) for e in local.pinpoint.events)
    assert types == [
        ("a", "journey_activity.delivered"), ("a", "journey_activity.sent"),
        ("b", "journey_activity.failed"), ("b", "journey_activity.sent"),
        ("c", "journey_activity.skipped"),
    ]
    assert {e["application_id"] for e in local.pinpoint.events} == {"app-integration"}


def test_an_unusable_payload_gets_a_clear_error(make_local):
    local = make_local()
    answer = local.invoke({"ApplicationId": "app", "Endpoints": {}})
    assert answer["error"]["type"] == "PayloadError"
    assert "Endpoints" in answer["error"]["message"]
    assert "Traceback" not in answer["error"]["message"]
    assert local.executions() == []


def test_custom_event_attributes_by_jmespath(make_local, invoke):
    expressions = {"status": "status", "delivered": "status == 'DELIVERED'", "msg": "provider_message_id",
                   "attempts": "to_string(attempts)"}
    local = make_local(environment={"EVENT_ATTRIBUTES": json.dumps(expressions)})
    run = invoke(local, event_with({"a": endpoint("SMS", "+14155550123")}))
    attributes = run.attributes("a")
    assert attributes["delivered"] == "true"
    assert attributes["attempts"] == "1"
    assert attributes["msg"].startswith("msg-")
    run.finish()


def test_progress_receipts_keep_a_slow_delivery_alive_with_heartbeats(make_local, invoke):
    # The final receipt comes after 6 s, past the 4 s heartbeat; the "sent" receipt at 3 s
    # sends a heartbeat, so the wait goes on and the endpoint is delivered, not timed out. (A 2 s
    # heartbeat left too little room on a loaded two-core CI machine.)
    local = make_local(progress_receipts=True, receipt_delay=6.0, receipt_timeout_seconds=16,
                       receipt_heartbeat_seconds=4, deadline_seconds=12)
    run = invoke(local, event_with({"slow": endpoint("SMS", "+14155550123")}))
    assert run.status("slow") == "DELIVERED"
    run.finish()
    assert [r["status"] for r in local.provider.receipts] == ["sent", "delivered"]
    assert run.ledger()["slow"]["last_receipt_status"] == "sent"


def test_handlers_keep_their_log_keys_out_of_the_shared_logger(make_local, invoke):
    """Locally the handlers run on many threads with one logger: the keys an invocation adds
    (batch, endpoint, attempt) stay with that invocation, never in the logger's shared state
    that another thread may be reading while it logs."""
    from journey_activity.handlers._runtime import logger

    local = make_local()
    run = invoke(local, event_with({"a": endpoint("SMS", "+14155550123"), "b": endpoint("SMS", "+14155550124")}))
    assert {run.status("a"), run.status("b")} == {"DELIVERED"}
    run.finish()
    shared = logger.registered_formatter.log_format
    assert not {"batch_id", "endpoint_id", "attempt", "channel"} & shared.keys(), shared
