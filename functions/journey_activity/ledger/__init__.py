"""The ledger: one DynamoDB table, the workflow's memory and idempotency record.

Each item kind has its module and class, over the shared :class:`.table.Table`:

- :mod:`.records`: the endpoint record (``pk = batch id``, ``sk = endpoint id``), its reads
  and its final status (once); :mod:`.sends`: the send's race protocol on it (lease, ``SENT``);
- :mod:`.pointers`: the message and key pointers a receipt finds its endpoint by, and the
  receipt-before-link race;
- :mod:`.recipients`: the endpoints' addresses and profiles, in compressed parts;
- :mod:`.templates`: a large message template, by reference;
- :mod:`.progress`: the batch's progress version, the waiting invoker's cheap poll;
- :mod:`.claims`: the trigger's idempotency keys and the execution that sends each;
- :mod:`.heartbeats`: which of many progress receipts sends the task's heartbeat.

:mod:`.keys` owns every key format and tables every item kind (its ``pk``/``sk``, attributes and
TTL). :class:`~.book.Ledger` is all the kinds over one table, what the handlers use;
:class:`~.invoker.InvokerLedger` the kinds the invoker uses.

Each name below is loaded from its module on first use, so importing one module of the package
(the invoker's) loads none of the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from journey_activity.ledger.book import Ledger
    from journey_activity.ledger.claims import Claims
    from journey_activity.ledger.groups import Groups
    from journey_activity.ledger.heartbeats import Heartbeats
    from journey_activity.ledger.invoker import InvokerLedger
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
    from journey_activity.ledger.sends import Sends
    from journey_activity.ledger.table import now_iso
    from journey_activity.ledger.templates import MAX_TEMPLATE_BYTES, Templates

# Each module of the package, with the names it exports here.
_MODULES = {
    "book": ("Ledger",),
    "invoker": ("InvokerLedger",),
    "claims": ("Claims",),
    "groups": ("Groups",),
    "heartbeats": ("Heartbeats",),
    "keys": ("CLAIM_SK", "MAX_PARTITION_KEY_BYTES", "MAX_SORT_KEY_BYTES", "POINTER_SK", "PROGRESS_SK",
             "READABLE_POINTER_KEY_BYTES", "TEMPLATE_SK", "claim_key", "key_pointer_key", "key_problem", "part_key",
             "pointer_key", "progress_key", "recipient_key", "record_key", "template_key"),
    "recipients": ("MAX_RECIPIENT_BYTES", "PART_BYTES", "Recipients", "StoredRecipient", "pack_recipient",
                   "plan_parts", "recipient_problem", "unpack_recipient"),
    "records": ("Records", "is_final", "result_from_record"),
    "sends": ("Sends",),
    "table": ("now_iso",),
    "templates": ("MAX_TEMPLATE_BYTES", "Templates"),
}
_SOURCES = {name: module for module, names in _MODULES.items() for name in names}

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
    "Claims",
    "Groups",
    "Heartbeats",
    "InvokerLedger",
    "Ledger",
    "Recipients",
    "Records",
    "Sends",
    "StoredRecipient",
    "Templates",
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


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
