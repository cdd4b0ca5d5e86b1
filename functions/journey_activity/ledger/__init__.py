"""The ledger: one DynamoDB table, the workflow's memory and idempotency record.

Each item kind has its module and class, over the shared :class:`.table.Table`:

- :mod:`.records`: the endpoint record (``pk = batch id``, ``sk = endpoint id``), its statuses
  and the send's race protocol (lease, ``SENT``, final once);
- :mod:`.pointers`: the message and key pointers a receipt finds its endpoint by, and the
  receipt-before-link race;
- :mod:`.recipients`: the endpoints' addresses and profiles, in compressed parts;
- :mod:`.templates`: a large message template, by reference;
- :mod:`.progress`: the batch's progress version, the waiting invoker's cheap poll;
- :mod:`.claims`: the trigger's idempotency keys and the execution that sends each;
- :mod:`.heartbeats`: which of many progress receipts sends the task's heartbeat.

:mod:`.keys` owns every key format and tables every item kind (its ``pk``/``sk``, attributes and
TTL). :class:`Ledger` is all the kinds over one table, what the handlers use.
"""

from __future__ import annotations

from journey_activity.ledger.claims import Claims
from journey_activity.ledger.heartbeats import Heartbeats
from journey_activity.ledger.keys import (
    CLAIM_SK,
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    POINTER_SK,
    PROGRESS_SK,
    READABLE_POINTER_KEY_BYTES,
    TEMPLATE_SK,
    claim_key,
    key_pointer_key,
    key_problem,
    part_key,
    pointer_key,
    progress_key,
    recipient_key,
    record_key,
    template_key,
)
from journey_activity.ledger.recipients import (
    MAX_RECIPIENT_BYTES,
    PART_BYTES,
    Recipients,
    StoredRecipient,
    pack_recipient,
    plan_parts,
    recipient_problem,
    unpack_recipient,
)
from journey_activity.ledger.records import Records, is_final, result_from_record
from journey_activity.ledger.table import now_iso
from journey_activity.ledger.templates import MAX_TEMPLATE_BYTES, Templates


class Ledger(Records, Recipients, Templates, Claims, Heartbeats):
    """Every item kind of the ledger over one table: ``Ledger(table_name, ttl_days, dynamodb)``."""


__all__ = [
    "CLAIM_SK",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_RECIPIENT_BYTES",
    "MAX_SORT_KEY_BYTES",
    "MAX_TEMPLATE_BYTES",
    "PART_BYTES",
    "POINTER_SK",
    "PROGRESS_SK",
    "READABLE_POINTER_KEY_BYTES",
    "TEMPLATE_SK",
    "Ledger",
    "StoredRecipient",
    "claim_key",
    "is_final",
    "key_pointer_key",
    "key_problem",
    "now_iso",
    "pack_recipient",
    "part_key",
    "plan_parts",
    "pointer_key",
    "progress_key",
    "recipient_key",
    "recipient_problem",
    "record_key",
    "result_from_record",
    "template_key",
    "unpack_recipient",
]
