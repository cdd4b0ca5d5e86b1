"""Twilio Programmable Messaging: the signature against oracles we did not write (Twilio's
published test vector and the official ``twilio`` package's ``RequestValidator``), the REST send
against the local stand-in over real HTTP (every error class), the StatusCallback mapping, and
the ``/receipts/twilio`` route through the real callback handler (forged: 401, nothing changed)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from journey_activity.config import TwilioProviderConfig
from journey_activity.errors import (
    ProviderOptedOut,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from journey_activity.handlers._runtime import ledger
from journey_activity.providers import twilio
from journey_activity.providers.base import SendRequest
from journey_activity.receipts import Outcome, classify
from journey_activity_local.standins import twilio as twilio_standin
from journey_activity_local.standins.registry import StandInSetup
from journey_activity_local.standins.twilio import TwilioStandIn
from tests.receipt_messages import queued
from tests.unit.test_security_callbacks import Context, environment  # noqa: F401 - fixture
from tests.unit.test_security_secrets import throttled_secret_reads

KEY = "c" * 40

# Twilio's published test vector: auth token "12345", this URL and these POST parameters sign to
# this value. Source: twilio/twilio-python tests/unit/test_request_validator.py (and the same
# vector in twilio-php's docs/usage/validation.rst, "Validate Incoming Requests").
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


# -- the signature -----------------------------------------------------------------------------


def test_our_signature_matches_twilios_published_vector():
    assert twilio.signature(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS.items()) == VECTOR_SIGNATURE
    assert twilio.signature_valid([VECTOR_TOKEN], VECTOR_URL, VECTOR_PARAMS.items(), VECTOR_SIGNATURE)
    assert RequestValidator(VECTOR_TOKEN).validate(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)
    # The stand-in's own implementation (written apart from the product's) agrees too.
    assert twilio_standin.sign(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE


def test_a_changed_url_parameter_or_token_is_refused():
    assert not twilio.signature_valid([VECTOR_TOKEN], VECTOR_URL.replace("foo=1", "foo=2"), VECTOR_PARAMS.items(),
                                      VECTOR_SIGNATURE)
    assert not twilio.signature_valid([VECTOR_TOKEN], VECTOR_URL, {**VECTOR_PARAMS, "Digits": "1235"}.items(),
                                      VECTOR_SIGNATURE)
    assert not twilio.signature_valid(["54321"], VECTOR_URL, VECTOR_PARAMS.items(), VECTOR_SIGNATURE)
    assert not twilio.signature_valid([VECTOR_TOKEN], VECTOR_URL, VECTOR_PARAMS.items(), None)
    # During a rotation either token verifies.
    assert twilio.signature_valid(["new-token", VECTOR_TOKEN], VECTOR_URL, VECTOR_PARAMS.items(), VECTOR_SIGNATURE)


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(token=st.text(min_size=1, max_size=40).filter(lambda t: t.isprintable()),
       path=st.text("abcxyz/_-", max_size=20), query=st.dictionaries(st.text("abc", min_size=1, max_size=5), _text,
                                                                      max_size=3),
       params=st.dictionaries(st.text("ABCDEFabcdef_", min_size=1, max_size=12), _text, max_size=8))
def test_twilios_request_validator_accepts_our_signature(token, path, query, params):
    url = f"https://receipts.example.com/receipts/twilio{path}" + (f"?{urlencode(query)}" if query else "")
    ours = twilio.signature(token, url, params.items())
    assert RequestValidator(token).validate(url, params, ours)
    assert twilio_standin.sign(token, url, params) == ours


# -- status callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_code", "word", "outcome"), [
    ("queued", None, "queued", Outcome.PROGRESS),
    ("accepted", None, "accepted", Outcome.PROGRESS),
    ("sending", None, "sending", Outcome.PROGRESS),
    ("sent", None, "sent", Outcome.PROGRESS),
    ("delivered", None, "delivered", Outcome.DELIVERED),
    ("read", None, "read", Outcome.DELIVERED),
    ("undelivered", "30003", "undelivered", Outcome.FAILED),
    ("failed", "30008", "failed", Outcome.FAILED),
    ("canceled", None, "canceled", Outcome.FAILED),
    ("failed", "21610", "opted_out", Outcome.SKIPPED),
    ("undelivered", "21610", "opted_out", Outcome.SKIPPED),
])
def test_message_statuses_map_to_ours(status, error_code, word, outcome):
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": status, "AccountSid": "AC" + "b" * 32}
    if error_code:
        params["ErrorCode"] = error_code
    [receipt] = twilio.receipts_from(params, {"ja_key": KEY})
    assert (receipt.message_id, receipt.status, receipt.provider_event) == (params["MessageSid"], word, status)
    assert classify(receipt.status) is outcome
    assert receipt.idempotency_key == KEY
    assert receipt.error_code == (error_code if outcome in (Outcome.FAILED, Outcome.SKIPPED) else None)


def test_a_body_without_sid_or_status_is_not_a_callback():
    with pytest.raises(ValueError, match="MessageSid"):
        twilio.receipts_from({"MessageStatus": "delivered"})
    with pytest.raises(ValueError, match="MessageStatus"):
        twilio.receipts_from({"MessageSid": "SM1"})


# -- the send, against the stand-in over real HTTP ---------------------------------------------


class _Catcher(BaseHTTPRequestHandler):
    """A receipts endpoint that keeps what Twilio's stand-in posts."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.posts.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def catcher() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catcher)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def standin(fake_aws: None, monkeypatch: pytest.MonkeyPatch, catcher: Any) -> Iterator[TwilioStandIn]:
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "true")
    from aws_lambda_powertools.utilities.parameters import base

    base.clear_caches()
    setup = StandInSetup(receipts_base_url=f"http://127.0.0.1:{catcher.server_address[1]}", signing_secret="unused",
                         receipt_delay=0.01, behaviours={"+14155550102": "reject", "+14155550103": "optout",
                                                         "+14155550104": "throttle", "+14155550105": "outage",
                                                         "+14155550106": "stall:2", "+14155550107": "flaky:1"})
    with TwilioStandIn(setup) as server:
        yield server
    base.clear_caches()


