"""Heartbeats: ``heartbeat_at`` (epoch milliseconds) on the endpoint record, so that of many
progress receipts at once one a heartbeat interval sends the waiting task's SendTaskHeartbeat
(:func:`journey_activity.receipts.apply_receipt`)."""

from __future__ import annotations

from journey_activity.ledger.keys import record_key
from journey_activity.ledger.table import Table, _to_item


class Heartbeats(Table):
    def claim_heartbeat(self, batch_id: str, endpoint_id: str, now: float, interval: float) -> bool:
        """Whether this receipt sends the endpoint's heartbeat: True for the one caller whose
        conditional write moved ``heartbeat_at`` (epoch milliseconds) to ``now`` (none yet, or the last one at least
        ``interval`` seconds ago); False for every other (a concurrent receipt claimed it)."""
        # One heartbeat an interval: the record exists (a claim never creates one) and its last
        # heartbeat is at least an interval old. Concurrent receipts race; the first write wins
        # and sends the heartbeat; each loser only skips it (its receipt is still noted).
        return self._claim_interval(_to_item(record_key(batch_id, endpoint_id)), "heartbeat_at", now, interval)
