"""The provider stand-in over real HTTP: every behaviour, idempotency, and signed receipts that a
real receiver gets (and retries when that receiver fails)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from journey_activity.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from journey_activity_local.standins.http import ProviderStandIn

SECRET = "standin-secret"
HTTP = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=5.0))


class Receiver:
    """A tiny real callback receiver: records each POST and answers the queued statuses (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "body": body,
                                              "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/receipts/http"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def receipts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(request["body"]) for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def make_provider(receiver: Receiver) -> Iterator[Any]:
    started: list[ProviderStandIn] = []

    def make(**kwargs: Any) -> ProviderStandIn:
        options: dict[str, Any] = {"callback_url": receiver.url, "signing_secret": SECRET, "receipt_delay": 0.05}
        provider = ProviderStandIn(**{**options, **kwargs}).start()
        started.append(provider)
        return provider

    yield make
    for provider in started:
        provider.stop()


def send(provider: ProviderStandIn, address: str = "+14155550123", **fields: Any) -> urllib3.BaseHTTPResponse:
    body = {"idempotency_key": fields.pop("idempotency_key", uuid.uuid4().hex), "channel": "SMS",
            "address": address, "message": "Hi Ana", "endpoint_id": "ep-1", "batch_id": "batch-1", **fields}
    return HTTP.request("POST", f"{provider.url}/messages", body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"})


def answer(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    return json.loads(response.data)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/receipts"


# -- lifecycle -------------------------------------------------------------------------------


def test_health_and_readiness(make_provider):
    provider = make_provider()
    assert provider.url.startswith("http://127.0.0.1:")
    assert HTTP.request("HEAD", f"{provider.url}/").status == 200
    health = HTTP.request("GET", f"{provider.url}/health")
    assert (health.status, answer(health)) == (200, {"status": "ok"})
    assert HTTP.request("GET", f"{provider.url}/nope").status == 404


def test_context_manager_and_stop_twice(receiver):
    with ProviderStandIn(callback_url=receiver.url, signing_secret=SECRET) as provider:
        assert HTTP.request("GET", f"{provider.url}/health").status == 200
        provider.stop()
    provider.stop()
    with pytest.raises(urllib3.exceptions.HTTPError):
        HTTP.request("GET", f"{provider.url}/health", retries=False)


def test_stop_cancels_pending_receipts(make_provider, receiver):
    provider = make_provider(receipt_delay=5)
    assert send(provider).status == 202
    started = time.monotonic()
    provider.stop()
    assert time.monotonic() - started < 1
    assert not provider.wait_for_receipts(1, timeout=0.1)
    assert receiver.requests == []


# -- behaviours ------------------------------------------------------------------------------


def test_deliver_posts_a_signed_receipt(make_provider, receiver):
    provider = make_provider()
    response = send(provider, idempotency_key="key-1", metadata={"journey": "j-1"})
    assert response.status == 202
    accepted = answer(response)
    assert accepted["status"] == "accepted"
    assert accepted["message_id"].startswith("msg-")
    assert len(accepted["message_id"]) == len("msg-") + 32

    assert provider.wait_for_receipts(1, timeout=1)
    [request] = receiver.requests
    assert request["path"] == "/receipts/http"
    assert request["headers"]["content-type"] == "application/json"
    verify([SECRET], request["headers"][TIMESTAMP_HEADER.lower()], request["headers"][SIGNATURE_HEADER.lower()],
           request["body"])
    receipt = json.loads(request["body"])
    assert request["body"] == json.dumps(receipt, separators=(",", ":")).encode()
    assert receipt["message_id"] == accepted["message_id"]
    assert receipt["status"] == "delivered"
    assert receipt["idempotency_key"] == "key-1"
    assert receipt["timestamp"].endswith("Z")
    assert "error_code" not in receipt
    assert provider.receipts == [{"message_id": accepted["message_id"], "status": "delivered", "http_status": 200,
                                  "attempts": 1, "outcomes": [200]}]
    [sent] = provider.sends
    assert (sent["idempotency_key"], sent["metadata"]) == ("key-1", {"journey": "j-1"})
    assert provider.attempts == {"key-1": 1}
    assert provider.message_ids == {"key-1": accepted["message_id"]}


@pytest.mark.parametrize(
    ("behaviour", "status", "error_code"),
    [("bounce", "bounced", "mailbox_unavailable"), ("fail", "failed", "carrier_rejected")],
)
def test_failed_deliveries_report_an_error_code(make_provider, receiver, behaviour, status, error_code):
    provider = make_provider(behaviours={"someone@example.com": behaviour})
    assert send(provider, "someone@example.com").status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    [receipt] = receiver.receipts()
    assert (receipt["status"], receipt["error_code"]) == (status, error_code)


def test_the_same_idempotency_key_gets_the_same_message_id_and_one_receipt(make_provider, receiver):
    provider = make_provider()
    first = answer(send(provider, idempotency_key="same"))
    second = send(provider, idempotency_key="same")
    assert second.status == 202
    assert answer(second)["message_id"] == first["message_id"]
    assert provider.duplicate_sends == 1
    assert provider.attempts == {"same": 2}
    assert len(provider.sends) == 1
    assert provider.wait_for_receipts(1, timeout=1)
    assert not provider.wait_for_receipts(2, timeout=0.2)
    assert len(receiver.requests) == 1


def test_reject_is_a_400_and_never_accepted(make_provider, receiver):
    provider = make_provider(behaviours={"+14155550123": "reject"})
    for _ in range(2):
        response = send(provider, idempotency_key="k")
        assert response.status == 400
        assert answer(response)["error"] == "invalid_recipient"
    assert provider.attempts == {"k": 2}
    assert provider.sends == []
    assert provider.duplicate_sends == 0
    assert not provider.wait_for_receipts(1, timeout=0.15)


def test_throttle_is_a_429_with_retry_after_every_time(make_provider):
    provider = make_provider(behaviours={"+14155550123": "throttle"})
    for _ in range(3):
        response = send(provider, idempotency_key="k")
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
    assert provider.attempts == {"k": 3}
    assert provider.sends == []


def test_outage_is_a_503_every_time(make_provider):
    provider = make_provider(behaviours={"+14155550123": "outage"})
    assert [send(provider, idempotency_key="k").status for _ in range(4)] == [503] * 4
    assert provider.attempts == {"k": 4}
    assert provider.sends == []


def test_flaky_fails_the_first_attempts_per_key_then_delivers(make_provider, receiver):
    provider = make_provider(behaviours={"+14155550123": "flaky:2"})
    assert [send(provider, idempotency_key="k").status for _ in range(3)] == [503, 503, 202]
    assert [send(provider, idempotency_key="other").status for _ in range(3)] == [503, 503, 202]
    assert provider.attempts == {"k": 3, "other": 3}
    assert provider.wait_for_receipts(2, timeout=1)
    assert {receipt["status"] for receipt in receiver.receipts()} == {"delivered"}


def test_never_accepts_and_stays_silent(make_provider, receiver):
    provider = make_provider(behaviours={"+14155550123": "never"})
    assert send(provider).status == 202
    assert len(provider.sends) == 1
    assert not provider.wait_for_receipts(1, timeout=0.2)
    assert receiver.requests == []


def test_early_posts_the_receipt_before_answering(make_provider, receiver):
    provider = make_provider(behaviours={"+14155550123": "early"}, receipt_delay=5)
    response = send(provider)
    assert response.status == 202
    # The receipt is already in: the receiver saw it before the sender got its message id.
    assert [receipt["message_id"] for receipt in receiver.receipts()] == [answer(response)["message_id"]]
    assert [receipt["http_status"] for receipt in provider.receipts] == [200]


def test_progress_receipt_comes_before_the_final_one(make_provider, receiver):
    provider = make_provider(progress_receipts=True, behaviours={"b@example.com": "bounce"})
    message_id = answer(send(provider, "b@example.com"))["message_id"]
    assert provider.wait_for_receipts(2, timeout=1)
    assert [(r["message_id"], r["status"]) for r in receiver.receipts()] == [
        (message_id, "sent"), (message_id, "bounced")]
    assert "error_code" not in receiver.receipts()[0]


def test_set_behaviour_changes_later_sends(make_provider):
    provider = make_provider()
    provider.set_behaviour("+14155550123", "outage")
    assert send(provider).status == 503
    provider.set_behaviour("+14155550123", "deliver")
    assert send(provider).status == 202


@pytest.mark.parametrize("behaviour", ["explode", "flaky", "flaky:x", "deliver:2"])
def test_unknown_behaviours_are_refused_up_front(behaviour):
    with pytest.raises(ValueError, match="behaviour"):
        ProviderStandIn(signing_secret=SECRET, behaviours={"a": behaviour})


def test_latency_delays_every_answer(make_provider):
    provider = make_provider(latency=0.2, behaviours={"+14155550123": "outage"})
    started = time.monotonic()
    assert send(provider).status == 503
    assert time.monotonic() - started >= 0.2


# -- bad requests and callbacks --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"address": "+14155550123"}', b'{"idempotency_key": "k"}',
     b'{"idempotency_key": "k", "address": ""}'],
)
def test_malformed_sends_are_a_400(make_provider, body):
    provider = make_provider()
    response = HTTP.request("POST", f"{provider.url}/messages", body=body,
                            headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert answer(response)["error"] == "bad_request"
    assert answer(response)["message"]
    assert provider.sends == []


def test_the_request_callback_url_overrides_the_default(make_provider, receiver):
    provider = make_provider(callback_url=closed_port_url())
    assert send(provider, callback_url=receiver.url + "?override=1").status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    assert receiver.requests[0]["path"] == "/receipts/http?override=1"


def test_the_callback_url_can_be_set_after_construction(make_provider, receiver):
    provider = make_provider(callback_url=None)
    provider.callback_url = receiver.url
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    assert len(receiver.requests) == 1


def test_a_receipt_without_any_callback_url_is_recorded_as_not_posted(make_provider):
    provider = make_provider(callback_url=None)
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    [receipt] = provider.receipts
    assert (receipt["http_status"], receipt["attempts"]) == (None, 0)
    assert "callback_url" in receipt["error"]


def test_receipt_5xx_is_retried_until_accepted(make_provider, receiver):
    receiver.statuses = [500, 503]
    provider = make_provider(retry_backoff=0.05)
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    [receipt] = provider.receipts
    assert (receipt["http_status"], receipt["attempts"], receipt["outcomes"]) == (200, 3, [500, 503, 200])
    assert len(receiver.requests) == 3
    for request in receiver.requests:  # every attempt is signed afresh
        verify([SECRET], request["headers"][TIMESTAMP_HEADER.lower()],
               request["headers"][SIGNATURE_HEADER.lower()], request["body"])


def test_receipt_5xx_gives_up_after_three_retries(make_provider, receiver):
    receiver.statuses = [500] * 10
    provider = make_provider(retry_backoff=0.05)
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1.5)
    assert provider.receipts[0]["outcomes"] == [500] * 4
    assert len(receiver.requests) == 4


def test_receipt_4xx_is_not_retried(make_provider, receiver):
    receiver.statuses = [401]
    provider = make_provider()
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1)
    assert provider.receipts[0]["outcomes"] == [401]
    assert len(receiver.requests) == 1


def test_receipt_connection_errors_are_retried_with_the_default_backoff(make_provider):
    provider = make_provider(callback_url=closed_port_url())
    started = time.monotonic()
    assert send(provider).status == 202
    assert provider.wait_for_receipts(1, timeout=1.8)
    assert time.monotonic() - started >= 0.6  # three pauses of 0.2 s
    [receipt] = provider.receipts
    assert (receipt["http_status"], receipt["outcomes"]) == (None, [None] * 4)
    assert receipt["error"]


def test_concurrent_sends_of_one_key_are_accepted_once(make_provider, receiver):
    provider = make_provider(latency=0.05)
    results: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        message_id = answer(send(provider, idempotency_key="racy"))["message_id"]
        with lock:
            results.append(message_id)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert (len(provider.sends), provider.duplicate_sends, provider.attempts["racy"]) == (1, 7, 8)
    assert provider.wait_for_receipts(1, timeout=1)
    assert not provider.wait_for_receipts(2, timeout=0.15)
