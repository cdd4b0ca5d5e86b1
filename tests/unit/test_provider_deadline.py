"""The sender's provider call ends before the sender's Lambda timeout, however the provider answers.

urllib3's read timeout counts each socket read on its own, so a provider that drips its answer
(or a slow one with ``timeout_seconds`` up to 60) could keep the sender past its Timeout: the
task would then fail as ``Lambda.Unknown``, which no retrier matches. The call is bounded by the
invocation's remaining time and fails as ``ProviderUnavailable`` (retried, same idempotency key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from journey_activity.config import HttpProviderConfig
from journey_activity.errors import ProviderUnavailable
from journey_activity.handlers.send import AFTER_SEND_SECONDS, send_deadline
from journey_activity.providers.base import SendRequest
from journey_activity.providers.http import HttpProvider

ANSWER = b" " * 60 + b'{"message_id": "m-1"}'


class _Dripping(BaseHTTPRequestHandler):
    """Answers one byte every 0.2 s: no single read ever waits a second."""

    protocol_version = "HTTP/1.1"
    headers_after = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.headers_after)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        try:
            for byte in ANSWER:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            return  # the sender gave up and closed the connection


@pytest.fixture
def dripping(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Dripping]]:
    monkeypatch.setenv("ALLOW_LOCAL_PROVIDERS", "true")
    handler = type("Handler", (_Dripping,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_port}/messages"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


def _request(deadline: float | None) -> SendRequest:
    return SendRequest(batch_id="b", endpoint_id="e", channel="SMS", address="+14155550123", message="hi",
                       idempotency_key="k" * 40, deadline=deadline)


def test_a_dripping_answer_is_cut_at_the_deadline(dripping):
    provider = HttpProvider(HttpProviderConfig(url=dripping.url, timeout_seconds=1))
    with pytest.raises(ProviderUnavailable, match="remaining time"):
        provider.send(_request(time.monotonic() + 1.0))


def test_a_provider_slower_than_the_time_left_is_cut_at_the_deadline(dripping):
    dripping.headers_after = 3.0
    provider = HttpProvider(HttpProviderConfig(url=dripping.url, timeout_seconds=60))
    with pytest.raises(ProviderUnavailable, match="remaining time"):
        provider.send(_request(time.monotonic() + 0.5))


def test_no_time_left_means_no_call(dripping):
    provider = HttpProvider(HttpProviderConfig(url=dripping.url, timeout_seconds=5))
    with pytest.raises(ProviderUnavailable, match="remaining time"):
        provider.send(_request(time.monotonic() - 1))


def test_the_deadline_leaves_the_sender_its_margin():
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 90_000

    before = time.monotonic()
    deadline = send_deadline(Context())
    assert deadline is not None
    assert before + 90 - AFTER_SEND_SECONDS <= deadline <= time.monotonic() + 90 - AFTER_SEND_SECONDS
    assert send_deadline(object()) is None
