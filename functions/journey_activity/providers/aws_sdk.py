"""What the AWS providers (SES, SMS and voice, push) share: their clients and their errors.

A provider client makes exactly one attempt per call: none of these send APIs takes an
idempotency key, so an SDK retry stacked on the state machine's could send a message twice;
retries belong to the ASL, where they are visible. A failure known to happen before the service
took the request (a refused or timed-out connection) is retried there (ProviderUnavailable); one
after the request was sent (a read timeout, a reset) is ambiguous (ProviderOutcomeUnknown, never
retried): the endpoint waits for the service's event, found by the idempotency key it carries.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

from journey_activity.errors import (
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
)
from journey_activity.settings.providers import SDK_CONNECT_TIMEOUT_SECONDS

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, float], Any] = {}


def sdk_client(service: str, region: str | None, timeout_seconds: float) -> Any:
    """One client per (service, region, timeout) per container: making one is slow."""
    key = (service, region, timeout_seconds)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                            connect_timeout=min(SDK_CONNECT_TIMEOUT_SECONDS, timeout_seconds),
                            read_timeout=timeout_seconds, tcp_keepalive=True)
            _clients[key] = boto3.session.Session().client(service, region_name=region, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget the clients (tests and the local runtime point them at other endpoints)."""
    with _lock:
        _clients.clear()


def check_time_left(deadline: float | None) -> None:
    """Refuse to start a call the invocation has no time left for (nothing sent: retried)."""
    if deadline is not None and deadline - time.monotonic() < SDK_CONNECT_TIMEOUT_SECONDS:
        raise ProviderUnavailable("no time left in the invocation for the provider call")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_status(error: ClientError) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status else None


def from_sdk_error(error: Exception, *, throttling: frozenset[str], rejected: frozenset[str]) -> ProviderError:
    """The provider error for an SDK failure. ``throttling``: the service's rate-limit codes;
    ``rejected``: codes that say the request itself will never succeed. An answer with another
    code is a 5xx (retried) or an unexpected 4xx (rejected: retrying the same request won't help)."""
    if isinstance(error, ClientError):
        code, status = error_code(error), error_status(error)
        message = f"{code}: {error.response.get('Error', {}).get('Message', '')}".strip()
        if code in throttling or status == 429:
            return ProviderThrottled(message, status)
        if code in rejected:
            return ProviderRejected(message, status)
        if status is not None and status >= 500:
            return ProviderUnavailable(message, status)
        return ProviderRejected(message, status)
    if isinstance(error, ConnectTimeoutError | EndpointConnectionError):
        # No connection: the request never left.
        return ProviderUnavailable(f"{type(error).__name__}: {error}")
    if isinstance(error, ReadTimeoutError | ConnectionClosedError | HTTPClientError):
        # Sent, and the answer lost: the service may have the message.
        return ProviderOutcomeUnknown(f"{type(error).__name__}: {error}")
    if isinstance(error, BotoCoreError):
        return ProviderUnavailable(f"{type(error).__name__}: {error}")
    raise error
