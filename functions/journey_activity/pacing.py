"""Provider send pacing: every sender of one provider shares one slot item in the ledger table.

A provider's send rate (``send_rate`` in its configuration: messages a second, or ``"account"``
for SES, the account's own maximum send rate) is a contract for the whole account, not for one
function: SES and End User Messaging throttle every caller together, so a burst of a hundred
batches must be paced by something they all share. That is one small item per provider,
``pk = "pace#<provider>"``, ``sk = "#pace"`` (key format in :mod:`journey_activity.ledger.keys`),
holding ``next_at``: the time (milliseconds since the epoch) of the provider's next free send
slot, a generic cell rate algorithm (GCRA) with one slot every ``1 / rate`` seconds and no burst
beyond one slot.

Taking a slot is one conditional write, never a read:

1. ``SET next_at = next_at + interval IF next_at BETWEEN now AND latest``: the usual case under
   load; DynamoDB serializes the writes of one item, so concurrent senders each get a slot of
   their own (the new value less the interval is theirs).
2. When that condition fails, the item as it is (``ReturnValuesOnConditionCheckFailure``) says
   why: the next free slot is after ``latest`` (no slot: the caller leaves the send for later, or
   raises ``ProviderThrottled`` so the state machine retries it), or it is in the past or the item
   is new (the provider is idle): ``SET next_at = now + interval IF next_at < now`` (or absent),
   whose slot is ``now``. Losing that race to another sender goes back to 1.

The caller sleeps until its slot, then sends. A slot that is not used (the sender failed between
taking it and sending) is lost capacity, never a send over the rate.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from journey_activity import aws
from journey_activity.ledger.keys import pace_key

# Losing the idle-provider race (2.) more often than this in one call is contention no sender
# should see; the slot is then refused like a full schedule (the send is retried later).
_MAX_ROUNDS = 8
# SES's maximum send rate when the account's own cannot be read: the sandbox's rate, the safe side.
FALLBACK_SES_RATE = 1.0
LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Slot:
    """A send slot: when the send may start (seconds since the epoch)."""

    at: float

    def wait(self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        pause = self.at - clock()
        if pause > 0:
            sleep(pause)


class Pacer:
    """Takes send slots from the providers' slot items in ``table_name``."""

    def __init__(self, table_name: str, dynamodb: Any | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb
        self.clock = clock

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def take(self, provider: str, rate: float, *, within: float) -> Slot | None:
        """A slot of ``provider`` at ``rate`` sends a second, no later than ``within`` seconds from
        now; ``None`` when the schedule is full that far ahead (nothing is reserved then)."""
        if rate <= 0:
            raise ValueError("a send rate must be positive")
        interval = max(1, round(1000 / rate))
        for _ in range(_MAX_ROUNDS):
            now = int(self.clock() * 1000)
            latest = now + max(0, int(within * 1000))
            try:
                response = self.dynamodb.update_item(
                    TableName=self.table_name,
                    Key=pace_key(provider),
                    UpdateExpression="SET next_at = next_at + :interval",
                    ConditionExpression="next_at BETWEEN :now AND :latest",
                    ExpressionAttributeValues={":interval": {"N": str(interval)}, ":now": {"N": str(now)},
                                               ":latest": {"N": str(latest)}},
                    ReturnValues="UPDATED_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return Slot((int(response["Attributes"]["next_at"]["N"]) - interval) / 1000)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                current = error.response.get("Item", {}).get("next_at")
                if current is not None and int(current["N"]) > latest:
                    return None
            # The provider is idle (its next slot is past) or new: this slot is now.
            try:
                self.dynamodb.update_item(
                    TableName=self.table_name,
                    Key=pace_key(provider),
                    UpdateExpression="SET next_at = :next",
                    ConditionExpression="attribute_not_exists(next_at) OR next_at < :now",
                    ExpressionAttributeValues={":next": {"N": str(now + interval)}, ":now": {"N": str(now)}},
                )
                return Slot(now / 1000)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        LOG.warning("No send slot after %d rounds of contention for %s", _MAX_ROUNDS, provider)
        return None


_account_rates: dict[str | None, float] = {}
_rates_lock = threading.Lock()


def ses_account_rate(region: str | None, client: Callable[[], Any]) -> float:
    """The SES account's maximum send rate (``GetSendQuota``'s ``MaxSendRate``, asked of the SES (v1)
    client ``client()`` makes for ``region``), read once per container and Region. When it cannot
    be read (no permission, an outage), the sandbox's 1 a second: sending slower than allowed
    loses nothing, sending faster is throttled."""
    with _rates_lock:
        if region in _account_rates:
            return _account_rates[region]
    try:
        rate = float(client().get_send_quota()["MaxSendRate"])
        if rate <= 0:
            raise ValueError(f"MaxSendRate {rate}")
    except (ClientError, BotoCoreError, KeyError, ValueError) as error:
        LOG.warning("The SES account's send rate could not be read (%s); pacing at %s a second",
                    error, FALLBACK_SES_RATE)
        rate = FALLBACK_SES_RATE
    with _rates_lock:
        _account_rates[region] = rate
    return rate


def forget_account_rates() -> None:
    """Forget the rates read (tests, and the local runtime between runs)."""
    with _rates_lock:
        _account_rates.clear()
