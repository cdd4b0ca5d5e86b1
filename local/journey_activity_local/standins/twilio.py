"""Twilio Programmable Messaging locally: a real HTTP server speaking Twilio's REST API, posting
StatusCallbacks signed as Twilio signs them.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded, HTTP Basic auth
(``AccountSid:AuthToken``; a wrong one is 401, code 20003). ``To`` and ``Body`` are required, and
``From`` or ``MessagingServiceSid`` (21604, 21603 otherwise). An accepted message is answered 201 with
Twilio's Message resource (``sid`` ``SM`` + 32 hex, ``status`` ``queued``); errors are Twilio's
``{"code", "message", "more_info", "status"}``.

The recipient's behaviour (``--behave``, the words of :mod:`journey_activity_local.standins.http`)
decides the rest: ``reject`` 400 code 21211 (invalid To), ``optout`` 400 code 21610 (the recipient
replied STOP), ``throttle``/``throttled:N`` 429 code 20429, ``outage``/``flaky:N`` 503 code 20503,
``stall:S`` accepts and answers after S seconds (the sender has given up: its outcome is unknown),
``never`` posts no callback. Callbacks go to the message's ``StatusCallback`` as Twilio posts
them (form-encoded ``MessageSid``, ``MessageStatus``, ``ErrorCode``..., ``X-Twilio-Signature``
computed here independently of the product's code): ``sent`` (with progress receipts), then
``delivered``, ``undelivered`` 30003 (bounce) or ``failed`` 30008 (fail); ``duplicate`` posts the
final one twice and ``early`` before the send is answered.

The auth token is stored in the local Secrets Manager (moto) under ``journey-activity/twilio/auth-token``,
within the template's ``ProviderSecretsPrefix``, so the senders and the callback read it as in AWS.
Unlike Twilio, failed callback posts (a 5xx, a refused connection) are retried a few times, as
the generic stand-in's are; Twilio itself does not retry a status callback unless told to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode

import urllib3

from journey_activity_local.server import LocalServer, TrackingHTTPServer
from journey_activity_local.standins.http import Behaviour
from journey_activity_local.standins.registry import SendLog, StandInSetup, register

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
FROM_NUMBER = "+15005550006"  # Twilio's magic "valid From" test number
SECRET_NAME = "journey-activity/twilio/auth-token"  # noqa: S105 - a name, not a secret
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")
_E164 = re.compile(r"^(whatsapp:)?\+[1-9][0-9]{6,14}$")
RECEIPT_TIMEOUT = urllib3.Timeout(connect=1.0, read=5.0)
# Twilio's default retry count (rc) when the StatusCallback URL names none: one retry.
CALLBACK_RETRIES = 1

# behaviour -> (final MessageStatus, ErrorCode)
_FINAL: dict[str, tuple[str, str | None]] = {
    "deliver": ("delivered", None), "flaky": ("delivered", None), "throttled": ("delivered", None),
    "stall": ("delivered", None), "early": ("delivered", None), "duplicate": ("delivered", None),
    "bounce": ("undelivered", "30003"), "fail": ("failed", "30008"),
}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status}


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature as Twilio's documentation describes it, written here apart from the product's."""
    payload = url
    for name in sorted(params):
        payload += name + params[name]
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True).replace("GMT", "+0000")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Twilio-Request-Id", f"RQ{secrets.token_hex(16)}")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            status, body = self.server.standin.handle(self.path, self.headers.get("Authorization", ""),
                                                      self.headers.get("Content-Type", ""), raw)
        except TwilioError as error:
            self._answer(error.status, error.body())
            return
        self._answer(status, body)

    def do_GET(self) -> None:
        self._answer(404, TwilioError(404, 20404, "The requested resource was not found").body())


class _Server(TrackingHTTPServer):
    standin: TwilioStandIn


