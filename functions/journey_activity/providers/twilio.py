"""Twilio Programmable Messaging (SMS and WhatsApp): the REST send and its StatusCallback receipts.

Send: ``POST {api_base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded
(``To``, ``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``), HTTP Basic auth with
the account SID and the auth token read from a secret reference. A WhatsApp send is the same
call with ``whatsapp:``-prefixed addresses. The answer is Twilio's Message resource; its ``sid``
is the message id every status callback carries back as ``MessageSid``.

One attempt per call: Twilio's send takes no idempotency key, so a retry stacked on the state
machine's could send twice. 429 (code 20429) is ProviderThrottled and 5xx or a refused
connection ProviderUnavailable (nothing was accepted: retried by the ASL); a read timeout or a
reset after the request was written is ProviderOutcomeUnknown (never retried: the endpoint waits
for a status callback, found by the idempotency key in the callback URL's query); error 21610
(the recipient replied STOP) is ProviderOptedOut; any other 4xx is ProviderRejected.

StatusCallback: Twilio POSTs form-encoded parameters (``MessageSid``, ``MessageStatus``,
``ErrorCode``...) to the URL given with the message, signed in ``X-Twilio-Signature``:
base64(HMAC-SHA1(auth token, URL + every POST parameter's name and value, sorted by name)). The
URL is the one Twilio requested, exactly: the callback function rebuilds it from configuration
(:func:`status_callback_url`), never from the request's Host header, which API Gateway, a custom
domain or a base-path mapping may have changed. The signature carries no timestamp: a replayed
callback is a duplicate, which the ledger makes harmless (the first final status wins).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from journey_activity.errors import (
    ProviderOptedOut,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from journey_activity.providers.base import SendRequest, SendResult
from journey_activity.receipts import Outcome, Receipt, classify
from journey_activity.security import (
    local_providers_allowed,
    read_before_send,
    resolve_reference,
    scrub,
    split_secrets,
)
from journey_activity.settings.providers import SDK_CONNECT_TIMEOUT_SECONDS, TwilioProviderConfig

API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
# Twilio's error code for a recipient who replied STOP (https://www.twilio.com/docs/api/errors/21610).
OPTED_OUT_CODE = "21610"
# The status callback URL's query parameter carrying our idempotency key back (it is signed with the URL).
KEY_PARAMETER = "ja_key"
MAX_RESPONSE_BYTES = 64 * 1024
# Twilio's connection overrides (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides),
# a fragment of the StatusCallback URL: retry a failed callback 5 times (rc, at most 5; Twilio's
# default is 1) on every kind of failure (rp=all: connect and read timeouts, 4xx and 5xx), within
# Twilio's total time (tt, 15 s). A fragment is never sent in the request; whether Twilio signs the
# URL with it is not documented, so the consumer accepts the signature over either form.
CONNECTION_OVERRIDES = "#rc=5&rp=all"

# MessageStatus -> our receipt word (receipts.classify's vocabulary).
STATUS: dict[str, str] = {
    "accepted": "accepted",
    "scheduled": "scheduled",
    "queued": "queued",
    "sending": "sending",
    # The last status when the carrier returns no delivery report: progress, the wait decides.
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
    # Not statuses of one outbound message to one recipient: progress, never an outcome.
    "partially_delivered": "partially_delivered",
    "receiving": "receiving",
    "received": "received",
}


@lru_cache(maxsize=1)
def _pool() -> urllib3.PoolManager:
    # Retries belong to the state machine (visible in the console), not to the HTTP client.
    return urllib3.PoolManager(num_pools=4, maxsize=40, retries=False)


def status_callback_url(config: TwilioProviderConfig, idempotency_key: str | None = None) -> str | None:
    """The public URL Twilio posts this provider's status callbacks to, and signs: the
    configured ``callback_url`` (the sender fills it from ``PROVIDER_CALLBACK_BASE_URL`` +
    ``/receipts/{name}``), plus our idempotency key as a query parameter when given, plus the
    connection overrides that make Twilio retry a failed callback (:data:`CONNECTION_OVERRIDES`)."""
    if not config.callback_url:
        return None
    url = config.callback_url.split("#", 1)[0]
    if idempotency_key is not None:
        separator = "&" if urlsplit(url).query else "?"
        url = f"{url}{separator}{urlencode({KEY_PARAMETER: idempotency_key})}"
    return url + CONNECTION_OVERRIDES


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """``X-Twilio-Signature`` of a form POST to ``url``: base64(HMAC-SHA1(token, url + name + value
    for each parameter, sorted by name, then value)), as Twilio computes it."""
    data = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_tokens: Iterable[str], url: str, params: Iterable[tuple[str, str]],
                    given: str | None) -> bool:
    """True when ``given`` is the signature of (url, params) under one of the tokens (two while a
    token is rotated: Twilio's secondary token). Compared in constant time."""
    if not given:
        return False
    pairs = list(params)
    return any(hmac.compare_digest(signature(token, url, pairs).encode(), given.encode())
               for token in auth_tokens if token)


def receipts_from(params: Mapping[str, str], query: Mapping[str, str] | None = None) -> list[Receipt]:
    """The receipt in one status callback's parameters (one message, one recipient)."""
    sid = str(params.get("MessageSid") or params.get("SmsSid") or "")
    raw_status = str(params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not raw_status:
        raise ValueError("not a Twilio message status callback (MessageSid and MessageStatus are required)")
    status = STATUS.get(raw_status, raw_status)
    error_code = str(params.get("ErrorCode") or "") or None
    if error_code == OPTED_OUT_CODE:
        status = "opted_out"
    failed = classify(status) in (Outcome.FAILED, Outcome.SKIPPED)
    key = (query or {}).get(KEY_PARAMETER)
    return [Receipt(message_id=sid[:256], status=status[:64],
                    error_code=(error_code[:256] if error_code and failed else None),
                    detail=(str(params.get("ErrorMessage") or "")[:1000] or None) if failed else None,
                    idempotency_key=key[:64] if key else None, provider_event=raw_status[:64])]


def _as_text(message: Any) -> str:
    """A JSON message's text: its "text" (or "body")."""
    if isinstance(message, str):
        return message
    if isinstance(message, Mapping):
        for field in ("text", "body"):
            if isinstance(message.get(field), str):
                return str(message[field])
    raise ProviderRejected('a Twilio message given as JSON needs a "text" (or "body") string')


def _whatsapp(address: str) -> str:
    return address if address.startswith(WHATSAPP_PREFIX) else f"{WHATSAPP_PREFIX}{address}"


class TwilioProvider:
    """``"type": "twilio"``: the Messages REST call; Twilio's status callbacks, signed with the auth
    token, are the receipts (``POST /receipts/{name}``)."""

    def __init__(self, config: TwilioProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def url(self) -> str:
        """The Messages resource of the configured account."""
        base = self.config.api_base_url.rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{quote(self.config.account_sid, safe='')}/Messages.json"

    def form(self, request: SendRequest) -> list[tuple[str, str]]:
        """The send's form parameters, in Twilio's names."""
        whatsapp = self.config.whatsapp or request.address.startswith(WHATSAPP_PREFIX)
        to = _whatsapp(request.address) if whatsapp else request.address
        fields: list[tuple[str, str]] = [("To", to), ("Body", _as_text(request.message))]
        if self.config.messaging_service_sid:
            fields.append(("MessagingServiceSid", self.config.messaging_service_sid))
        if self.config.from_number:
            fields.append(("From", _whatsapp(self.config.from_number) if whatsapp else self.config.from_number))
        if not self.config.messaging_service_sid and not self.config.from_number:
            raise ProviderRejected(f"{self.name}: configure from_number or messaging_service_sid")
        callback = status_callback_url(self.config, request.idempotency_key)
        if callback:
            fields.append(("StatusCallback", callback))
        return fields

    def send(self, request: SendRequest) -> SendResult:
        fields = self.form(request)
        url = self.url()
        if urlsplit(url).scheme != "https" and not local_providers_allowed():
            raise ProviderRejected(f"{self.name}: api_base_url must be https")
        token = self._auth_token()
        credentials = base64.b64encode(f"{self.config.account_sid}:{token}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json",
                   "Content-Type": "application/x-www-form-urlencoded"}
        status, data = self._post(url, urlencode(fields).encode(), headers, request.deadline)
        answer = _json(data)
        if 200 <= status < 300:
            sid = answer.get("sid")
            if not isinstance(sid, str) or not sid:
                # Accepted (2xx), but the id is unreadable: the message may be on its way.
                raise ProviderOutcomeUnknown(f"{self.name} answered {status} without a message sid", status)
            return SendResult(message_id=sid, status=str(answer.get("status") or "queued"))
        code = str(answer.get("code") or "")
        detail = scrub(f"{code or status}: {answer.get('message') or _text(data)}", [token])[:500]
        if status == 429:
            raise ProviderThrottled(f"{self.name} throttled the send ({detail})", status)
        if status >= 500:
            raise ProviderUnavailable(f"{self.name} failed ({detail})", status)
        if code == OPTED_OUT_CODE:
            raise ProviderOptedOut(f"{self.name}: the recipient opted out ({detail})", status)
        raise ProviderRejected(f"{self.name} rejected the message ({detail})", status)

    def _auth_token(self) -> str:
        # Two comma-separated tokens while one is rotated: the first one sends.
        return read_before_send(lambda: split_secrets(resolve_reference(self.config.auth_token))[0],
                                f"{self.name}: the auth token")

    def _timeout(self, deadline: float | None) -> urllib3.Timeout:
        connect, read = min(SDK_CONNECT_TIMEOUT_SECONDS, self.config.timeout_seconds), self.config.timeout_seconds
        if deadline is not None:
            left = deadline - time.monotonic()
            if left < SDK_CONNECT_TIMEOUT_SECONDS:
                raise ProviderUnavailable("no time left in the invocation for the provider call")
            connect, read = min(connect, left), min(read, left)
        return urllib3.Timeout(connect=connect, read=read)

    def _post(self, url: str, body: bytes, headers: dict[str, str], deadline: float | None) -> tuple[int, bytes]:
        timeout = self._timeout(deadline)
        try:
            response = _pool().request("POST", url, body=body, headers=headers, timeout=timeout,
                                       retries=False, redirect=False, preload_content=False)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as error:
            # No connection: the request never left.
            raise ProviderUnavailable(f"{self.name}: {type(error).__name__}") from None
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as error:
            # Written, and the answer lost: Twilio may have queued the message.
            raise ProviderOutcomeUnknown(f"{self.name}: {type(error).__name__} after the request was sent") from None
        except urllib3.exceptions.HTTPError as error:
            raise ProviderUnavailable(f"{self.name}: {type(error).__name__}") from None
        try:
            data = response.read(MAX_RESPONSE_BYTES + 1)
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as error:
            if 200 <= response.status < 300:
                raise ProviderOutcomeUnknown(f"{self.name}: {type(error).__name__} reading the answer") from None
            raise ProviderUnavailable(f"{self.name}: {type(error).__name__} reading the answer") from None
        finally:
            response.release_conn()
        return response.status, bytes(data[:MAX_RESPONSE_BYTES])


def _json(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[:300] or "(empty body)"
