"""What every handler shares: one logger, one metrics object, the ledger."""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

from journey_activity import aws
from journey_activity.errors import AwsThrottled
from journey_activity.redaction import RedactingFormatter
from journey_activity.settings.base import get_function_settings

if TYPE_CHECKING:  # the whole ledger is imported by the handlers that use it, not by the invoker
    from journey_activity.ledger.book import Ledger
    from journey_activity.ledger.table import Table

# Endpoint addresses, user attributes and rendered messages are personal data: masked in every
# log line unless LOG_PERSONAL_DATA=true (journey_activity.redaction.RedactingFormatter).
logger = Logger(logger_formatter=RedactingFormatter())
metrics = Metrics()
# An invocation that counts nothing (a refused receipt, an event the finalizer ignores) is
# normal, not worth a warning on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


Handler = TypeVar("Handler", bound=Callable[..., Any])
Kind = TypeVar("Kind", bound="Table")


def throttling_is_retried(handler: Handler) -> Handler:
    """An AWS call throttled past the SDK's retries fails the invocation as ``AwsThrottled``,
    the name the state machine's Retry matches (a botocore ClientError's class name says
    ``ClientError`` for most services, which must not be retried)."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            if aws.is_throttling(error):
                raise AwsThrottled(str(error)) from error
            raise

    return wrapped  # type: ignore[return-value]


_ledgers: dict[tuple[type[Any], str, int], Any] = {}
_ledgers_lock = threading.Lock()


def ledger_of(kind: type[Kind]) -> Kind:
    """The container's ledger as ``kind`` (:class:`~journey_activity.ledger.book.Ledger` or a part
    of it, such as the invoker's :class:`~journey_activity.ledger.invoker.InvokerLedger`), made once."""
    settings = get_function_settings()
    key = (kind, settings.ledger_table, settings.ledger_ttl_days)
    found = _ledgers.get(key)
    if found is None:
        with _ledgers_lock:
            found = _ledgers.setdefault(key, kind(settings.ledger_table, ttl_days=settings.ledger_ttl_days))
    return cast("Kind", found)


def ledger() -> Ledger:
    """The container's whole ledger."""
    from journey_activity.ledger.book import Ledger

    return ledger_of(Ledger)


def reset() -> None:
    """Forget the ledger and re-read the Powertools settings: the logger and metrics are made at
    import, which locally (a test run, the embedded engine) may come before the environment is set."""
    with _ledgers_lock:
        _ledgers.clear()
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or metrics.namespace
    # Resolved as Powertools resolves it when the logger is made.
    logger.setLevel((os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO").upper())
