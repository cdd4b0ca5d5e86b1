"""Group waits (group wait mode): one waiting task for a group of a batch's endpoints.

In group mode the state machine waits once per group (the batch's endpoints of one channel family,
in chunks), not once per endpoint. Two items keep a group:

- the group item (``pk = "group#<batch id>"``, ``sk = <group id>``): the waiting task's token, the
  group's size and label. Written by each attempt of the group's task (a retried task has a new
  token); read by whoever finds the group complete, to resume it.
- the group's counter on the batch's progress item (:mod:`.progress`): ``remaining_<group id>``,
  set to the group's size by its first attempt and lowered by one by every writer of an endpoint's
  final status (:meth:`journey_activity.ledger.records.Records.finish`, in the same write that
  advances the batch's progress: no write more per endpoint). The writer that sees it reach zero
  checks the group's records and resumes the task.

A function applying a queue's batch of receipts makes each group's count once for the batch
(``count`` of them in one write: :func:`journey_activity.groups.flush_counts`).

The counter decides who looks, never what is true: a count lowered twice (a write retried after a
lost answer) reaches zero early, and the check of the records finds an endpoint still open, or
fewer final records than the group's size (an endpoint its sender has not begun has none), so
nothing is resumed until the last one is final; a count never lowered (a function stopped after
the records became final and before their count) is caught by the receipts' redelivery
(:func:`journey_activity.groups.settle`), which checks the group and, while it is still open,
lowers the counter to the endpoints still open (:meth:`Groups.lower_group_count`), so the last
receipt brings it to zero; and by the sender's own check at the end of each attempt, or the
group's timeout.

Token then counter, counter then token: the sender writes the token and then reads the counter; a
final writer lowers the counter and then reads the token. One of the two reads sees the other's
write, so a group whose last endpoint became final between two attempts is still resumed.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from journey_activity.ledger.keys import group_key, progress_key
from journey_activity.ledger.table import Table, _conditional_failed, _from_item, _to_item
from journey_activity.models.batch import FINAL_STATUSES

GROUP_ID = re.compile(r"^g[0-9]{1,5}$")


def _check(group: str) -> str:
    # The id names attributes of the progress item: only ids Validate makes.
    if not GROUP_ID.match(group):
        raise ValueError(f"not a group id: {group!r}")
    return group


def remaining_field(group: str) -> str:
    return f"remaining_{_check(group)}"


def heartbeat_field(group: str) -> str:
    return f"heartbeat_{_check(group)}"


def count_off(table: Table, batch_id: str, group: str, count: int = 1) -> tuple[int, int]:
    """``count`` of the group's endpoints became final: advance the batch's progress and lower
    the group's counter, in one write. Returns the counter after it, and the group's last
    heartbeat (ms, 0 for none). Raises when the write fails: unlike the batch's progress
    alone, a lost count would leave the group waiting for its timeout (the caller's retry
    counts again; see the module's notes). A function of the table, for
    :meth:`journey_activity.ledger.records.Records.finish`, whose ledger (the invoker's) may hold
    no group's other items."""
    item = table._update(_to_item(progress_key(batch_id)), {},
                         add={"version": count, remaining_field(group): -count},
                         if_not_exists={"expires_at": table._expires_at()})
    return int(item.get(remaining_field(group), 0)), int(item.get(heartbeat_field(group), 0))


class Groups(Table):
    def open_group(self, batch_id: str, group: str, *, size: int, task_token: str | None, label: str = "") -> int:
        """An attempt of the group's task begins: its token on the group item, then the counter
        (the group's size, on the first attempt only). Returns the endpoints not final yet, as the
        counter has them."""
        sets: dict[str, Any] = {"size": size, "label": label[:200]}
        if task_token:
            sets["task_token"] = task_token
        self._update(_to_item(group_key(batch_id, group)), sets,
                     if_not_exists={"expires_at": self._expires_at()})
        progress = self._update(_to_item(progress_key(batch_id)), {},
                                if_not_exists={remaining_field(group): size, "expires_at": self._expires_at()})
        return int(progress.get(remaining_field(group), size))

    def group_item(self, batch_id: str, group: str) -> dict[str, Any]:
        """The group item (its latest attempt's ``task_token``, its ``size``, its label); empty
        before the group's first attempt."""
        response = self.dynamodb.get_item(TableName=self.table_name, Key=_to_item(group_key(batch_id, group)),
                                          ConsistentRead=True)
        return _from_item(response.get("Item")) or {}

    def group_token(self, batch_id: str, group: str) -> str | None:
        return self.group_item(batch_id, group).get("task_token") or None

    def group_remaining(self, batch_id: str, group: str) -> int | None:
        """The group's counter (None before its first attempt)."""
        response = self.dynamodb.get_item(TableName=self.table_name, Key=_to_item(progress_key(batch_id)),
                                          ConsistentRead=True)
        item = _from_item(response.get("Item")) or {}
        value = item.get(remaining_field(group))
        return None if value is None else int(value)

    def open_in_group(self, batch_id: str, group: str) -> list[dict[str, Any]]:
        """The group's endpoint records that are not final (strongly consistent; reads the batch's
        partition: once per group, when its counter says it is complete)."""
        finals = sorted(status.value for status in FINAL_STATUSES)
        names = ", ".join(f":f{index}" for index in range(len(finals)))
        return self._group_query(batch_id, group, f" AND NOT (#st IN ({names}))", {"#st": "status"},
                                 {f":f{index}": status for index, status in enumerate(finals)})

    def group_statuses(self, batch_id: str, group: str) -> list[str]:
        """The status of each of the group's endpoint records (strongly consistent; the same read
        units as :meth:`open_in_group`: a filter does not lower what a Query reads). An endpoint
        its sender has not begun yet has no record, so the group is complete only when as many
        records as the group's size are final."""
        records = self._group_query(batch_id, group, "", {"#st": "status"}, {}, projection="#st")
        return [str(record.get("status", "")) for record in records]

    def group_records(self, batch_id: str, group: str) -> list[dict[str, Any]]:
        """Every record of the group (the group's failure)."""
        return self._group_query(batch_id, group, "", {}, {})

    def _group_query(self, batch_id: str, group: str, condition: str, names: dict[str, str],
                     values: dict[str, Any], *, projection: str | None = None) -> list[dict[str, Any]]:
        return self._query_all({
            "KeyConditionExpression": "pk = :pk",
            "FilterExpression": "#g = :g" + condition,
            **({"ProjectionExpression": projection} if projection else {}),
            "ExpressionAttributeNames": {"#g": "group", **names},
            "ExpressionAttributeValues": _to_item({":pk": batch_id, ":g": group, **values}),
            "ConsistentRead": True,
        })

    def count_off(self, batch_id: str, group: str, count: int = 1) -> tuple[int, int]:
        """See :func:`count_off`."""
        return count_off(self, batch_id, group, count)

    def lower_group_count(self, batch_id: str, group: str, to: int) -> bool:
        """Lower the group's counter to ``to`` (the endpoints its records show not final) when it is
        higher: a count never made (a writer stopped between the final status and its count) would
        otherwise keep the counter above zero after the last endpoint, and nobody would check the
        group until its timeout. Only ever lowers, so it cannot hide an open endpoint: a counter
        lowered too far reaches zero early, and the check of the records decides (see above).
        False when the counter was not higher (or does not exist yet)."""
        field = remaining_field(group)
        try:
            self._update(_to_item(progress_key(batch_id)), {field: to},
                         condition=f"{field} > :to", condition_values={":to": to})
        except ClientError as error:
            if _conditional_failed(error):
                return False
            raise
        return True

    def claim_group_heartbeat(self, batch_id: str, group: str, now: float, interval: float) -> bool:
        """Whether this caller sends the group's heartbeat for this interval (see
        :meth:`journey_activity.ledger.heartbeats.Heartbeats.claim_heartbeat`, the same for an endpoint)."""
        return self._claim_interval(_to_item(progress_key(batch_id)), heartbeat_field(group), now, interval)
