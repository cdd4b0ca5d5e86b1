"""SMS through Twilio end to end on the local run: the SMS sender calls the Twilio stand-in's REST
API (Basic auth with the token read from the local Secrets Manager, as its IAM statements allow);
the stand-in posts StatusCallbacks signed as Twilio signs them to the local HTTP API's
``/receipts/twilio``, which queues them (SQS-SendMessage) for the callback function, which
verifies them and resumes the waiting task. Each --behave
word gets the status a person would expect."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
import urllib3
from twilio.request_validator import RequestValidator

from tests.integration.conftest import endpoint, event_with

pytestmark = pytest.mark.integration

BEHAVIOURS = {
    "+14155550201": ("deliver", "DELIVERED", None),
    "+14155550202": ("bounce", "FAILED", "undelivered"),
    "+14155550203": ("fail", "FAILED", "failed"),
    "+14155550204": ("reject", "FAILED", "provider_rejected"),
    "+14155550205": ("optout", "SKIPPED", "opted_out"),
    "+14155550206": ("throttled:1", "DELIVERED", None),
    "+14155550207": ("flaky:1", "DELIVERED", None),
    "+14155550208": ("early", "DELIVERED", None),
    "+14155550209": ("duplicate", "DELIVERED", None),
}


def test_twilio_outcomes_come_back_through_signed_status_callbacks(make_local, invoke):
    local = make_local(providers={"SMS": "twilio"}, progress_receipts=True,
                       behaviours={address: word for address, (word, _, _) in BEHAVIOURS.items()})
    endpoints = {f"sms-{address[-2:]}": endpoint("SMS", address) for address in BEHAVIOURS}
    run = invoke(local, event_with(endpoints))
    run.finish()
    records = run.ledger()
    for address, (_, status, reason) in BEHAVIOURS.items():
        record = records[f"sms-{address[-2:]}"]
        assert (record["status"], record.get("reason")) == (status, reason), (address, record)
        if status == "DELIVERED":
            assert record["provider"] == "twilio"
            assert record["provider_message_id"].startswith("SM")
    standin = local.standins["twilio"]
    # Each accepted message was sent once; the refused attempts (429, 503) were retried by the ASL.
    refused = {"+14155550204", "+14155550205"}
    assert sorted(s["address"] for s in standin.sends) == sorted(set(BEHAVIOURS) - refused)
    assert standin.duplicate_sends == 0
    # Every callback was accepted by the receipt function (none refused as forged).
    assert standin.callbacks
    assert {c["http_status"] for c in standin.callbacks} <= {200, 202}
    # Status callbacks go to the public receipts URL, with our key in the (signed) query.
    sent = standin.sends[0]["params"]
    assert sent["StatusCallback"].startswith(f"{local.http_api.url}/receipts/twilio?ja_key=")
    # With Twilio's connection overrides: a failed callback is retried 5 times.
    assert sent["StatusCallback"].endswith("#rc=5&rp=all")
    scheduled = [event["taskScheduledEventDetails"] for event in run.history() if event["type"] == "TaskScheduled"]
    assert all("SmsVoiceSendFunction" in details["parameters"] for details in scheduled
               if "waitForTaskToken" in details["resource"])
    assert run.attributes("sms-05")["status"] == "SKIPPED"


def test_a_lost_answer_is_not_sent_again_and_its_callback_finds_the_endpoint_by_key(make_local, invoke):
    """Twilio answers after the sender's timeout: the send is ambiguous, never retried; the status
    callback's URL carries our key (signed with it), which finds the endpoint."""
    local = make_local(providers={"SMS": "twilio"}, behaviours={"+14155550231": "stall:3"})
    entry = {**local.standins["twilio"].provider_config("SMS"), "timeout_seconds": 1}
    local.set_environment(CHANNEL_PROVIDERS=json.dumps({"SMS": entry}))
    run = invoke(local, event_with({"slow": endpoint("SMS", "+14155550231")}))
    run.finish()
    record = run.ledger()["slow"]
    assert record["status"] == "DELIVERED"
    assert record["outcome_unknown"] is True
    assert "ReadTimeoutError" in record["last_error"]
    standin = local.standins["twilio"]
    assert len(standin.sends) == 1
    assert standin.duplicate_sends == 0


def test_a_forged_status_callback_is_refused_and_changes_nothing(make_local, invoke):
    local = make_local(providers={"SMS": "twilio"}, behaviours={"+14155550241": "never"}, deadline_seconds=2,
                       receipt_timeout_seconds=8, receipt_heartbeat_seconds=7)
    run = invoke(local, event_with({"quiet": endpoint("SMS", "+14155550241")}))
    standin = local.standins["twilio"]
    # The invoker answers at its 2 s deadline; on a loaded machine the send may come after it.
    waited_until = time.monotonic() + 60
    while not standin.sends and time.monotonic() < waited_until:
        time.sleep(0.1)
    [sent] = standin.sends
    url = sent["params"]["StatusCallback"]
    params = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "AccountSid": standin.account_sid}
    forged = RequestValidator("not-the-token").compute_signature(url, params)
    answer = urllib3.PoolManager().request(
        "POST", url, body=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": forged})
    # The API queues every request (200); the callback function refuses the forgery from the queue
    # and deletes it: nothing applied, nothing left for redelivery.
    assert answer.status == 200
    assert local.callback_poller.wait_deleted(1)
    assert local.callback_poller.left == 0
    assert run.ledger()["quiet"]["status"] == "SENT"
    run.finish()
    # Nothing delivered it: the wait ended without a receipt.
    assert run.ledger()["quiet"]["status"] == "TIMED_OUT"
