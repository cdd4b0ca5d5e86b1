"""Batch progress: ``pk = "progress#<batch id>"``, ``sk = "#progress"``; a version the writers of a
final status advance (``ADD version n``) right after the record became final.

A waiting invoker reads this one small item (1 read unit) each poll and queries the batch's
partition only when the version moved. It is a hint, never an answer: the answer always comes from
the records. A writer that stops between its two writes leaves the version behind, so the invoker
answers late (``PENDING``), never wrong; a retried write that advances twice only costs a query.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity.ledger.keys import progress_key
from journey_activity.ledger.table import Table, _from_item, _to_item

LOG = logging.getLogger("journey_activity.ledger")


class Progress(Table):
    def progress(self, batch_id: str) -> int:
        """The batch's progress version (0 before anything is final): one strongly consistent
        GetItem of an item of some 60 bytes, so one read unit, whatever the batch's size."""
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=_to_item(progress_key(batch_id)), ConsistentRead=True,
            ProjectionExpression="#v", ExpressionAttributeNames={"#v": "version"},
        )
        item = _from_item(response.get("Item"))
        return int(item.get("version", 0)) if item else 0

    def _advance(self, batch_id: str, count: int = 1) -> None:
        """Move the batch's progress version after ``count`` records became final. Written after
        the records, so a reader that sees the new version finds them with a consistent read.
        A failure here is logged, not raised: the record is already final and right, and a
        waiting invoker only answers it later (see the module's notes)."""
        try:
            # Unconditional: ADD is atomic, so concurrent writers each count; none can lose.
            self._update(_to_item(progress_key(batch_id)), {}, add={"version": count},
                         if_not_exists={"expires_at": self._expires_at()})
        except (ClientError, BotoCoreError) as error:
            LOG.warning("The batch's progress version was not advanced", extra={"error": str(error)[:300]})
