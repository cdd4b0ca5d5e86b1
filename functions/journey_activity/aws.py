"""boto3 clients, made lazily once per container with botocore's standard retry mode."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}


def client_config() -> Any:
    """botocore's standard retry mode (throttling is retried with backoff) and short timeouts:
    every client the functions use, Powertools' parameters clients included, is made with it."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)


def client(service: str) -> Any:
    """A shared client. boto3 clients are thread-safe once made; making one is slow and not,
    so concurrent first calls wait for one maker instead of each making their own."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            import boto3

            _clients[service] = boto3.session.Session().client(service, config=client_config())
        return _clients[service]


# The error codes AWS services answer throttling with (botocore's retries/standard.py and the
# services' models): DynamoDB's ProvisionedThroughputExceededException, Pinpoint's and Lambda's
# TooManyRequestsException, ThrottlingException elsewhere.
THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
                              "TooManyRequestsException", "ProvisionedThroughputExceededException",
                              "RequestLimitExceeded", "RequestThrottled", "SlowDown"})


def is_throttling(error: BaseException) -> bool:
    """A botocore ClientError whose code is a throttling code."""
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in THROTTLING_CODES


def reset_clients() -> None:
    """Forget clients (the local runtime points them at other endpoints between runs)."""
    with _lock:
        _clients.clear()
