"""boto3 clients, made lazily once per container with botocore's standard retry mode."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_clients: dict[str, Any] = {}


# Connections a client keeps open: the functions' thread pools make 16 calls at once (a sender's
# group, the invoker's claims), a few more run beside them; with botocore's default of 10, each
# round of calls would open connections only to drop them (urllib3: "Connection pool is full").
MAX_POOL_CONNECTIONS = 20


def client_config() -> Any:
    """botocore's standard retry mode (throttling is retried with backoff), short timeouts, and
    connections enough for the functions' threads: every client the functions use, Powertools'
    parameters clients included, is made with it."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10,
                  max_pool_connections=MAX_POOL_CONNECTIONS)


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


# Step Functions' answer to a task call whose task is gone: it timed out, was already resumed, or
# the token is not one of ours.
GONE_TASK_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def error_code(error: BaseException) -> str:
    """A botocore ClientError's code ("" for anything else)."""
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_throttling(error: BaseException) -> bool:
    """A botocore ClientError whose code is a throttling code."""
    response = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in THROTTLING_CODES


def reset_clients() -> None:
    """Forget clients (the local runtime points them at other endpoints between runs)."""
    with _lock:
        _clients.clear()


@dataclass(frozen=True)
class Backoff:
    """How a call throttled past the SDK's retries is tried again: ``attempts`` tries in all, the
    pause after the n-th failed try drawn with full jitter up to ``first_pause * rate**(n - 1)``
    (at most ``max_pause``); with a ``deadline`` (a ``time.monotonic()`` value), no pause ends past
    it and no try starts after it."""

    attempts: int
    first_pause: float
    rate: float = 2.0
    max_pause: float = float("inf")
    deadline: float | None = None

    def pause(self, failed: int) -> float | None:
        """The pause after ``failed`` tries failed; None when no try is left (every attempt made,
        or the deadline reached)."""
        if failed >= self.attempts:
            return None
        pause = random.uniform(0, min(self.max_pause, self.first_pause * self.rate ** (failed - 1)))
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                return None
            pause = min(pause, left)
        return pause

    def until(self, deadline: float | None) -> Backoff:
        """The same backoff, with no try after ``deadline``."""
        return replace(self, deadline=deadline)


def retry_with(call: Callable[[], T], backoff: Backoff, *, on_retry: Callable[[], None] | None = None,
               retryable: Callable[[BaseException], bool] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, tried again as ``backoff`` allows while it fails with throttling (past the SDK's
    own retries; or while ``retryable(error)`` holds, when given). Any other error, or the last
    throttling error, is raised."""
    worth_retrying = retryable or is_throttling
    failed = 0
    while True:
        try:
            return call()
        except Exception as error:
            failed += 1
            pause = backoff.pause(failed) if worth_retrying(error) else None
            if pause is None:
                raise
            if on_retry is not None:
                on_retry()
            sleep(pause)


def retry_throttled(call: Callable[[], T], *, attempts: int, first_pause: float,
                    on_retry: Callable[[], None] | None = None,
                    retryable: Callable[[BaseException], bool] | None = None) -> T:
    """``call()``, tried again while it fails with throttling (past the SDK's own retries; or
    while ``retryable(error)`` holds, when given), at most ``attempts`` times in all, pausing
    with full jitter up to ``first_pause * 2**attempt``. Any other error, or the last
    throttling error, is raised."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return retry_with(call, Backoff(attempts, first_pause), on_retry=on_retry, retryable=retryable)
