"""Which AWS errors are worth trying again: throttling, a service's 5xx, a connection that failed.

botocore's standard retry mode already retries these a few times; an error that still reaches
the code means the service stayed busy for that long, so the caller decides what to do within
its own time (the invoker's deadline, the provider's retry of a receipt).
"""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from journey_activity.aws import is_throttling


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return type(error).__name__


def is_transient(error: BaseException) -> bool:
    """Throttled, a 5xx, or no answer at all (a connection or read that failed)."""
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return is_throttling(error) or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


