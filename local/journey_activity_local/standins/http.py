"""A messaging provider stand-in: real HTTP on 127.0.0.1 that accepts messages and posts signed
delivery receipts back, so the sender, the retries and the callback run against a real wire.

Send API: ``POST /messages`` with ``{"idempotency_key", "channel", "address", "message",
"endpoint_id", "batch_id", "callback_url"?, "metadata"?}``; answer 202 ``{"message_id", "status"}``.
How it answers depends on the recipient address (see :data:`BEHAVIOURS`), so one batch can hold
endpoints that are delivered, bounced, rejected, throttled, flaky or never confirmed.

Receipts go to the message's ``callback_url`` (or the stand-in's) as compact JSON signed with
:func:`journey_activity.signing.signed_headers`, from a background thread, after ``receipt_delay``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import urllib3

from journey_activity.signing import signed_headers
from journey_activity_local.engine.token_bucket import TokenBucket
from journey_activity_local.server import LocalServer, TrackingHTTPServer

log = logging.getLogger(__name__)

BEHAVIOURS = ("deliver", "bounce", "fail", "reject", "throttle", "outage", "flaky:N", "throttled:N", "stall:SECONDS",
              "duplicate", "never", "early", "optout")
DEFAULT_BEHAVIOUR = "deliver"
# What the final receipt says for each behaviour that accepts the message: (status, error_code).
_FINAL_RECEIPT: dict[str, tuple[str, str | None]] = {
    "deliver": ("delivered", None),
    "bounce": ("bounced", "mailbox_unavailable"),
    "fail": ("failed", "carrier_rejected"),
    "flaky": ("delivered", None),
    "early": ("delivered", None),
    "throttled": ("delivered", None),
    "stall": ("delivered", None),
    "duplicate": ("delivered", None),
}
PROGRESS_STATUS = "sent"
RECEIPT_TIMEOUT = urllib3.Timeout(connect=1.0, read=5.0)
STOP_JOIN_SECONDS = 2.0
SEND_HEADERS_KEPT = 20


@dataclass(frozen=True)
class Behaviour:
    """A parsed behaviour string: ``kind`` plus, for ``flaky:N``, how many attempts fail first."""

    kind: str
    failures: int = 0
    # stall: the first attempt is accepted, but its answer comes only after this many seconds.
    stall_seconds: float = 0.0

    @classmethod
    def parse(cls, value: str) -> Behaviour:
        """Fail at configuration time, not with a confusing answer in the middle of a run."""
        kind, _, count = value.strip().partition(":")
        if kind in ("flaky", "throttled"):
            if not count.isdigit():
                raise ValueError(f"behaviour {value!r}: {kind} needs a count of failing attempts, e.g. '{kind}:2'")
            return cls(kind, int(count))
        if kind == "stall":
            try:
                return cls(kind, stall_seconds=float(count))
            except ValueError:
                raise ValueError(f"behaviour {value!r}: stall needs seconds, e.g. 'stall:1.5'") from None
        if count or kind not in _FINAL_RECEIPT.keys() | {"reject", "throttle", "outage", "never", "optout"}:
            raise ValueError(f"unknown behaviour {value!r}; expected one of {', '.join(BEHAVIOURS)}")
        return cls(kind)


@dataclass(frozen=True)
class Reply:
    """What the handler writes back: kept apart from the socket so the logic is plain code."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Message:
    message_id: str
    idempotency_key: str
    callback_url: str | None
    address: str = ""


class _BadRequestError(ValueError):
    """The send request cannot be read; answered 400 ``bad_request``."""


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": code, "message": message}, headers or {})


