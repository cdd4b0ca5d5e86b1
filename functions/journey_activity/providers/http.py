"""The generic HTTP provider: POST one message as JSON, read the provider's message id back.

Request body: ``{"idempotency_key", "channel", "address", "message", "endpoint_id",
"batch_id", "callback_url", "metadata"}`` plus the ``Idempotency-Key`` header. A 2xx answer
must carry ``message_id`` (or ``id`` / ``messageId``). 429 is throttling and 5xx or a
network failure is an outage (both retried by the state machine); any other 4xx is a
rejection (never retried).

Before each send the URL's host is resolved and every address checked
(:func:`journey_activity.security.resolve_provider_target`); the connection then goes to a
checked address, with TLS SNI and certificate verification against the URL's host name, so
a DNS answer that changes after the check (DNS rebinding) cannot point the send elsewhere.
Header values may be ``secretsmanager:`` / ``ssm:`` references, resolved here, at send time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import urllib3

from journey_activity.errors import ProviderRejected, ProviderThrottled, ProviderUnavailable
from journey_activity.providers.base import SendRequest, SendResult
from journey_activity.security import (
    ProviderTarget,
    local_providers_allowed,
    read_before_send,
    resolve_headers,
    resolve_provider_target,
    scrub,
)
from journey_activity.settings.providers import HttpProviderConfig

_MESSAGE_ID_FIELDS = ("message_id", "messageId", "id", "MessageId")
# A provider answers with a message id (or a short error): anything bigger is not an answer,
# and reading it whole would let a provider exhaust the function's memory.
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK_BYTES = 8 * 1024
# At most this many of the host's checked addresses are tried when a connection is refused.
_MAX_ADDRESSES = 3


@lru_cache(maxsize=1)
def _pool() -> urllib3.PoolManager:
    # Retries belong to the state machine (visible in the console), not to the HTTP client.
    return urllib3.PoolManager(num_pools=8, maxsize=40, retries=False)


def _detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text[:300] if text else "(empty body)"


class _TooLarge(Exception):  # noqa: N818 - internal signal, turned into ProviderUnavailable
    pass


class _OutOfTime(Exception):  # noqa: N818 - internal signal, turned into ProviderUnavailable
    pass


def _read_limited(response: urllib3.BaseHTTPResponse, deadline: float | None = None) -> bytes:
    """The body, or :class:`_TooLarge` as soon as it passes :data:`MAX_RESPONSE_BYTES`, or
    :class:`_OutOfTime` once the deadline passes (a provider dripping its answer byte by byte
    never trips urllib3's read timeout, which counts each socket read on its own)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _TooLarge
    data = bytearray()
    for chunk in response.stream(_CHUNK_BYTES) if deadline is None else _chunks_until(response, deadline):
        data.extend(chunk)
        if len(data) > MAX_RESPONSE_BYTES:
            raise _TooLarge
    return bytes(data)


def _chunks_until(response: urllib3.BaseHTTPResponse, deadline: float) -> Iterator[bytes]:
    while True:
        _shorten_socket_timeout(response, deadline)
        try:
            chunk = _read_some(response)
        except urllib3.exceptions.TimeoutError:
            if time.monotonic() >= deadline:
                raise _OutOfTime from None
            raise
        if not chunk:
            return
        yield chunk


def _read_some(response: urllib3.BaseHTTPResponse) -> bytes:
    """What has arrived, up to a chunk (``read1``, urllib3 >= 2.3), rather than blocking for a whole chunk."""
    read1 = getattr(response, "read1", None)
    return bytes(read1(_CHUNK_BYTES) if read1 is not None else response.read(1, decode_content=True))


def _shorten_socket_timeout(response: urllib3.BaseHTTPResponse, deadline: float) -> None:
    """The next socket read waits no longer than the time left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _OutOfTime
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        current = sock.gettimeout()
        sock.settimeout(left if current is None else min(current, left))


class HttpProvider:
    """``"type": "http"``: POST each message as JSON to the configured ``https://`` URL (the module's
    docstring gives the body and the answers); receipts come to ``POST /receipts/{name}``, signed."""

    def __init__(self, config: HttpProviderConfig) -> None:
        self.config = config
        self.name = config.name

    def send(self, request: SendRequest) -> SendResult:
        body = {
            "idempotency_key": request.idempotency_key,
            "channel": request.channel,
            "address": request.address,
            "message": request.message,
            "endpoint_id": request.endpoint_id,
            "batch_id": request.batch_id,
            "metadata": request.metadata,
        }
        if self.config.callback_url:
            body["callback_url"] = self.config.callback_url
        # Checked before every send, not once per container: DNS answers change.
        target = resolve_provider_target(self.config.url, allow_local=local_providers_allowed())
        configured, secret_values = self._headers()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key,
            **configured,
            "Host": target.host_header,
        }
        try:
            status, data = self._post(target, json.dumps(body).encode(), headers, request.deadline)
        except _OutOfTime:
            raise ProviderUnavailable(
                f"{self.name} did not answer within the invocation's remaining time; retried with the same "
                "idempotency key"
            ) from None
        except _TooLarge:
            raise ProviderUnavailable(
                f"{self.name} answered with more than {MAX_RESPONSE_BYTES} bytes; the answer was not read"
            ) from None
        except urllib3.exceptions.HTTPError as error:
            message = scrub(f"{self.name}: {type(error).__name__}: {error}", secret_values)
            raise ProviderUnavailable(message) from None
        detail = scrub(_detail(data), secret_values)
        if status == 429:
            raise ProviderThrottled(f"{self.name} throttled the send (429): {detail}", status)
        if status >= 500:
            raise ProviderUnavailable(f"{self.name} failed ({status}): {detail}", status)
        if status >= 400:
            raise ProviderRejected(f"{self.name} rejected the message ({status}): {detail}", status)
        if status >= 300:
            # Redirects are never followed (redirect=False below), so a redirect cannot lead a
            # send past the address check: the check holds "on every redirect" by refusing them.
            raise ProviderRejected(f"{self.name} answered a redirect ({status}); configure the final URL", status)
        return SendResult(message_id=self._message_id(data, status))

    def _headers(self) -> tuple[dict[str, str], list[str]]:
        """The configured headers with secret references resolved (values never logged)."""
        return read_before_send(lambda: resolve_headers(self.config.headers),
                                f"{self.name}: a header's secret reference")

    def _timeout(self, deadline: float | None) -> urllib3.Timeout:
        """The provider's timeouts, cut to what is left before the deadline. urllib3's read
        timeout is per socket read, so a provider dripping its answer is stopped by _read_limited."""
        connect, read = min(3.0, self.config.timeout_seconds), self.config.timeout_seconds
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _OutOfTime
            connect, read = min(connect, left), min(read, left)
        return urllib3.Timeout(connect=connect, read=read)

    def _post(self, target: ProviderTarget, body: bytes, headers: dict[str, str],
              deadline: float | None = None) -> tuple[int, bytes]:
        # TLS: SNI and the certificate check use the URL's host name, the socket the checked address.
        pool_kwargs = (
            {"server_hostname": target.host, "assert_hostname": target.host} if target.scheme == "https" else {}
        )
        addresses = target.addresses[:_MAX_ADDRESSES]
        for index, address in enumerate(addresses):
            pool = _pool().connection_from_host(address, port=target.port, scheme=target.scheme,
                                                pool_kwargs=pool_kwargs)
            try:
                response = pool.urlopen("POST", target.path, body=body, headers=headers,
                                        timeout=self._timeout(deadline), retries=False, redirect=False,
                                        preload_content=False)
            except urllib3.exceptions.NewConnectionError:
                if index + 1 < len(addresses):
                    continue  # refused or unreachable: the host's next checked address
                raise
            except urllib3.exceptions.TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise _OutOfTime from None
                raise
            try:
                return response.status, _read_limited(response, deadline)
            except _TooLarge:
                response.close()  # never reuse a connection with an unread body
                raise
            finally:
                response.release_conn()
        raise AssertionError("unreachable: resolve_provider_target returns at least one address")

    def _message_id(self, data: bytes, status: int) -> str:
        try:
            payload: Any = json.loads(data or b"{}")
        except json.JSONDecodeError:
            raise ProviderUnavailable(f"{self.name} answered {status} with a body that is not JSON", status) from None
        if isinstance(payload, dict):
            for field in _MESSAGE_ID_FIELDS:
                value = payload.get(field)
                if isinstance(value, str | int) and str(value):
                    return str(value)
        raise ProviderUnavailable(f"{self.name} answered {status} without a message id", status)