def _config(standin: TwilioStandIn, catcher: Any, **fields: Any) -> TwilioProviderConfig:
    entry = {**standin.provider_config("SMS"),
             "callback_url": f"http://127.0.0.1:{catcher.server_address[1]}/receipts/twilio", **fields}
    return TwilioProviderConfig.model_validate(entry)


def _request(address: str = "+14155550101", message: Any = "Your code is 1234") -> SendRequest:
    return SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address=address, message=message,
                       idempotency_key=KEY)


def test_a_send_is_accepted_and_its_status_callback_is_signed_as_twilio_signs(standin, catcher):
    config = _config(standin, catcher)
    result = twilio.TwilioProvider(config).send(_request())
    assert result.message_id.startswith("SM")
    assert len(result.message_id) == 34
    assert result.status == "queued"
    assert result.outcome is None
    [sent] = standin.sends
    assert sent["params"] == {"To": "+14155550101", "Body": "Your code is 1234", "From": "+15005550006",
                              "StatusCallback": f"{config.callback_url}?ja_key={KEY}#rc=5&rp=all"}
    assert standin.wait_for_callbacks(1, timeout=10)
    path, headers, body = catcher.posts[0]
    params = dict(parse_qsl(body))
    assert params["MessageSid"] == result.message_id
    assert params["MessageStatus"] == "delivered"
    url = f"{config.callback_url}?ja_key={KEY}"
    assert path == f"/receipts/twilio?ja_key={KEY}"
    # The official validator accepts the stand-in's signature; so does ours.
    assert RequestValidator(standin.auth_token).validate(url, params, headers["X-Twilio-Signature"])
    assert twilio.signature_valid([standin.auth_token], url, params.items(), headers["X-Twilio-Signature"])