class TwilioStandIn(SendLog, LocalServer):
    """Kind ``twilio``: ``provider_config`` points a channel (SMS) at this server."""

    thread_name = "twilio-standin"

    def __init__(self, setup: StandInSetup, host: str = "127.0.0.1", port: int = 0,
                 account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.setup = setup
        self.account_sid = account_sid or f"AC{secrets.token_hex(16)}"
        self.auth_token = auth_token or secrets.token_hex(16)
        self.secret_arn = ""
        SendLog.__init__(self, setup.behaviours, setup.send_rate)
        self._callback_posted = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._accepted: dict[str, str] = {}
        self._callbacks: list[dict[str, Any]] = []
        self._timers: set[threading.Timer] = set()
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=64, retries=False, timeout=RECEIPT_TIMEOUT)
        server = _Server((host, port), _Handler)
        server.standin = self
        LocalServer.__init__(self, server)

    # -- the StandIn protocol ---------------------------------------------------------------

    def start(self) -> TwilioStandIn:
        self._store_token()
        super().start()
        return self

    def _store_token(self) -> None:
        """The auth token in the local Secrets Manager, as an operator stores it in AWS."""
        if self.secret_arn:
            return
        import boto3

        client = boto3.client("secretsmanager", region_name=self.setup.region)
        try:
            self.secret_arn = client.create_secret(Name=SECRET_NAME, SecretString=self.auth_token)["ARN"]
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=SECRET_NAME, SecretString=self.auth_token)
            self.secret_arn = client.describe_secret(SecretId=SECRET_NAME)["ARN"]

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """Every status callback posted (after its retries): ``message_sid``, ``status``, ``http_status``."""
        with self._lock:
            return [dict(callback) for callback in self._callbacks]

    def wait_for_callbacks(self, count: int, timeout: float) -> bool:
        with self._callback_posted:
            return self._callback_posted.wait_for(lambda: len(self._callbacks) >= count, timeout)

    def behaviour_for(self, address: str) -> Behaviour:
        """A WhatsApp address behaves as its number does."""
        return super().behaviour_for(address.removeprefix("whatsapp:"))

    def provider_config(self, channel: str) -> dict[str, Any]:
        return self._paced({"type": "twilio", "name": "twilio", "account_sid": self.account_sid,
                            "auth_token": f"secretsmanager:{SECRET_NAME}", "from_number": FROM_NUMBER,
                            "api_base_url": self.url})

    def _paced(self, config: dict[str, Any]) -> dict[str, Any]:
        """The product paces its sends at the stand-in's rate, when it has one."""
        return {**config, "send_rate": self.setup.send_rate} if self.setup.send_rate else config

    def environment(self) -> dict[str, str]:
        return {}

    def describe(self) -> dict[str, Any]:
        return {"kind": "twilio", "url": self.url, "api_base_url": self.url,
                "credentials": {"account_sid": self.account_sid, "auth_token": self.auth_token,
                                "auth_token_secret": SECRET_NAME},
                "from_number": FROM_NUMBER, "status_callback": f"{self.setup.receipts_base_url}/receipts/twilio"}

    def stop(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._stopping.set()
            timers = list(self._timers)
        for timer in timers:
            timer.cancel()
        super().stop()
        self._pool.clear()

    # -- the REST API -----------------------------------------------------------------------

    def _authenticate(self, authorization: str, account_sid: str) -> None:
        scheme, _, encoded = authorization.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if scheme.lower() != "basic" or user != self.account_sid or not hmac.compare_digest(password,
                                                                                             self.auth_token):
            raise TwilioError(401, 20003, "Authenticate")
        if account_sid != self.account_sid:
            raise TwilioError(404, 20404, "The requested resource was not found")

    def handle(self, path: str, authorization: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if self.setup.latency > 0:
            time.sleep(self.setup.latency)
        match = _PATH.match(path.split("?", 1)[0])
        if not match:
            raise TwilioError(404, 20404, "The requested resource was not found")
        self._authenticate(authorization, match.group("sid"))
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise TwilioError(400, 20001, "Request body must be application/x-www-form-urlencoded")
        params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        to, body = params.get("To", ""), params.get("Body", "")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not body and not params.get("MediaUrl") and not params.get("ContentSid"):
            raise TwilioError(400, 21602, "Message body is required.")
        if not params.get("From") and not params.get("MessagingServiceSid"):
            raise TwilioError(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
        if not _E164.match(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        behaviour = self.admit(to)
        # Twilio takes no idempotency key: the same recipient and body again is another message.
        key = f"{to}\n{body}"
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        _refuse(behaviour, attempt, to)
        now = datetime.now(UTC)
        sid = f"SM{secrets.token_hex(16)}"
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        message: dict[str, Any] = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": _rfc2822(now), "date_sent": None, "date_updated": _rfc2822(now),
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": params.get("From"), "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
            "sid": sid, "status": "accepted" if params.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")}, "to": to, "uri": uri,
        }
        with self._lock:
            if key in self._accepted:
                self._duplicates += 1
            self._accepted.setdefault(key, sid)
            self._sends.append({"sid": sid, "params": params, "address": to})
        callback = params.get("StatusCallback")
        if callback and behaviour.kind != "never":
            if behaviour.kind == "early":
                self._post_callbacks(callback, message, behaviour)
            else:
                self._schedule(callback, message, behaviour)
        if behaviour.kind == "stall" and attempt == 1:
            # Accepted, but the answer comes after the sender gave up.
            self._stopping.wait(behaviour.stall_seconds)
        return 201, message

    # -- status callbacks -------------------------------------------------------------------

    def _schedule(self, url: str, message: dict[str, Any], behaviour: Behaviour) -> None:
        timer: threading.Timer

        def run() -> None:
            try:
                self._post_callbacks(url, message, behaviour)
            finally:
                with self._lock:
                    self._timers.discard(timer)

        timer = threading.Timer(self.setup.receipt_delay, run)
        timer.daemon = True
        with self._lock:
            if self._stopping.is_set():
                return
            self._timers.add(timer)
        timer.start()

    def _post_callbacks(self, url: str, message: dict[str, Any], behaviour: Behaviour) -> None:
        status, error_code = _FINAL[behaviour.kind]
        if self.setup.progress_receipts:
            self._post(url, message, "sent", None)
        self._post(url, message, status, error_code)
        if behaviour.kind == "duplicate":
            self._post(url, message, status, error_code)

    def _post(self, url: str, message: dict[str, Any], status: str, error_code: str | None) -> None:
        """One StatusCallback, as Twilio posts it (form-encoded, signed over the URL and every parameter),
        retried as the URL's connection overrides say (``#rc=<retries>``; the fragment is not sent)."""
        url, _, fragment = url.partition("#")
        overrides = dict(parse_qsl(fragment))
        retries = min(int(overrides["rc"]), 5) if overrides.get("rc", "").isdigit() else CALLBACK_RETRIES
        params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "From": str(message["from"] or ""),
                  "MessageSid": message["sid"], "MessageStatus": status, "SmsSid": message["sid"],
                  "SmsStatus": status, "To": message["to"]}
        if error_code:
            params["ErrorCode"] = error_code
        if status == "delivered":
            params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                   "X-Twilio-Signature": sign(self.auth_token, url, params),
                   "I-Twilio-Idempotency-Token": secrets.token_hex(16), "User-Agent": "TwilioProxy/1.1"}
        body = urlencode(params).encode()
        outcomes: list[int | None] = []
        for attempt in range(1 + retries):
            if attempt and self._stopping.wait(0.2 * attempt):
                break
            try:
                outcomes.append(self._pool.request("POST", url, body=body, headers=headers).status)
            except urllib3.exceptions.HTTPError as error:
                log.debug("status callback failed", extra={"error": str(error)})
                outcomes.append(None)
            if outcomes[-1] is not None and outcomes[-1] < 500:
                break
        with self._callback_posted:
            self._callbacks.append({"message_sid": message["sid"], "status": status, "error_code": error_code,
                                    "http_status": outcomes[-1] if outcomes else None, "outcomes": outcomes})
            self._callback_posted.notify_all()


def _refuse(behaviour: Behaviour, attempt: int, to: str) -> None:
    if behaviour.kind == "reject":
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if behaviour.kind == "optout":
        raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
    if behaviour.kind == "throttle" or (behaviour.kind == "throttled" and attempt <= behaviour.failures):
        raise TwilioError(429, 20429, "Too Many Requests")
    if behaviour.kind == "outage" or (behaviour.kind == "flaky" and attempt <= behaviour.failures):
        raise TwilioError(503, 20503, "Service Unavailable")


register("twilio", TwilioStandIn)
