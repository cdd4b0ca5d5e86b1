"""Every key of the ledger table, in one place: no other module builds a ``pk`` or ``sk``.

One DynamoDB table (``pk``, ``sk``, both strings; TTL on ``expires_at``, epoch seconds, the
function's ``LEDGER_TTL_DAYS`` after the write that set it) holds every item kind. Each kind's
partition key has its own prefix, so no two kinds meet (a batch id, the endpoint record's
partition, is the trigger's id, which the invoker names; it never starts with one of them).

| Item (module)                      | ``pk``                          | ``sk``            | TTL (``expires_at``)     |
|------------------------------------|---------------------------------|-------------------|--------------------------|
| endpoint record (:mod:`.records`)  | ``<batch id>``                  | ``<endpoint id>`` | set by the first write   |
| message pointer (:mod:`.pointers`) | ``msg#<provider>#<message id>`` | ``#pointer``      | set by the first write   |
|                                    | (``msgh#<sha-256>`` over 1 KiB) |                   |                          |
| key pointer (:mod:`.pointers`)     | ``idem#<provider>#<key>``       | ``#pointer``      | set by the first write   |
| recipient part (:mod:`.recipients`)| ``parts#<batch id>``            | ``<part:05d>``    | written with the part    |
| recipient (before parts)           | ``rcpt#<batch id>``             | ``<endpoint id>`` | as written (no writer)   |
| large template (:mod:`.templates`) | ``data#<batch id>``             | ``#template``     | written with it          |
| claim (:mod:`.claims`)             | ``claim#<sha-256 of the key>``  | ``#claim``        | renewed by every take    |
| batch progress (:mod:`.progress`)  | ``progress#<batch id>``         | ``#progress``     | set by the first advance |
| group wait (:mod:`.groups`)        | ``group#<batch id>``            | ``<group id>``    | set by the first attempt |
| provider pace (``pacing``)         | ``pace#<provider>``             | ``#pace``         | none (one per provider)  |

Attributes:

- endpoint record: ``batch_id``, ``endpoint_id``, ``status``, ``channel``, ``provider``, the
  trigger's ids, ``attempts`` (ADD), ``send_lease_until`` (ms), ``provider_message_id``,
  ``outcome_unknown``, ``last_error``, ``reason``, ``error``, ``receipt_status``,
  ``heartbeat_at`` (ms, :mod:`.heartbeats`), notes (``resume_error``…), ``created_at``,
  ``updated_at``, ``sent_at``, ``finished_at``. No task token (see :mod:`.pointers`).
- message and key pointer: ``batch_id``, ``endpoint_id``, ``task_token``, ``receipts`` (those
  parked before the link), ``updated_at``.
- recipient part: ``data``, a zlib-compressed JSON map of endpoint id to address and profile;
  recipient (before parts): ``data``, one endpoint's, compressed.
- large template: ``template``.
- claim: ``execution``, ``endpoint_id``, ``claimed_at`` (ms), ``version`` (random, per take).
- batch progress: ``version`` (ADD); in group wait mode also, per group, ``remaining_<group id>``
  (endpoints not final yet, ADD) and ``heartbeat_<group id>`` (ms, the group's last heartbeat).
- group wait: ``task_token`` (the group's waiting task, this attempt's), ``size``, ``label``.
- provider pace: ``next_at`` (ms, the next free send slot).

The functions here return plain keys (``{"pk": "…", "sk": "…"}``) except :func:`pointer_key`,
:func:`key_pointer_key` and :func:`pace_key`, which return them in DynamoDB's wire form
(``{"pk": {"S": "…"}, …}``), as their callers send them.
"""

from __future__ import annotations

import hashlib
from typing import Any