def test_whatsapp_addresses_are_prefixed(standin, catcher):
    twilio.TwilioProvider(_config(standin, catcher, whatsapp=True)).send(_request(message={"text": "Hola"}))
    [sent] = standin.sends
    assert (sent["params"]["To"], sent["params"]["From"], sent["params"]["Body"]) == (
        "whatsapp:+14155550101", "whatsapp:+15005550006", "Hola")


@pytest.mark.parametrize(("address", "error", "match"), [
    ("+14155550102", ProviderRejected, "21211"),
    ("+14155550103", ProviderOptedOut, "21610"),
    ("+14155550104", ProviderThrottled, "20429"),
    ("+14155550105", ProviderUnavailable, "20503"),
    ("not-a-number", ProviderRejected, "21211"),
])
def test_twilio_errors_map_to_ours(standin, catcher, address, error, match):
    with pytest.raises(error, match=match):
        twilio.TwilioProvider(_config(standin, catcher)).send(_request(address))
    assert standin.sends == []


def test_flaky_then_accepted(standin, catcher):
    provider = twilio.TwilioProvider(_config(standin, catcher))
    with pytest.raises(ProviderUnavailable):
        provider.send(_request("+14155550107"))
    assert provider.send(_request("+14155550107")).message_id.startswith("SM")


def test_a_timeout_after_the_request_was_sent_is_an_unknown_outcome(standin, catcher):
    with pytest.raises(ProviderOutcomeUnknown, match="ReadTimeoutError"):
        twilio.TwilioProvider(_config(standin, catcher, timeout_seconds=0.5)).send(_request("+14155550106"))
    # Twilio had accepted it: a retry would have sent it twice.
    assert len(standin.sends) == 1


def test_a_wrong_auth_token_is_a_rejection_that_never_quotes_the_token(standin, catcher):
    boto3.client("secretsmanager").put_secret_value(SecretId=twilio_standin.SECRET_NAME, SecretString="wrong-token")
    from aws_lambda_powertools.utilities.parameters import base

    base.clear_caches()
    with pytest.raises(ProviderRejected, match="20003") as raised:
        twilio.TwilioProvider(_config(standin, catcher)).send(_request())
    assert "wrong-token" not in str(raised.value)


def test_a_refused_connection_is_unavailable(standin, catcher):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ProviderUnavailable):
        twilio.TwilioProvider(_config(standin, catcher, api_base_url=f"http://127.0.0.1:{port}")).send(_request())


def test_the_auth_token_must_be_a_secret_reference():
    with pytest.raises(ValueError, match="secret reference"):
        TwilioProviderConfig(type="twilio", account_sid="AC1", auth_token="plain-token", from_number="+15005550006")
    with pytest.raises(ValueError, match="from_number or messaging_service_sid"):
        TwilioProviderConfig(type="twilio", account_sid="AC1", auth_token="secretsmanager:x")


# -- /receipts/twilio through the real callback handler ------------------------------------------

TOKEN = "twilio-auth-token-value"
PUBLIC = "https://receipts.example.com/receipts/twilio"
SID = "SM" + "e" * 32
TASK = "task-" + "t" * 100


@pytest.fixture
def twilio_route(environment, monkeypatch):  # noqa: F811 - the fixture above
    secret = boto3.client("secretsmanager").create_secret(Name="journey-activity/twilio", SecretString=TOKEN)["ARN"]
    monkeypatch.setenv("PROVIDER_CALLBACK_BASE_URL", "https://receipts.example.com")
    environment(providers={"SMS": {"type": "twilio", "account_sid": "AC" + "0" * 32,
                                   "auth_token": f"secretsmanager:{secret}", "from_number": "+15005550006"}})
    book = ledger()
    assert book.begin_send("batch-1", "ep-1", channel="SMS", provider="twilio")[0]
    book.mark_sent("batch-1", "ep-1", provider="twilio", message_id=SID, task_token=TASK)
    return book


