"""Personal data in logs: the functions' Powertools logger masks endpoint addresses, user
attributes and messages unless LOG_PERSONAL_DATA=true. Checked on the logger's real output."""

from __future__ import annotations

import io
import json

from journey_activity.handlers._runtime import logger
from journey_activity.security import REDACTED

ENDPOINT = {
    "ChannelType": "SMS",
    "Address": "+14155550123",
    "EndpointStatus": "ACTIVE",
    "Attributes": {"CohortId": ["cohort-3"]},
    "User": {"UserId": "user-7", "UserAttributes": {"FirstName": ["Ana"]}},
    "Location": {"City": "Lisbon"},
}


def test_redaction_on_the_real_output(monkeypatch):
    monkeypatch.delenv("LOG_PERSONAL_DATA", raising=False)
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        logger.info("Sending", extra={"address": "+14155550123", "endpoint": ENDPOINT,
                                      "profile": {"Name": "Ana"}, "endpoint_id": "sms-1", "channel": "SMS"})
        logger.info("Event", extra={"event": {"Endpoints": {"sms-1": ENDPOINT}, "Data": "Hi"}})
        logger.info("Rendered", extra={"request": {"message": "Hi Ana", "idempotency_key": "k"}})
        logger.append_keys(Address="kenji@example.com")
        logger.info("Appended keys are records too")
        logger.remove_keys(["Address"])
        logger.info({"message": "Hi Ana", "UserAttributes": {"FirstName": ["Ana"]}, "batch_id": "b-1"})
    finally:
        logger.registered_handler.setStream(previous)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    text = stream.getvalue()
    for personal in ("+14155550123", "Ana", "cohort-3", "Lisbon", "kenji@example.com"):
        assert personal not in text, personal
    sending, event, rendered, appended, as_dict = records
    assert sending["address"] == REDACTED
    assert sending["profile"] == REDACTED
    assert sending["endpoint"]["Address"] == REDACTED
    assert sending["endpoint"]["User"] == REDACTED
    assert sending["endpoint"]["Attributes"] == REDACTED
    # What is not personal stays, so the logs are still useful.
    assert (sending["endpoint_id"], sending["channel"], sending["endpoint"]["ChannelType"]) == ("sms-1", "SMS", "SMS")
    assert sending["message"] == "Sending"
    assert ":" in sending["location"]  # Powertools' function:line, not an endpoint's Location
    assert event["event"]["Endpoints"]["sms-1"]["Address"] == REDACTED
    assert event["event"]["Data"] == "Hi"
    assert rendered["request"] == {"message": REDACTED, "idempotency_key": "k"}
    assert appended["Address"] == REDACTED
    assert as_dict["message"] == {"message": REDACTED, "UserAttributes": REDACTED, "batch_id": "b-1"}


def test_log_personal_data_turns_redaction_off(monkeypatch):
    monkeypatch.setenv("LOG_PERSONAL_DATA", "true")
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        logger.info("Sending", extra={"address": "+14155550123", "endpoint": ENDPOINT})
    finally:
        logger.registered_handler.setStream(previous)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["address"] == "+14155550123"
    assert record["endpoint"]["User"]["UserAttributes"] == {"FirstName": ["Ana"]}


def test_a_self_referencing_value_does_not_break_the_formatter():
    from journey_activity.security import redact

    loop: dict[str, object] = {"endpoint_id": "e"}
    loop["self"] = loop
    redacted = redact(loop)
    assert redacted["endpoint_id"] == "e"