def _parse_send(raw: bytes) -> dict[str, Any]:
    """The request body, or :class:`_BadRequestError` saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _BadRequestError(f"the body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise _BadRequestError("the body must be a JSON object")
    for name in ("idempotency_key", "address"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise _BadRequestError(f"'{name}' is required and must be a non-empty string")
    callback = body.get("callback_url")
    if callback is not None and not isinstance(callback, str):
        raise _BadRequestError("'callback_url' must be a string or null")
    return body


def _refusal(behaviour: Behaviour, attempt: int, address: str = "") -> Reply | None:
    """The answer for a behaviour that does not accept this attempt, or None to accept it. A
    rejection quotes the address, as real providers' errors do ("The 'To' number ... is not valid")."""
    if behaviour.kind == "reject":
        return _error(400, "invalid_recipient", f"the provider does not accept the recipient address {address}")
    if behaviour.kind == "optout":
        # The generic protocol has no opt-out answer: a rejection, as a provider's 4xx is.
        return _error(400, "recipient_opted_out", f"the recipient {address} has opted out")
    if behaviour.kind == "throttle":
        return _error(429, "throttled", "too many requests; retry later", {"Retry-After": "1"})
    if behaviour.kind == "throttled" and attempt <= behaviour.failures:
        return _error(429, "throttled", "too many requests; retry later", {"Retry-After": "1"})
    if behaviour.kind == "outage" or (behaviour.kind == "flaky" and attempt <= behaviour.failures):
        return _error(503, "unavailable", "the provider is temporarily unavailable")
    return None