def post_raw(body: str, headers: dict[str, str], *, query: str = "", host: str = "api.example.com") -> tuple[int, Any]:
    """One request as the receipts API queues it (its ``ja_key`` and domain name as attributes),
    through the callback function's verification: the verdict the endpoint answered before."""
    from urllib.parse import parse_qsl

    from journey_activity.handlers import callback

    key = dict(parse_qsl(query)).get("ja_key", "")
    return callback.verdict(queued("twilio", body, headers, ja_key=key, domain=host), Context())


def post_form(params: dict[str, str], *, url: str = f"{PUBLIC}?ja_key={KEY}", token: str = TOKEN,
              query: str = f"ja_key={KEY}", host: str = "api.example.com") -> tuple[int, Any]:
    """One StatusCallback, signed as Twilio signs it (by the official SDK)."""
    signature = RequestValidator(token).compute_signature(url, params)
    return post_raw(urlencode(params), {"X-Twilio-Signature": signature}, query=query, host=host)


def _status(status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "From": "+15005550006", "MessageSid": SID,
            "MessageStatus": status, "SmsSid": SID, "SmsStatus": status, "To": "+14155550101", **extra}


def test_a_signed_delivered_callback_resumes_the_task(twilio_route, monkeypatch):
    resumed: list[dict[str, Any]] = []
    from journey_activity import aws

    sfn = aws.client("stepfunctions")
    monkeypatch.setattr(sfn, "send_task_success", lambda **kwargs: resumed.append(kwargs))
    status, answer = post_form(_status("delivered", RawDlrDoneDate="2611240600"))
    assert (status, answer["result"], answer["message_id"]) == (200, "delivered", SID)
    record = twilio_route.get("batch-1", "ep-1")
    assert record["status"] == "DELIVERED"
    assert record["receipt_status"] == "delivered"
    assert [json.loads(call["output"])["status"] for call in resumed] == ["DELIVERED"]


def test_stop_ends_skipped_opted_out(twilio_route, monkeypatch):
    from journey_activity import aws

    monkeypatch.setattr(aws.client("stepfunctions"), "send_task_success", lambda **kwargs: None)
    status, answer = post_form(_status("failed", ErrorCode="21610"))
    assert (status, answer["result"]) == (200, "skipped")
    record = twilio_route.get("batch-1", "ep-1")
    assert (record["status"], record["reason"]) == ("SKIPPED", "opted_out")


@pytest.mark.parametrize("forgery", ["token", "url", "param", "missing"])
def test_a_forged_callback_is_refused_and_changes_nothing(twilio_route, forgery):
    before = twilio_route.get("batch-1", "ep-1")
    params = _status("failed", ErrorCode="30003")
    if forgery == "token":
        status, answer = post_form(params, token="guessed")
    elif forgery == "url":
        # Signed for another URL (another key): the query the request carries does not match.
        status, answer = post_form(params, url=f"{PUBLIC}?ja_key={'d' * 40}")
    elif forgery == "param":
        # The signature of a "delivered" callback on a "failed" body.
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}?ja_key={KEY}", _status("delivered"))
        status, answer = post_raw(urlencode(params), {"X-Twilio-Signature": signature}, query=f"ja_key={KEY}")
    else:
        status, answer = post_raw(urlencode(params), {}, query=f"ja_key={KEY}")
    assert (status, answer["error"]) == (401, "bad_signature")
    assert twilio_route.get("batch-1", "ep-1") == before
    assert twilio_route.pointer("twilio", SID).get("receipts") in (None, [])


