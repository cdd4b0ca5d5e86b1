"""Push through AWS End User Messaging Push end to end on the local run: the push sender calls the
local SendMessages endpoint (restJson1, SigV4, authorized against the sender's role on the
template's push application), and its synchronous answer ends the endpoint at once: the sender
resumes its own task, nothing waits for a receipt. Each --behave word gets the status a person
would expect; nothing is sent twice."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import endpoint, event_with

pytestmark = pytest.mark.integration

TOKENS = {
    "tok-deliver": ("deliver", "DELIVERED", None),
    "tok-bounce": ("bounce", "FAILED", "permanent_failure"),
    "tok-fail": ("fail", "FAILED", "permanent_failure"),
    "tok-reject": ("reject", "FAILED", "provider_rejected"),
    "tok-optout": ("optout", "SKIPPED", "opted_out"),
    "tok-throttled": ("throttled:2", "DELIVERED", None),
    "tok-flaky": ("flaky:1", "DELIVERED", None),
    "tok-outage": ("outage", "FAILED", "provider_unavailable"),
    "tok-never": ("never", "FAILED", "send_outcome_unknown"),
}


def test_push_outcomes_are_final_at_the_send(make_local, invoke):
    # A receipt wait far longer than the run: an endpoint left waiting would show.
    # The invoker's whole time: an outage is tried five times (the send at once, the task and its three
    # retries) before it is FAILED; the answer still comes as soon as every endpoint is final.
    local = make_local(providers={"GCM": "push", "APNS": "push"}, receipt_timeout_seconds=300,
                       receipt_heartbeat_seconds=290, deadline_seconds=25,
                       behaviours={token: word for token, (word, _, _) in TOKENS.items()})
    endpoints = {f"gcm-{token}": endpoint("GCM", token) for token in TOKENS}
    endpoints["apns"] = endpoint("APNS", "tok-apns")
    run = invoke(local, event_with(endpoints))
    run.finish(timeout=90)
    records = run.ledger()
    for token, (_, status, reason) in TOKENS.items():
        record = records[f"gcm-{token}"]
        assert (record["status"], record.get("reason")) == (status, reason), (token, record)
        assert run.attributes(f"gcm-{token}")["status"] == status
    assert records["apns"]["status"] == "DELIVERED"
    assert records["apns"]["provider"] == "push"
    standin = local.standins["push"]
    accepted = {"tok-deliver", "tok-throttled", "tok-flaky", "tok-apns"}
    assert sorted(s["address"] for s in standin.sends) == sorted(accepted)
    assert standin.duplicate_sends == 0
    assert {s["channel"] for s in standin.sends} == {"GCM", "APNS"}
    history = run.history()
    scheduled = [event["taskScheduledEventDetails"] for event in history if event["type"] == "TaskScheduled"]
    waits = [details for details in scheduled if "waitForTaskToken" in details["resource"]]
    assert waits
    assert all("PushSendFunction" in details["parameters"] for details in waits)
    # No receipt: the push sender resumed every task itself; nobody called the receipt API.
    invoked = local.registry.summary()
    assert "CallbackFunction" not in invoked, invoked
    assert "ReceiptQueueFunction" not in invoked, invoked
    assert not [e for e in history if e["type"] in ("TaskTimedOut",)]


def test_a_lost_push_answer_is_failed_at_once_and_never_sent_again(make_local, invoke):
    """The push service answers after the sender's timeout: the message may be on its way, and
    push has no events to tell later, so the endpoint ends FAILED send_outcome_unknown at once."""
    local = make_local(providers={"GCM": "push"}, behaviours={"tok-slow": "stall:3"}, receipt_timeout_seconds=300,
                       receipt_heartbeat_seconds=290)
    entry = {**local.standins["push"].provider_config("GCM"), "timeout_seconds": 1}
    local.set_environment(CHANNEL_PROVIDERS=json.dumps({"GCM": entry}))
    run = invoke(local, event_with({"slow": endpoint("GCM", "tok-slow")}))
    run.finish()
    record = run.ledger()["slow"]
    assert (record["status"], record["reason"]) == ("FAILED", "send_outcome_unknown")
    standin = local.standins["push"]
    # The stand-in took the one request (it answered late); the state machine sent no other.
    assert len(standin.sends) == 1
    assert standin.duplicate_sends == 0
