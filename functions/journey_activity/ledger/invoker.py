"""The item kinds the invoker uses, over one table: the batch's recipients and large template
written before its executions start, the claims of the trigger's idempotency keys, the progress
version and the records read while it waits, and a record closed when its execution failed.

Nothing of the sender's writes (:mod:`.sends`, :mod:`.pointers`), the group waits (:mod:`.groups`,
whose count a closed record of a group lowers: imported then) or the receipts' heartbeats
(:mod:`.heartbeats`): the invoker's cold start imports none of them. :class:`~.book.Ledger`, every
kind, extends it.
"""

from __future__ import annotations

from journey_activity.ledger.claims import Claims
from journey_activity.ledger.recipients import Recipients
from journey_activity.ledger.records import Records
from journey_activity.ledger.templates import Templates


class InvokerLedger(Records, Recipients, Templates, Claims):
    """What the invoker reads and writes of the ledger: ``InvokerLedger(table_name, ttl_days, dynamodb)``."""
