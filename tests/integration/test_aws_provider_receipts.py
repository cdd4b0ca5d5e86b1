"""E-mail through SES end to end on the local run: the e-mail sender calls SendEmail on moto's
sesv2; SES's event records, built from the real send's message id, go through the local SNS topic
into the receipt queue, whose poller invokes the receipt queue function as Lambda's event source
mapping would; the function resumes the waiting task. Each --behave word gets the status a person
would expect."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import endpoint, event_with

pytestmark = pytest.mark.integration

EMAIL_BEHAVIOURS = {
    "deliver@example.com": ("deliver", "DELIVERED", None),
    "bounce@example.com": ("bounce", "FAILED", "bounced"),
    "fail@example.com": ("fail", "FAILED", "rejected"),
    "reject@example.com": ("reject", "FAILED", "provider_rejected"),
    "throttled@example.com": ("throttled:1", "DELIVERED", None),
    "flaky@example.com": ("flaky:1", "DELIVERED", None),
    "early@example.com": ("early", "DELIVERED", None),
    "duplicate@example.com": ("duplicate", "DELIVERED", None),
}


def test_ses_outcomes_come_back_through_the_receipt_queue(make_local, invoke):
    local = make_local(providers={"EMAIL": "ses"},
                       behaviours={address: word for address, (word, _, _) in EMAIL_BEHAVIOURS.items()})
    endpoints = {address.split("@")[0]: endpoint("EMAIL", address) for address in EMAIL_BEHAVIOURS}
    message = '{"subject": "Hello", "text": "Hi {{User.UserAttributes.FirstName}}"}'
    run = invoke(local, event_with(endpoints, data=message))
    run.finish()
    records = run.ledger()
    for address, (_, status, reason) in EMAIL_BEHAVIOURS.items():
        record = records[address.split("@")[0]]
        assert (record["status"], record.get("reason")) == (status, reason), (address, record)
        if status == "DELIVERED":
            assert record["provider"] == "ses"
    ses = local.standins["ses"]
    # Each accepted message was sent once; the refused attempts (429, 503) were retried by the ASL.
    assert sorted(s["address"] for s in ses.sends) == sorted(a for a in EMAIL_BEHAVIOURS if a != "reject@example.com")
    assert ses.duplicate_sends == 0
    assert {s["configuration_set"] for s in ses.sends} == {"journey-activity-local-email"}
    # The message ids in the ledger are the ones moto's SES gave.
    assert {records[s["address"].split("@")[0]]["provider_message_id"] for s in ses.sends} == {
        s["message_id"] for s in ses.sends}
    # The history names the e-mail sender for every e-mail endpoint.
    scheduled = [event["taskScheduledEventDetails"] for event in run.history() if event["type"] == "TaskScheduled"]
    senders = [details["parameters"] for details in scheduled if "waitForTaskToken" in details["resource"]]
    assert senders
    assert all("EmailSendFunction" in parameters for parameters in senders)
    assert local.receipt_queue.left == 0


SMS_BEHAVIOURS = {
    "+14155550101": ("SMS", "deliver", "DELIVERED", None),
    "+14155550102": ("SMS", "bounce", "FAILED", "undeliverable"),
    "+14155550103": ("SMS", "fail", "FAILED", "blocked"),
    "+14155550104": ("SMS", "reject", "FAILED", "provider_rejected"),
    "+14155550105": ("SMS", "optout", "SKIPPED", "opted_out"),
    "+14155550106": ("SMS", "throttled:1", "DELIVERED", None),
    "+14155550107": ("SMS", "early", "DELIVERED", None),
    "+14155550108": ("VOICE", "deliver", "DELIVERED", None),
    "+14155550109": ("VOICE", "bounce", "FAILED", "undelivered"),
}


def test_sms_and_voice_outcomes_come_back_through_the_receipt_queue(make_local, invoke):
    local = make_local(providers={"SMS": "sms-voice", "VOICE": "sms-voice"},
                       behaviours={address: word for address, (_, word, _, _) in SMS_BEHAVIOURS.items()})
    endpoints = {f"{channel.lower()}-{address[-2:]}": endpoint(channel, address)
                 for address, (channel, _, _, _) in SMS_BEHAVIOURS.items()}
    run = invoke(local, event_with(endpoints))
    run.finish()
    records = run.ledger()
    for address, (channel, _, status, reason) in SMS_BEHAVIOURS.items():
        record = records[f"{channel.lower()}-{address[-2:]}"]
        assert (record["status"], record.get("reason")) == (status, reason), (address, record)
    standin = local.standins["sms-voice"]
    assert standin.duplicate_sends == 0
    assert {s["operation"] for s in standin.sends} == {"SendTextMessage", "SendVoiceMessage"}
    scheduled = [event["taskScheduledEventDetails"] for event in run.history() if event["type"] == "TaskScheduled"]
    assert all("SmsVoiceSendFunction" in details["parameters"] for details in scheduled
               if "waitForTaskToken" in details["resource"])
    # The opted-out endpoint is SKIPPED, and the journey sees it so.
    assert run.attributes("sms-05")["status"] == "SKIPPED"


def test_a_lost_answer_is_not_sent_again_and_its_events_find_the_endpoint_by_key(make_local, invoke):
    """The endpoint answers after the sender's SDK timeout: the send is ambiguous, never retried;
    the service's events carry our key in their context, which finds the endpoint."""
    local = make_local(providers={"SMS": "sms-voice"}, behaviours={"+14155550131": "stall:3"})
    entry = {**local.standins["sms-voice"].provider_config("SMS"), "timeout_seconds": 1}
    local.set_environment(CHANNEL_PROVIDERS=json.dumps({"SMS": entry}))
    run = invoke(local, event_with({"slow": endpoint("SMS", "+14155550131")}))
    run.finish()
    record = run.ledger()["slow"]
    assert record["status"] == "DELIVERED"
    assert record["outcome_unknown"] is True
    assert "ReadTimeoutError" in record["last_error"]
    standin = local.standins["sms-voice"]
    assert len(standin.sends) == 1
    assert standin.duplicate_sends == 0