POINTER_SK = "#pointer"
TEMPLATE_SK = "#template"
CLAIM_SK = "#claim"
PROGRESS_SK = "#progress"
PACE_SK = "#pace"
_PARTS_PREFIX = "parts#"
MAX_PARTITION_KEY_BYTES = 2048  # DynamoDB's limit on a partition key value
READABLE_POINTER_KEY_BYTES = 1024
# DynamoDB's limit on a sort key (the endpoint id in endpoint records and recipients).
MAX_SORT_KEY_BYTES = 1024


def _wire(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def record_key(batch_id: str, endpoint_id: str) -> dict[str, str]:
    """The endpoint record: the batch's partition, one item per endpoint."""
    return {"pk": batch_id, "sk": endpoint_id}


def key_problem(endpoint_id: str) -> str | None:
    """Why an endpoint id cannot key the ledger's records, if it cannot."""
    if not endpoint_id:
        return "the endpoint id is empty"
    if len(endpoint_id.encode()) > MAX_SORT_KEY_BYTES:
        return f"an endpoint id is longer than {MAX_SORT_KEY_BYTES} bytes, DynamoDB's key limit"
    return None


def pointer_key(provider: str, message_id: str) -> dict[str, Any]:
    """Readable for ordinary ids; a hash for long ones (``msgh#`` never meets a readable ``msg#``):
    DynamoDB refuses a partition key over 2,048 bytes, and the provider has already accepted the
    message when the pointer is written."""
    readable = f"msg#{provider}#{message_id}"
    encoded = readable.encode("utf-8", "surrogatepass")
    if len(encoded) <= READABLE_POINTER_KEY_BYTES:
        return _wire(readable, POINTER_SK)
    return _wire(f"msgh#{hashlib.sha256(encoded).hexdigest()}", POINTER_SK)


def key_pointer_key(provider: str, idempotency_key: str) -> dict[str, Any]:
    """The pointer from our idempotency key (which SES tags and SMS contexts carry back in their
    events) to the endpoint: used when the provider's message id is unknown (the send's outcome
    was ambiguous). ``idem#`` never meets a message id's ``msg#``/``msgh#``; the key is 40 hex
    characters and a provider's name at most 256 bytes (the callback's check), so no hash is needed."""
    return _wire(f"idem#{provider}#{idempotency_key}", POINTER_SK)


def template_key(batch_id: str, reference: str = TEMPLATE_SK) -> dict[str, str]:
    """In a partition of its own, so reading a batch's records never reads it; ``reference`` is
    what the execution carries (``template_ref``), always :data:`TEMPLATE_SK` so far."""
    return {"pk": f"data#{batch_id}", "sk": reference}


def claim_key(key: str) -> dict[str, str]:
    """Hashed: a trigger's key may be long or hold any character; the digest has a fixed size."""
    return {"pk": f"claim#{hashlib.sha256(key.encode()).hexdigest()}", "sk": CLAIM_SK}


def recipient_key(batch_id: str, endpoint_id: str) -> dict[str, str]:
    """One endpoint's recipient item, from before parts (still read, never written)."""
    return {"pk": f"rcpt#{batch_id}", "sk": endpoint_id}


def part_key(batch_id: str, part: int) -> dict[str, str]:
    """``parts#`` never meets ``rcpt#`` or a batch id; the number sorts as text."""
    return {"pk": f"{_PARTS_PREFIX}{batch_id}", "sk": f"{part:05d}"}


def is_part(pk: str) -> bool:
    """Whether a partition key is a recipient part's (rather than a recipient's from before parts)."""
    return pk.startswith(_PARTS_PREFIX)


def progress_key(batch_id: str) -> dict[str, str]:
    return {"pk": f"progress#{batch_id}", "sk": PROGRESS_SK}


def group_key(batch_id: str, group: str) -> dict[str, str]:
    """A group's waiting task (group wait mode): ``group#`` never meets a batch id or another kind."""
    return {"pk": f"group#{batch_id}", "sk": group}


def pace_key(provider: str) -> dict[str, Any]:
    """A provider's send slot item (:mod:`journey_activity.pacing`)."""
    return _wire(f"pace#{provider}", PACE_SK)
