"""The sender's writes of an endpoint record (:mod:`.records`) before its final status, each by a
conditional update (the race protocol; each condition is explained where it is written):

- :meth:`Sends.begin_send`: the send's lease; one invocation at a time sends an endpoint.
- :meth:`Sends.mark_sent` / :meth:`Sends.mark_outcome_unknown`: ``SENT`` only from ``SENDING``
  (a receipt or the finalizer may have made the record final first), then the pointer's link
  (:mod:`.pointers`).
- :meth:`Sends.release_send`: the lease given back when the provider does not have the message.

Apart from :mod:`.records` so the invoker, which never sends, imports none of it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from journey_activity.ledger.keys import record_key
from journey_activity.ledger.pointers import Pointers
from journey_activity.ledger.records import Records
from journey_activity.ledger.table import _conditional_failed, _item_as_it_is, _to_item, now_iso
from journey_activity.models.batch import LedgerStatus


class Sends(Records, Pointers):
    """The send's lease, ``SENT`` and the pointer's link, on the endpoint records."""

    def begin_send(
        self,
        batch_id: str,
        endpoint_id: str,
        *,
        channel: str,
        provider: str,
        about: Mapping[str, Any] | None = None,
        lease_seconds: float | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        """Mark the endpoint SENDING before the provider is called (one write).

        With ``lease_seconds``, the send is this invocation's until then (``send_lease_until``, ms
        since the epoch): another invocation finds it SENDING and leased, and does not send (the
        same endpoint's send at once and its own task, or a retry Step Functions started while the
        first invocation still ran). The sender gives the lease back when its send failed before
        the provider had the message (:meth:`release_send`); one that died keeps it until it
        expires, when its invocation has surely ended (the lease is its remaining time).

        Returns ``(send, record)``: ``send`` is false when this endpoint was already sent
        (a retried task after the provider accepted: the record is SENT) or already has a final
        status. The task token is not kept here but on the message pointer (:meth:`mark_sent`),
        the one item that needs it: the record's later writes stay small however long AWS's
        tokens are (up to 1,024 characters), and the pointer is read by the receipt anyway.
        """
        now = now_iso()
        key = _to_item(record_key(batch_id, endpoint_id))
        sets: dict[str, Any] = {"updated_at": now, "channel": channel, "provider": provider}
        # What a late receipt needs to be reported on its own (application, journey, activity).
        sets.update({key: value for key, value in (about or {}).items() if value})
        now_ms = int(time.time() * 1000)
        if lease_seconds is not None:
            sets["send_lease_until"] = now_ms + int(lease_seconds * 1000)
        try:
            record = self._update(
                key,
                {**sets, "status": LedgerStatus.SENDING.value},
                if_not_exists={
                    "batch_id": batch_id,
                    "endpoint_id": endpoint_id,
                    "created_at": now,
                    "expires_at": self._expires_at(),
                },
                add={"attempts": 1},
                # The send's lease: a new record, or one still SENDING whose lease is absent (given
                # back, or from before leases) or expired. Of two invocations that begin at once,
                # DynamoDB applies one update first; the other finds the lease held (or the record
                # SENT or final) and does not send.
                condition="attribute_not_exists(#pk) OR (#status = :sending AND "
                          "(attribute_not_exists(send_lease_until) OR send_lease_until < :now_ms))",
                condition_values={":sending": LedgerStatus.SENDING.value, ":now_ms": now_ms},
            )
            return True, record
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            # Already SENT (the provider has the message) or final: as it is.
            return False, _item_as_it_is(error)

    def release_send(self, batch_id: str, endpoint_id: str) -> None:
        """Give back a send's lease (see :meth:`begin_send`): the provider does not have the message,
        and the next attempt may send at once. A record no longer SENDING is left as it is."""
        try:
            # Only while SENDING: a record a receipt or the finalizer made final meanwhile keeps its status.
            self._update(_to_item(record_key(batch_id, endpoint_id)), {"send_lease_until": 0},
                         condition="#status = :sending", condition_values={":sending": LedgerStatus.SENDING.value})
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def mark_sent(self, batch_id: str, endpoint_id: str, *, provider: str, message_id: str,
                  task_token: str | None, group: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The provider accepted: store its message id, then link the message pointer (with the
        waiting task's token).

        Returns ``(record, pointer)``: the record after the write (or as it is, when a receipt or
        the finalizer made it final first), and the pointer, whose ``receipts`` arrived early.
        """
        now = now_iso()
        try:
            record = self._update(
                _to_item(record_key(batch_id, endpoint_id)),
                {"status": LedgerStatus.SENT.value, "provider_message_id": message_id, "sent_at": now,
                 "updated_at": now},
                # SENT only from SENDING: a final status written meanwhile (a receipt via the key
                # pointer, the finalizer) wins; the sender keeps the record as it is and still links.
                condition="#status = :sending",
                condition_values={":sending": LedgerStatus.SENDING.value},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            record = _item_as_it_is(error)
        pointer = self.link_pointer(batch_id, endpoint_id, provider=provider, message_id=message_id,
                                    task_token=task_token, group=group)
        return record, pointer

    def mark_outcome_unknown(self, batch_id: str, endpoint_id: str, *, provider: str, idempotency_key: str,
                             error: str, task_token: str | None, group: str | None = None) -> dict[str, Any]:
        """The provider may have the message, but its answer was lost: SENT without a message id
        (so a retried task never sends again), flagged so that a receipt wait that ends without
        a receipt is ``send_outcome_unknown``; the idempotency key's pointer is linked so that
        a receipt carrying the key finds the endpoint.

        Returns the key's pointer; its ``receipts`` are receipts that arrived before it was linked.
        """
        now = now_iso()
        try:
            self._update(
                _to_item(record_key(batch_id, endpoint_id)),
                {"status": LedgerStatus.SENT.value, "outcome_unknown": True, "last_error": error[:1000],
                 "sent_at": now, "updated_at": now},
                # As in mark_sent: a status that is already final stays; the key pointer is linked anyway.
                condition="#status = :sending",
                condition_values={":sending": LedgerStatus.SENDING.value},
            )
        except ClientError as failure:
            if not _conditional_failed(failure):
                raise
        return self.link_key_pointer(batch_id, endpoint_id, provider=provider, idempotency_key=idempotency_key,
                                     task_token=task_token, group=group)
