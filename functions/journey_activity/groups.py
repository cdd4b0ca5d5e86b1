"""Group wait mode: resuming a group's one waiting task when its last endpoint is final.

Every writer of an endpoint's final status lowers its group's counter in the same write as the
batch's progress (:meth:`journey_activity.ledger.records.Records.finish`; a function applying a
batch of receipts makes one such write per group for the whole batch: :func:`flush_counts`); the
one that sees it at zero or below checks the group's records and, when all are final, resumes the
group's task with
``SendTaskSuccess`` (the group's summary as output: the ledger keeps each endpoint's outcome).
A resume the task refuses (it was resumed already, or timed out) is a duplicate, as for an
endpoint's task. The counter's guarantees and its races are in :mod:`journey_activity.ledger.groups`.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity.aws import GONE_TASK_ERRORS, error_code
from journey_activity.ledger import Ledger
from journey_activity.ledger.records import COUNT_ATTEMPTS, DEFERRED, CountTally, counts_deferred
from journey_activity.models.batch import FINAL_STATUSES

LOG = logging.getLogger(__name__)
FINAL_VALUES = frozenset(status.value for status in FINAL_STATUSES)


def resume_if_complete(book: Ledger, sfn: Any, batch_id: str, group: str, *, token: str | None = None,
                       heal: bool = False) -> bool:
    """Resume the group's task when all its endpoints are final (as many final records as the
    group's size: an endpoint not begun yet has no record); True when this call resumed it.
    ``token``: the caller's own (the sender's, at the end of its attempt); otherwise the group
    item's, the latest attempt's. ``heal``: when the group is not complete, lower its counter to
    the endpoints still open (a caller that cannot know whether its count was made: see
    :meth:`journey_activity.ledger.groups.Groups.lower_group_count`)."""
    statuses = book.group_statuses(batch_id, group)
    final = sum(1 for status in statuses if status in FINAL_VALUES)
    item = book.group_item(batch_id, group)
    size = int(item.get("size", 0))
    if final < len(statuses) or final < size:
        if heal and size:
            book.lower_group_count(batch_id, group, size - final)
        return False
    token = token or item.get("task_token")
    if not token:
        return False
    output = json.dumps({"group": group, "complete": True})
    try:
        sfn.send_task_success(taskToken=token, output=output)
    except ClientError as error:
        if error_code(error) not in GONE_TASK_ERRORS:
            raise
        # A retried attempt may have written a newer token meanwhile: that one waits.
        fresh = book.group_token(batch_id, group)
        if not fresh or fresh == token:
            return False
        try:
            sfn.send_task_success(taskToken=fresh, output=output)
        except ClientError as again:
            if error_code(again) not in GONE_TASK_ERRORS:
                raise
            return False
    return True


def settle(book: Ledger, sfn: Any, record: Mapping[str, Any], *, counted: bool,
           clock: Callable[[], float] = time.time, interval: float | None = None) -> None:
    """After an endpoint of a group became final. ``counted``: this caller's write made it final
    (``record`` then carries the counter, ``group_remaining``, unless its count was deferred to
    the end of the caller's batch of receipts: :func:`flush_counts` settles it then); otherwise
    the same receipt came again (its first delivery may have stopped after the write, before its
    count), and the group is checked whatever the counter says, and its counter healed. While
    endpoints stay open, the counted-off endpoint keeps the group alive: one heartbeat a
    heartbeat interval, as a progress receipt sends for an endpoint."""
    if counted and record.get(DEFERRED):
        return
    batch_id, group = str(record.get("batch_id") or record.get("pk")), str(record["group"])
    if not counted:
        resume_if_complete(book, sfn, batch_id, group, heal=True)
        return
    counter_says(book, sfn, batch_id, group, int(record.get("group_remaining", 0)),
                 int(record.get("group_heartbeat_at", 0)), clock=clock, interval=interval)


def counter_says(book: Ledger, sfn: Any, batch_id: str, group: str, remaining: int, heartbeat_at: int, *,
                 clock: Callable[[], float] = time.time, interval: float | None = None) -> None:
    """After a count off the group (``remaining``: the counter after it; ``heartbeat_at``: the
    group's last heartbeat, ms): at zero or below, the group is checked; above, a heartbeat is
    sent when one is due."""
    if remaining <= 0:
        resume_if_complete(book, sfn, batch_id, group)
        return
    every = _interval() if interval is None else interval
    if clock() - heartbeat_at / 1000 >= every:
        heartbeat(book, sfn, batch_id, group, clock=clock, interval=every)


def flush_counts(book: Ledger, sfn: Any, tally: CountTally) -> set[str]:
    """Make the counts a batch of receipts deferred (:func:`journey_activity.ledger.records.counts_deferred`):
    one write per batch of the ledger (its progress) and one per group (its counter, with the
    progress), then settle each group as :func:`settle` would have. Returns the ids of the
    messages whose counts or group could not be written or settled: they are left on the queue,
    and their redelivery finds their records final and checks (and heals) their groups."""
    failed: set[str] = set()
    for (batch_id, group), count in tally.take().items():
        messages = tally.owners.pop((batch_id, group), set())
        if group is None:
            book._advance(batch_id, count)  # a hint: logged, never raised (see .ledger.progress)
            continue
        try:
            remaining, heartbeat_at = aws.retry_throttled(functools.partial(book.count_off, batch_id, group, count),
                                                          attempts=COUNT_ATTEMPTS, first_pause=0.05)
            counter_says(book, sfn, batch_id, group, remaining, heartbeat_at)
        except Exception as error:  # the messages' redelivery checks the group
            LOG.warning("A group's count or check failed; its receipts are delivered again",
                        extra={"group": group, "count": count, "error_type": type(error).__name__,
                               "error": str(error)[:300]})
            failed |= messages
    return failed


def _interval() -> float:
    from journey_activity.receipts import heartbeat_interval

    return heartbeat_interval()


def heartbeat(book: Ledger, sfn: Any, batch_id: str, group: str, *, clock: Callable[[], float] = time.time,
              interval: float | None = None) -> bool:
    """At most one SendTaskHeartbeat per group per interval (the caller whose conditional write
    claims it); a throttled or refused heartbeat is dropped (the next one, or the outcome, follows)."""
    every = _interval() if interval is None else interval
    if not book.claim_group_heartbeat(batch_id, group, clock(), every):
        return False
    token = book.group_token(batch_id, group)
    if not token:
        return False
    try:
        sfn.send_task_heartbeat(taskToken=token)
    except ClientError as error:
        if aws.is_throttling(error) or error_code(error) in GONE_TASK_ERRORS:
            LOG.info("Group heartbeat not sent", extra={"group": group, "error": error_code(error)})
            return False
        raise
    return True


# A batch of receipts writes its counts before its function's last seconds, whatever is left of
# the batch: a function stopped by its timeout between the records and their counts would leave
# the counts to the receipts' redelivery.
FLUSH_BEFORE_END_MS = 8_000


def flush_if_ending(book: Ledger, sfn: Any, tally: CountTally, context: Any) -> set[str]:
    """:func:`flush_counts` when the invocation has less than :data:`FLUSH_BEFORE_END_MS` left."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None or not tally.counts or remaining() >= FLUSH_BEFORE_END_MS:
        return set()
    return flush_counts(book, sfn, tally)


class CountedBatch:
    """A queue's batch of receipts, applied with their counts made once per batch and group
    (:func:`journey_activity.ledger.records.counts_deferred`, :func:`flush_counts`): iterate over
    :meth:`messages`, then :meth:`left` adds the messages whose counts were not made to the
    batch's failures (their redelivery checks and heals their groups)."""

    def __init__(self, book: Ledger, sfn: Any, context: Any) -> None:
        self.book, self.sfn, self.context = book, sfn, context
        self.uncounted: set[str] = set()

    def messages(self, event: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each message with its id; the counts are written before the function's last seconds
        (:func:`flush_if_ending`) and after the last message."""
        with counts_deferred() as tally:
            for message in event.get("Records", []):
                message_id = str(message.get("messageId", ""))
                tally.current = message_id
                yield message_id, message
                self.uncounted |= flush_if_ending(self.book, self.sfn, tally, self.context)
            self.uncounted |= flush_counts(self.book, self.sfn, tally)

    def left(self, failures: list[dict[str, str]]) -> list[dict[str, str]]:
        """``failures`` (``batchItemFailures``) and the messages whose counts were not made."""
        return failures + [{"itemIdentifier": message_id} for message_id in sorted(self.uncounted)
                           if {"itemIdentifier": message_id} not in failures]

