"""The whole ledger: every item kind over one table, what the handlers other than the invoker use."""

from __future__ import annotations

from journey_activity.ledger.groups import Groups
from journey_activity.ledger.heartbeats import Heartbeats
from journey_activity.ledger.invoker import InvokerLedger
from journey_activity.ledger.sends import Sends


class Ledger(InvokerLedger, Sends, Groups, Heartbeats):
    """Every item kind of the ledger over one table: ``Ledger(table_name, ttl_days, dynamodb)``."""
