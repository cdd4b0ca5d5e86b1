"""What every handler shares: one logger, one metrics object, the ledger."""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics

from journey_activity.config import get_settings
from journey_activity.ledger import Ledger
from journey_activity.security import RedactingFormatter

# Endpoint addresses, user attributes and rendered messages are personal data: masked in every
# log line unless LOG_PERSONAL_DATA=true (journey_activity.security.RedactingFormatter).
logger = Logger(logger_formatter=RedactingFormatter())
metrics = Metrics()
# An invocation that counts nothing (a refused receipt, an event the finalizer ignores) is
# normal, not worth a warning on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


@lru_cache(maxsize=1)
def _ledger(table: str, ttl_days: int) -> Ledger:
    return Ledger(table, ttl_days=ttl_days)


def ledger() -> Ledger:
    settings = get_settings()
    return _ledger(settings.ledger_table, settings.ledger_ttl_days)


def reset() -> None:
    """Forget the ledger and re-read the Powertools settings: the logger and metrics are made at
    import, which locally (a test run, the embedded engine) may come before the environment is set."""
    _ledger.cache_clear()
    metrics.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or metrics.namespace
    # Resolved as Powertools resolves it when the logger is made.
    logger.setLevel((os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO").upper())
