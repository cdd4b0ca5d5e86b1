"""Group wait mode: resuming a group's one waiting task when its last endpoint is final.

Every writer of an endpoint's final status lowers its group's counter in the same write
(:meth:`journey_activity.ledger.records.Records.finish`); the one that sees it at zero or below
checks the group's records and, when none is open, resumes the group's task with
``SendTaskSuccess`` (the group's summary as output: the ledger keeps each endpoint's outcome).
A resume the task refuses (it was resumed already, or timed out) is a duplicate, as for an
endpoint's task. The counter's guarantees and its races are in :mod:`journey_activity.ledger.groups`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from journey_activity import aws
from journey_activity.aws import GONE_TASK_ERRORS, error_code
from journey_activity.ledger import Ledger

LOG = logging.getLogger(__name__)
def resume_if_complete(book: Ledger, sfn: Any, batch_id: str, group: str, *, token: str | None = None) -> bool:
    """Resume the group's task when none of its endpoints is open; True when this call resumed
    it. ``token``: the caller's own (the sender's, at the end of its attempt); otherwise the
    group item's, the latest attempt's."""
    still_open = book.open_in_group(batch_id, group)
    if still_open:
        return False
    token = token or book.group_token(batch_id, group)
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
    (``record`` then carries the counter, ``group_remaining``); otherwise the same receipt came
    again (its first delivery may have stopped after the write), and the group is checked
    whatever the counter says. While endpoints stay open, the counted-off endpoint keeps the
    group alive: one heartbeat a heartbeat interval, as a progress receipt sends for an endpoint."""
    batch_id, group = str(record.get("batch_id") or record.get("pk")), str(record["group"])
    if not counted or int(record.get("group_remaining", 0)) <= 0:
        resume_if_complete(book, sfn, batch_id, group)
        return
    every = _interval() if interval is None else interval
    last = int(record.get("group_heartbeat_at", 0)) / 1000
    if clock() - last >= every:
        heartbeat(book, sfn, batch_id, group, clock=clock, interval=every)


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