def test_the_url_is_rebuilt_from_configuration_not_from_the_host_header(twilio_route, monkeypatch):
    from journey_activity import aws

    monkeypatch.setattr(aws.client("stepfunctions"), "send_task_heartbeat", lambda **kwargs: None)
    # Whatever domain the request names, the signed URL is the configured public one.
    assert post_form(_status("sent"), host="evil.example.net")[0] == 200
    # Without PROVIDER_CALLBACK_BASE_URL, the API's own domain name is the public host.
    monkeypatch.delenv("PROVIDER_CALLBACK_BASE_URL")
    assert post_form(_status("sent"), host="receipts.example.com")[0] == 200
    assert post_form(_status("sent"), host="evil.example.net")[0] == 401


def test_a_callback_before_the_sid_was_recorded_is_parked_and_a_lost_answer_is_found_by_key(twilio_route,
                                                                                          monkeypatch):
    from journey_activity import aws

    monkeypatch.setattr(aws.client("stepfunctions"), "send_task_success", lambda **kwargs: None)
    book = twilio_route
    assert book.begin_send("batch-1", "ep-2", channel="SMS", provider="twilio")[0]
    other_key = "f" * 40
    # The send's answer was lost: nothing but our key is known.
    book.mark_outcome_unknown("batch-1", "ep-2", provider="twilio", idempotency_key=other_key, error="timeout",
                             task_token=TASK)
    params = {**_status("delivered"), "MessageSid": "SM" + "9" * 32, "SmsSid": "SM" + "9" * 32}
    status, answer = post_form(params, url=f"{PUBLIC}?ja_key={other_key}", query=f"ja_key={other_key}")
    assert (status, answer["result"]) == (200, "delivered")
    assert book.get("batch-1", "ep-2")["status"] == "DELIVERED"
    # Unknown sid, unknown key: parked (202), applied when the sender records the sid.
    params = {**_status("delivered"), "MessageSid": "SM" + "8" * 32, "SmsSid": "SM" + "8" * 32}
    assert post_form(params, url=PUBLIC, query="")[0] == 202


# -- a throttled read of the auth token loses nothing ------------------------------------------


def test_a_throttled_auth_token_read_sends_nothing_and_is_retried(standin, catcher):
    """Throttled past the SDK's retries: nothing was sent, so the state machine tries again
    (ProviderUnavailable), not a rejection that fails the endpoint for good."""
    provider = twilio.TwilioProvider(_config(standin, catcher))
    with throttled_secret_reads(1), pytest.raises(ProviderUnavailable, match="could not be read now"):
        provider.send(_request())
    assert standin.sends == []
    with throttled_secret_reads(0):
        assert provider.send(_request()).message_id.startswith("SM")
    assert len(standin.sends) == 1


def test_a_status_callback_whose_token_read_is_throttled_is_still_applied(twilio_route, monkeypatch):
    """The callback function reads the token again itself while it is throttled (sparing the
    queue's redelivery), and leaves the message on the queue (500) only when throttling outlasts
    its attempts."""
    from journey_activity import aws

    monkeypatch.setattr(aws.client("stepfunctions"), "send_task_success", lambda **kwargs: None)
    monkeypatch.setattr(aws.random, "uniform", lambda low, high: 0.0)  # no pauses in the test
    with throttled_secret_reads(2) as asked:
        status, answer = post_form(_status("delivered"))
    assert (status, answer["result"], len(asked)) == (200, "delivered", 3)
    assert twilio_route.get("batch-1", "ep-1")["status"] == "DELIVERED"
    with throttled_secret_reads(100) as asked:
        status, answer = post_form(_status("delivered"))
    assert (status, answer["error"], len(asked)) == (500, "secret_unavailable", 5)


def test_a_signature_over_the_url_with_its_connection_overrides_is_accepted(twilio_route, monkeypatch):
    """Twilio does not say whether it signs the StatusCallback with its fragment: both forms verify."""
    from journey_activity import aws

    monkeypatch.setattr(aws.client("stepfunctions"), "send_task_success", lambda **kwargs: None)
    status, answer = post_form(_status("delivered"), url=f"{PUBLIC}?ja_key={KEY}{twilio.CONNECTION_OVERRIDES}")
    assert (status, answer["result"]) == (200, "delivered")
