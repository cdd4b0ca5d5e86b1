"""Message and key pointers: which endpoint record a provider's message belongs to.

A message pointer (``pk = "msg#<provider>#<message id>"``, ``sk = "#pointer"``; see
:func:`.keys.pointer_key` for long ids) holds the record's batch and endpoint ids, the waiting
task's token, and the receipts that arrived before the record knew the message id. A key pointer
(``idem#<provider>#<idempotency key>``) is the same for a send whose answer was lost: SES tags and
SMS contexts carry our idempotency key back in their events.

The pointer is a plain item read and written atomically rather than a global secondary index,
because a GSI is eventually consistent: a receipt arriving just after the send could miss it. Two
atomic updates of one item settle the receipt-before-token race: whichever of the sender (linking,
:meth:`Pointers.link_pointer`) and the receipt (parking, :meth:`Pointers.park_receipt`, when its
read found the pointer not linked yet) writes second sees the other's write. A receipt reads the
pointer (one read) and, once it is linked, never writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journey_activity.ledger.keys import key_pointer_key, pointer_key
from journey_activity.ledger.table import Table, _from_item, now_iso


class Pointers(Table):
    def pointer(self, provider: str, message_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=pointer_key(provider, message_id), ConsistentRead=True
        )
        return _from_item(response.get("Item"))

    def key_pointer(self, provider: str, idempotency_key: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=key_pointer_key(provider, idempotency_key), ConsistentRead=True
        )
        return _from_item(response.get("Item"))

    def park_receipt(self, provider: str, message_id: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
        """Append a receipt to the message pointer; returns the pointer (linked if ``batch_id`` is set)."""
        return self._park(pointer_key(provider, message_id), receipt)

    def park_keyed_receipt(self, provider: str, idempotency_key: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
        """Append a receipt to the idempotency key's pointer (see
        :meth:`journey_activity.ledger.sends.Sends.mark_outcome_unknown`)."""
        return self._park(key_pointer_key(provider, idempotency_key), receipt)

    def _park(self, key: Mapping[str, Any], receipt: Mapping[str, Any]) -> dict[str, Any]:
        # The receipt's half of the race (see the module's notes): unconditional and atomic. The
        # pointer it returns is linked when the sender linked first; the receipt then applies
        # itself to the record. Otherwise the sender's link, later, returns this receipt among
        # ``receipts`` and the sender applies it: neither side loses the receipt.
        return self._update(
            key,
            {"updated_at": now_iso()},
            if_not_exists={"expires_at": self._expires_at()},
            append={"receipts": [dict(receipt)]},
        )

    def link_pointer(self, batch_id: str, endpoint_id: str, *, provider: str, message_id: str,
                     task_token: str | None, group: str | None = None) -> dict[str, Any]:
        """Point the provider's message id at the endpoint and its waiting task (idempotent: a
        retried sender links again with its new token, since its first attempt may have stopped
        between the record and the pointer). Returns the pointer; its ``receipts`` are receipts
        that arrived before the link."""
        return self._link(pointer_key(provider, message_id), batch_id, endpoint_id, task_token, group)

    def link_key_pointer(self, batch_id: str, endpoint_id: str, *, provider: str,
                         idempotency_key: str, task_token: str | None, group: str | None = None) -> dict[str, Any]:
        """The same for the idempotency key's pointer (a lost answer: see
        :meth:`journey_activity.ledger.sends.Sends.mark_outcome_unknown`)."""
        return self._link(key_pointer_key(provider, idempotency_key), batch_id, endpoint_id, task_token, group)

    def _link(self, key: Mapping[str, Any], batch_id: str, endpoint_id: str,
              task_token: str | None, group: str | None = None) -> dict[str, Any]:
        """Link the pointer; without a token (the batch's first send, before any task waits: see
        :func:`journey_activity.handlers.send.send_group`) a receipt finds the endpoint and makes
        its record final, and the task that waits for it later resumes itself from the record.
        With ``group`` (group wait mode) the endpoint's group waits, not a task of its own: the
        receipt counts the endpoint off the group (:mod:`journey_activity.groups`)."""
        sets = {"batch_id": batch_id, "endpoint_id": endpoint_id, "updated_at": now_iso()}
        if task_token:
            sets["task_token"] = task_token
        if group:
            sets["group"] = group
        # The sender's half of the race (see the module's notes): unconditional and atomic, so a
        # retried sender links again with its own token (the last link's token is the one a
        # receipt resumes). The pointer it returns carries the receipts parked before it.
        return self._update(key, sets, if_not_exists={"expires_at": self._expires_at()})