def _receipt_body(message: _Message, status: str, error_code: str | None) -> bytes:
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    receipt: dict[str, Any] = {"message_id": message.message_id, "status": status, "timestamp": timestamp}
    if error_code:
        receipt["error_code"] = error_code
        # As real providers' bounce details do, it names the recipient.
        receipt["detail"] = f"{error_code.replace('_', ' ')} for {message.address}"
    receipt["idempotency_key"] = message.idempotency_key
    return json.dumps(receipt, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("provider stand-in: " + format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _is_health(self) -> bool:
        return urlsplit(self.path).path in ("/", "/health")

    def do_POST(self) -> None:
        raw = self._read_body()
        if urlsplit(self.path).path != "/messages":
            self._reply(_error(404, "not_found", f"no route for POST {self.path}"))
            return
        self.server.standin.heard_headers(dict(self.headers.items()))
        self._reply(self.server.standin.handle_send(raw))

    def do_GET(self) -> None:
        self._read_body()
        reply = Reply(200, {"status": "ok"}) if self._is_health() else _error(404, "not_found", self.path)
        self._reply(reply)

    def do_HEAD(self) -> None:
        self._read_body()
        self._reply(Reply(200) if self._is_health() else Reply(404))


class _Server(TrackingHTTPServer):
    standin: ProviderStandIn


class ProviderStandIn(LocalServer):
    thread_name = "provider-standin"

    """``with ProviderStandIn(callback_url=..., signing_secret=...) as provider: provider.url``

    Inspection (snapshots, safe to read from any thread): :attr:`sends`, :attr:`attempts`,
    :attr:`duplicate_sends`, :attr:`receipts`, :attr:`message_ids`.
    """

    def __init__(
        self,
        *,
        callback_url: str | None = None,
        signing_secret: str,
        receipt_delay: float = 0.2,
        latency: float = 0.0,
        behaviours: dict[str, str] | None = None,
        progress_receipts: bool = False,
        send_rate: float | None = None,
        receipt_retries: int = 3,
        retry_backoff: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.callback_url = callback_url
        self.signing_secret = signing_secret
        self.receipt_delay = receipt_delay
        self.latency = latency
        self.progress_receipts = progress_receipts
        self.rate_limit = TokenBucket(send_rate)
        self.receipt_retries = receipt_retries
        self.retry_backoff = retry_backoff
        self._behaviours = {address: Behaviour.parse(value) for address, value in (behaviours or {}).items()}
        self._lock = threading.Lock()
        self._receipt_posted = threading.Condition(self._lock)
        self._stopping = threading.Event()
        # Each accepted body as compact JSON text (a quarter of the parsed body's memory, which a long
        # run would keep for every send); parsed when read.
        self._sends: list[str] = []
        # The headers of the last few send requests (a provider's configured headers arrive here).
        self._send_headers: deque[dict[str, str]] = deque(maxlen=SEND_HEADERS_KEPT)
        self._attempts: defaultdict[str, int] = defaultdict(int)
        self._accepted: dict[str, str] = {}
        self._duplicate_sends = 0
        self._receipts: list[dict[str, Any]] = []
        self._timers: set[threading.Timer] = set()
        # Receipts are posted from one timer thread each: room for a batch's worth at once (50 endpoints).
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=64, retries=False, timeout=RECEIPT_TIMEOUT)
        server = _Server((host, port), _Handler)
        server.standin = self
        super().__init__(server)

    # -- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Cancel the receipts still waiting, let the ones in flight finish, close the socket; idempotent."""
        if self._closed:
            return
        with self._lock:
            self._stopping.set()
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        deadline = time.monotonic() + STOP_JOIN_SECONDS
        for timer in timers:
            timer.join(max(0.0, deadline - time.monotonic()))
        super().stop()
        self._pool.clear()

    # -- configuration ----------------------------------------------------------------------

    def set_behaviour(self, address: str, behaviour: str) -> None:
        """Change how one recipient is treated, e.g. between two runs against the same stand-in."""
        parsed = Behaviour.parse(behaviour)
        with self._lock:
            self._behaviours[address] = parsed

    def provider_config(self, channel: str) -> dict[str, Any]:
        """The generic HTTP provider's ``CHANNEL_PROVIDERS`` entry for this stand-in (any channel)."""
        config: dict[str, Any] = {"type": "http", "name": "http", "url": f"{self.url}/messages"}
        if self.rate_limit.rate:
            config["send_rate"] = self.rate_limit.rate
        return config

    def environment(self) -> dict[str, str]:
        """Nothing: the generic provider is reached by the URL in its configuration."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Its send URL; it takes no credentials and signs receipts with the signing secret."""
        return {"kind": "http", "url": f"{self.url}/messages", "credentials": {"signing_secret": self.signing_secret}}

    def behaviour_for(self, address: str) -> Behaviour:
        with self._lock:
            return self._behaviours.get(address, Behaviour(DEFAULT_BEHAVIOUR))

    # -- inspection -------------------------------------------------------------------------

    def heard_headers(self, headers: dict[str, str]) -> None:
        with self._lock:
            self._send_headers.append(headers)

    @property
    def send_headers(self) -> list[dict[str, str]]:
        """The headers of the last send requests (at most :data:`SEND_HEADERS_KEPT`), oldest first."""
        with self._lock:
            return list(self._send_headers)

    @property
    def sends(self) -> list[dict[str, Any]]:
        """Every accepted request body, once per idempotency key, in acceptance order."""
        with self._lock:
            kept = list(self._sends)
        return [json.loads(text) for text in kept]

    @property
    def attempts(self) -> dict[str, int]:
        """Requests per idempotency key, refused and repeated ones included."""
        with self._lock:
            return dict(self._attempts)

    @property
    def duplicate_sends(self) -> int:
        """Requests that repeated an idempotency key already accepted (answered, not sent again)."""
        with self._lock:
            return self._duplicate_sends

    @property
    def message_ids(self) -> dict[str, str]:
        """The message id given to each accepted idempotency key."""
        with self._lock:
            return dict(self._accepted)

    @property
    def receipts(self) -> list[dict[str, Any]]:
        """One entry per receipt, added once its posting is over (after any retries):
        ``message_id``, ``status``, ``http_status`` (the last answer, None after a connection
        error), ``attempts`` and ``outcomes`` (every attempt's HTTP status or None)."""
        with self._lock:
            return [dict(receipt) for receipt in self._receipts]

    def wait_for_receipts(self, count: int, timeout: float) -> bool:
        """True once ``count`` receipts have been posted (see :attr:`receipts`), False at the timeout."""
        with self._receipt_posted:
            return self._receipt_posted.wait_for(lambda: len(self._receipts) >= count, timeout)

    # -- sending ----------------------------------------------------------------------------

    def handle_send(self, raw: bytes) -> Reply:
        """Answer one ``POST /messages``; accepting a message schedules (or, ``early``, posts) its receipts."""
        if self.latency > 0:
            time.sleep(self.latency)
        try:
            body = _parse_send(raw)
        except _BadRequestError as error:
            return _error(400, "bad_request", str(error))
        key = body["idempotency_key"]
        behaviour = self.behaviour_for(body["address"]) if self.rate_limit.admit() else Behaviour("throttle")
        with self._lock:
            self._attempts[key] += 1
            known = self._accepted.get(key)
            if known is not None:
                self._duplicate_sends += 1
                log.info("duplicate send answered with the first message id",
                         extra={"idempotency_key": key, "message_id": known})
                return Reply(202, {"message_id": known, "status": "accepted"})
            refusal = _refusal(behaviour, self._attempts[key], body["address"])
            if refusal is not None:
                log.info("send refused", extra={"idempotency_key": key, "behaviour": behaviour.kind,
                                                "http_status": refusal.status})
                return refusal
            message = _Message(f"msg-{uuid.uuid4().hex}", key, body.get("callback_url"), body["address"])
            self._accepted[key] = message.message_id
            self._sends.append(json.dumps(body, separators=(",", ":")))
        log.info("send accepted", extra={"idempotency_key": key, "message_id": message.message_id,
                                         "behaviour": behaviour.kind})
        if behaviour.kind == "early":
            self._post_receipts(message, behaviour, pause=0.0)
        elif behaviour.kind != "never":
            self._schedule(message, behaviour)
        if behaviour.kind == "stall":
            # Accepted, but the answer comes after the sender gave up: its retry must not send twice.
            self._stopping.wait(behaviour.stall_seconds)
        return Reply(202, {"message_id": message.message_id, "status": "accepted"})

    # -- receipts ---------------------------------------------------------------------------

    def _schedule(self, message: _Message, behaviour: Behaviour) -> None:
        """Post the receipts from a timer thread, as a provider calls back after the fact."""
        delay = self.receipt_delay / 2 if self.progress_receipts else self.receipt_delay
        timer: threading.Timer

        def run() -> None:
            try:
                self._post_receipts(message, behaviour, pause=delay if self.progress_receipts else 0.0)
            finally:
                with self._lock:
                    self._timers.discard(timer)

        timer = threading.Timer(delay, run)
        timer.name = f"receipt-{message.message_id}"
        timer.daemon = True
        with self._lock:  # checked with the add, so stop() sees every timer it has to cancel
            if self._stopping.is_set():
                return
            self._timers.add(timer)
        timer.start()

    def _post_receipts(self, message: _Message, behaviour: Behaviour, pause: float) -> None:
        """The optional ``sent`` progress receipt, ``pause`` seconds, then the final receipt."""
        status, error_code = _FINAL_RECEIPT[behaviour.kind]
        if self.progress_receipts:
            self._post_receipt(message, PROGRESS_STATUS, None)
            if pause and self._stopping.wait(pause):
                return
        self._post_receipt(message, status, error_code)
        if behaviour.kind == "duplicate":
            self._post_receipt(message, status, error_code)

    def _post_receipt(self, message: _Message, status: str, error_code: str | None) -> None:
        """Post one receipt, retrying connection errors and 5xx (never 4xx), and record the outcome."""
        url = message.callback_url or self.callback_url
        body = _receipt_body(message, status, error_code)
        outcomes: list[int | None] = []
        error: str | None = "no callback_url configured" if not url else None
        for attempt in range(1 + self.receipt_retries if url else 0):
            if attempt and self._stopping.wait(self.retry_backoff):
                break
            http_status, error = self._post_once(str(url), body)
            outcomes.append(http_status)
            if http_status is not None and http_status < 500:
                break
        entry: dict[str, Any] = {"message_id": message.message_id, "status": status,
                                 "http_status": outcomes[-1] if outcomes else None,
                                 "attempts": len(outcomes), "outcomes": outcomes}
        if error:
            entry["error"] = error
        log.info("receipt posted", extra={"message_id": message.message_id, "receipt_status": status,
                                          "http_status": entry["http_status"], "attempts": len(outcomes)})
        with self._receipt_posted:
            self._receipts.append(entry)
            self._receipt_posted.notify_all()

    def _post_once(self, url: str, body: bytes) -> tuple[int | None, str | None]:
        headers = {"Content-Type": "application/json", **signed_headers(self.signing_secret, body)}
        try:
            response = self._pool.request("POST", url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            detail = f"{type(error).__name__}: {error}"
            log.warning("receipt post failed (retried): %s", detail, extra={"url": url, "error": detail})
            return None, detail
        return response.status, None
