"""What every handler shares: one logger, one metrics object, the ledger."""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics

from journey_activity.config import get_settings
from journey_activity.ledger import Ledger

logger = Logger()
metrics = Metrics()


@lru_cache(maxsize=1)
def _ledger(table: str, ttl_days: int) -> Ledger:
    return Ledger(table, ttl_days=ttl_days)


def ledger() -> Ledger:
    settings = get_settings()
    return _ledger(settings.ledger_table, settings.ledger_ttl_days)


def reset() -> None:
    _ledger.cache_clear()
