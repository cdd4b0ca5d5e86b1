"""Endpoint records: ``pk = <batch id>``, ``sk = <endpoint id>``; the workflow's memory and
idempotency record of one endpoint.

A record holds the status, channel, provider, the provider's message id, attempts, timestamps,
the error and the receipt's status. No task token: it would make each of the record's writes cost
up to twice the units on AWS (tokens are up to 1,024 characters), and only a receipt needs it (it
is on the message pointer, :mod:`.pointers`).

The statuses move ``SENDING`` → ``SENT`` → final, each by a conditional update (the race
protocol; each condition is explained where it is written). Here: the reads every function makes
and the final status, :meth:`Records.finish`, written once (the first writer's status is the
answer); the sender's writes before it (the send's lease, ``SENT``, the pointer's link) are in
:mod:`.sends`, which the invoker does not import.

Writes per endpoint on the usual path: the recipient (invoker), SENDING, SENT, the pointer's link
(sender), the final status and the batch progress (receipt, :mod:`.progress`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity.ledger.keys import record_key
from journey_activity.ledger.progress import Progress
from journey_activity.ledger.table import _conditional_failed, _from_item, _item_as_it_is, _to_item, now_iso
from journey_activity.models.batch import FINAL_STATUSES, EndpointResult, LedgerStatus

_OPEN = [LedgerStatus.SENDING.value, LedgerStatus.SENT.value]
# Tries of a group's count after a final status (see finish).
COUNT_ATTEMPTS = 4
# On a record :meth:`Records.finish` returns: its group's count waits in the caller's tally.
DEFERRED = "group_count_deferred"


@dataclass
class CountTally:
    """The counts a batch of receipts owes the ledger while :func:`counts_deferred` is on: per
    (batch id, group id or None), how many records became final, and which messages (``current``
    when each count was added) they came from."""

    counts: Counter[tuple[str, str | None]] = dataclasses.field(default_factory=Counter)
    owners: dict[tuple[str, str | None], set[str]] = dataclasses.field(default_factory=dict)
    current: str = ""

    def add(self, batch_id: str, group: str | None) -> None:
        self.counts[(batch_id, group)] += 1
        self.owners.setdefault((batch_id, group), set()).add(self.current)

    def take(self) -> Counter[tuple[str, str | None]]:
        counts, self.counts = self.counts, Counter()
        return counts


_TALLY: ContextVar[CountTally | None] = ContextVar("journey_activity_count_tally", default=None)


@contextlib.contextmanager
def counts_deferred() -> Iterator[CountTally]:
    """Within the block (one thread: a function applying a queue's batch of receipts), a final
    status's count (the batch's progress, the group's counter) is added to the tally instead of
    written: the caller writes them once per batch and group
    (:func:`journey_activity.groups.flush_counts`). A receipt's write of its record's final status
    then costs one write, not two (with ten receipts a batch, 1.1 writes each)."""
    tally = CountTally()
    reset = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(reset)


def result_from_record(record: Mapping[str, Any]) -> EndpointResult:
    return EndpointResult.model_validate(record)


def is_final(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") in FINAL_STATUSES


class Records(Progress):
    """The endpoint records; a final status advances the batch's progress (and a group's count)."""

    # -- reads -------------------------------------------------------------------------

    def get(self, batch_id: str, endpoint_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=_to_item(record_key(batch_id, endpoint_id)), ConsistentRead=True
        )
        return _from_item(response.get("Item"))

    def batch_records(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Every endpoint record of a batch, by endpoint id (strongly consistent)."""
        return self._query_batch(batch_id, {})

    def final_results(self, batch_id: str, known: Collection[str] = (), *,
                      sent: bool = False) -> dict[str, dict[str, Any]]:
        """The batch's final records, by endpoint id, except those in ``known``; only the
        fields of an :class:`EndpointResult`. For polling: a final status never changes, so a
        poller keeps what it has and asks only for what became final since (DynamoDB still
        reads the partition, but returns and transfers only those). ``sent``: the records the
        provider accepted (``SENT``, not final) as well, for the answer's last read."""
        names = {f"#f{index}": field for index, field in enumerate(("sk", *EndpointResult.model_fields))}
        statuses = sorted(FINAL_STATUSES | ({LedgerStatus.SENT} if sent else set()))
        values: dict[str, Any] = {f":s{index}": status.value for index, status in enumerate(statuses)}
        status_name = next(name for name, field in names.items() if field == "status")
        condition = f"{status_name} IN ({', '.join(values)})"
        # IN takes at most 100 operands; a larger batch filters the rest here.
        skip = sorted(known) if len(known) <= 99 else []
        if skip:
            skipped = {f":k{index}": endpoint_id for index, endpoint_id in enumerate(skip)}
            condition += f" AND NOT (#f0 IN ({', '.join(skipped)}))"
            values.update(skipped)
        records = self._query_batch(batch_id, {
            "FilterExpression": condition,
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        })
        return {endpoint_id: record for endpoint_id, record in records.items() if endpoint_id not in known}

    def _query_batch(self, batch_id: str, extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        items = self._query_all({
            **extra,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": _to_item({**extra.get("ExpressionAttributeValues", {}), ":pk": batch_id}),
            "ConsistentRead": True,
        })
        return {record["sk"]: record for record in items}

    # -- writes ------------------------------------------------------------------------

    def record_skipped(self, batch_id: str, results: Iterable[EndpointResult]) -> None:
        """Skipped endpoints are final from the start; written in batches of 25."""
        now = now_iso()
        requests = [
            {
                "PutRequest": {
                    "Item": _to_item(
                        {
                            **result.model_dump(mode="json", exclude_none=True),
                            **record_key(batch_id, result.endpoint_id),
                            "batch_id": batch_id,
                            "created_at": now,
                            "updated_at": now,
                            "finished_at": now,
                            "expires_at": self._expires_at(),
                        }
                    )
                }
            }
            for result in results
        ]
        self._batch_write(requests, "skipped records")
        if requests:
            self._advance(batch_id, len(requests))

    def finish(
        self,
        batch_id: str,
        endpoint_id: str,
        status: LedgerStatus,
        *,
        reason: str | None = None,
        error: str | None = None,
        receipt_status: str | None = None,
        extra: Mapping[str, Any] | None = None,
        group: str | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        """Give a record its final status unless it already has one.

        Returns ``(applied, record)``; ``applied`` is false when another writer got there first.
        The record of a group's endpoint (its ``group``, or ``group`` given for one its sender never
        began) lowers the group's counter with the batch's progress; the record returned then
        carries ``group_remaining`` and ``group_heartbeat_at`` (not stored: see :mod:`.groups`).
        """
        now = now_iso()
        sets: dict[str, Any] = {"status": status.value, "updated_at": now, "finished_at": now}
        if group:
            sets["group"] = group
        for field, value in (("reason", reason), ("error", error), ("receipt_status", receipt_status)):
            if value is not None:
                sets[field] = value[:1000]
        sets.update({k: v for k, v in (extra or {}).items() if v is not None})
        try:
            record = self._update(
                _to_item(record_key(batch_id, endpoint_id)),
                sets,
                if_not_exists={"batch_id": batch_id, "endpoint_id": endpoint_id, "created_at": now,
                               "expires_at": self._expires_at()},
                # Final once: only a missing, SENDING or SENT record takes a final status. Of the
                # writers that race (a receipt, the sender's synchronous outcome, the finalizer, the
                # invoker closing a failed execution), the first wins; each loser gets the record as
                # it is and answers with the winner's status. Only the winner advances the progress.
                condition="attribute_not_exists(#pk) OR #status IN (:sending, :sent)",
                condition_values={":sending": _OPEN[0], ":sent": _OPEN[1]},
            )
        except ClientError as failure:
            if not _conditional_failed(failure):
                raise
            return False, _item_as_it_is(failure)
        tally = _TALLY.get()
        if tally is not None:
            tally.add(batch_id, str(record["group"]) if record.get("group") else None)
            return True, ({**record, DEFERRED: True} if record.get("group") else record)
        if record.get("group"):
            # The record is final now: a retry of this whole call would find it so and count
            # nothing, so the count is retried here (past the SDK's own retries) before it raises.
            group = str(record["group"])
            # Group wait mode only (for the invoker, an execution that failed): imported when needed.
            from journey_activity.ledger.groups import count_off

            remaining, heartbeat_at = aws.retry_throttled(lambda: count_off(self, batch_id, group),
                                                          attempts=COUNT_ATTEMPTS, first_pause=0.05)
            return True, {**record, "group_remaining": remaining, "group_heartbeat_at": heartbeat_at}
        self._advance(batch_id)
        return True, record

    def note(self, batch_id: str, endpoint_id: str, **fields: Any) -> dict[str, Any]:
        """Record facts that change no status (a progress or late receipt, a report error);
        returns the record after the write."""
        sets = {k: v for k, v in fields.items() if v is not None}
        sets["updated_at"] = now_iso()
        return self._update(_to_item(record_key(batch_id, endpoint_id)), sets)
