"""The ledger: one DynamoDB item per (batch, endpoint), the workflow's memory and idempotency record.

Items:
- endpoint record: ``pk = batch_id``, ``sk = endpoint_id``; status, channel, provider,
  provider message id, attempts, timestamps, error, receipts. No task token: it would make
  each of the record's writes cost up to twice the units on AWS (tokens are up to 1,024
  characters), and only a receipt needs it.
- message pointer: ``pk = "msg#<provider>#<message id>"``, ``sk = "#pointer"``; which record a
  provider message belongs to, the waiting task's token, and receipts that arrived before the
  record knew the id. A receipt reads it (one read) and, once it is linked, never writes it. A key
  that would be over 1 KiB (a provider's very long message id) is
  ``"msgh#<sha256 of provider and id>"`` instead: DynamoDB refuses a partition key over
  2,048 bytes, and the provider has already accepted the message when the pointer is written.
- large message template: ``pk = "data#<batch id>"``, ``sk = "#template"``; in a partition
  of its own, so reading a batch's records never reads it (and no endpoint id collides with it).
- claim: ``pk = "claim#<sha-256 of the trigger's idempotency key>"``, ``sk = "#claim"``; which
  execution sends that endpoint (Connect's ``IdempotencyToken``: a retry that regroups profiles
  into other batches finds each profile's owner here, see :mod:`journey_activity.claims`).
- recipient part: ``pk = "parts#<batch id>"``, ``sk = "<part number>"``; the addresses and
  profiles of some of the batch's endpoints (one zlib-compressed JSON map), written by the
  invoker before the execution starts and never changed, so the execution carries ids (and each
  endpoint's part number) only and no personal data reaches its history. Apart from the endpoint
  record, so the record's many small updates are not billed for the profile. Endpoints are packed
  together up to about 4 KB a part: DynamoDB bills a write per KB of each item, so fifty small
  profiles cost a few units instead of fifty, and a sender's read of its part is still one
  eventually consistent read unit (4 KB). A large profile gets a part of its own.
- recipient (executions started before parts): ``pk = "rcpt#<batch id>"``, ``sk = endpoint_id``;
  one endpoint's address and profile, still read for an endpoint whose reference has no part.
- provider pace: ``pk = "pace#<provider name>"``, ``sk = "#pace"``; the provider's next free send
  slot, shared by every sender (:mod:`journey_activity.pacing` writes it; providers with a
  ``send_rate`` only).
- batch progress: ``pk = "progress#<batch id>"``, ``sk = "#progress"``; a version the writers of
  a final status advance (``ADD version n``) right after the record became final. A waiting
  invoker reads this one small item (1 read unit) each poll and queries the batch's partition
  only when the version moved. It is a hint, never an answer: the answer always comes from the
  records. A writer that stops between its two writes leaves the version behind, so the invoker
  answers late (``PENDING``), never wrong; a retried write that advances twice only costs a query.

The pointer is a plain item read and written atomically rather than a global secondary
index, because a GSI is eventually consistent: a receipt arriving just after the send
could miss it. Two atomic updates of one item settle the receipt-before-token race:
whichever of the sender (linking) and the callback (parking, when its read found the pointer
not linked yet) writes second sees the other's write.

Writes per endpoint on the usual path: the recipient (invoker), SENDING, SENT, the pointer's
link (sender), the final status and the batch progress (callback). Conditional updates answer
a failed condition with the item as it is (``ReturnValuesOnConditionCheckFailure``), so no
writer reads the record again to learn why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import time
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from journey_activity import aws
from journey_activity.models.batch import FINAL_STATUSES, EndpointResult, LedgerStatus, Recipient

POINTER_SK = "#pointer"
MAX_PARTITION_KEY_BYTES = 2048  # DynamoDB's limit on a partition key value
READABLE_POINTER_KEY_BYTES = 1024
TEMPLATE_SK = "#template"
CLAIM_SK = "#claim"
PROGRESS_SK = "#progress"
# DynamoDB items hold 400 KB; keep room for the key and attributes.
MAX_TEMPLATE_BYTES = 350_000
MAX_RECIPIENT_BYTES = 350_000
# DynamoDB's limit on a sort key (the endpoint id in endpoint records and recipients).
MAX_SORT_KEY_BYTES = 1024
_BATCH_GET_KEYS = 100
# TransactWriteItems takes at most 100 actions.
_TRANSACT_ITEMS = 100
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_OPEN = [LedgerStatus.SENDING.value, LedgerStatus.SENT.value]
LOG = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def _from_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    plain = {key: _deserializer.deserialize(value) for key, value in item.items()}
    for key, value in plain.items():
        # DynamoDB numbers come back as Decimal; the ledger stores only whole numbers.
        if type(value).__name__ == "Decimal":
            plain[key] = int(value)
    return plain


def _conditional_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _item_as_it_is(error: ClientError) -> dict[str, Any]:
    """The item a failed conditional update found (``ReturnValuesOnConditionCheckFailure``)."""
    return _from_item(error.response.get("Item")) or {}


def pointer_key(provider: str, message_id: str) -> dict[str, Any]:
    """Readable for ordinary ids; a hash for long ones (``msgh#`` never meets a readable ``msg#``)."""
    readable = f"msg#{provider}#{message_id}"
    encoded = readable.encode("utf-8", "surrogatepass")
    if len(encoded) <= READABLE_POINTER_KEY_BYTES:
        return _to_item({"pk": readable, "sk": POINTER_SK})
    return _to_item({"pk": f"msgh#{hashlib.sha256(encoded).hexdigest()}", "sk": POINTER_SK})


def key_pointer_key(provider: str, idempotency_key: str) -> dict[str, Any]:
    """The pointer from our idempotency key (which SES tags and SMS contexts carry back in their
    events) to the endpoint: used when the provider's message id is unknown (the send's outcome
    was ambiguous). ``idem#`` never meets a message id's ``msg#``/``msgh#``; the key is 40 hex
    characters and a provider's name at most 256 bytes (the callback's check), so no hash is needed."""
    return _to_item({"pk": f"idem#{provider}#{idempotency_key}", "sk": POINTER_SK})


def template_key(batch_id: str) -> dict[str, str]:
    return {"pk": f"data#{batch_id}", "sk": TEMPLATE_SK}


def claim_key(key: str) -> dict[str, str]:
    """Hashed: a trigger's key may be long or hold any character; the digest has a fixed size."""
    return {"pk": f"claim#{hashlib.sha256(key.encode()).hexdigest()}", "sk": CLAIM_SK}


def key_problem(endpoint_id: str) -> str | None:
    """Why an endpoint id cannot key the ledger's records, if it cannot."""
    if not endpoint_id:
        return "the endpoint id is empty"
    if len(endpoint_id.encode()) > MAX_SORT_KEY_BYTES:
        return f"an endpoint id is longer than {MAX_SORT_KEY_BYTES} bytes, DynamoDB's key limit"
    return None


def recipient_key(batch_id: str, endpoint_id: str) -> dict[str, str]:
    return {"pk": f"rcpt#{batch_id}", "sk": endpoint_id}


def part_key(batch_id: str, part: int) -> dict[str, str]:
    """``parts#`` never meets ``rcpt#`` or a batch id; the number sorts as text."""
    return {"pk": f"parts#{batch_id}", "sk": f"{part:05d}"}


@dataclasses.dataclass(frozen=True)
class StoredRecipient:
    """What the steps read of an endpoint: where to send, and the profile templates render from."""

    address: str
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)


def _document(recipient: Recipient) -> dict[str, Any]:
    return {"address": recipient.address, "profile": recipient.profile}


def _compress(value: Any) -> bytes:
    document = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return zlib.compress(document.encode(), 6)


def pack_recipient(recipient: Recipient) -> bytes:
    """One endpoint's address and profile, compressed (a Pinpoint endpoint's repeated attribute
    names compress several times over): what its share of a part costs at most."""
    return _compress(_document(recipient))


# A part's data, with its key and attribute names, stays within one read unit (4 KB).
PART_BYTES = 3900


def plan_parts(packed: Mapping[str, bytes]) -> dict[str, int]:
    """Each endpoint's part, in the batch's order: a part takes endpoints while their compressed
    sizes add up to at most PART_BYTES (compressed together they take less); an endpoint larger
    than that has a part of its own. The same batch always gets the same plan."""
    parts: dict[str, int] = {}
    part, used = 0, 0
    for endpoint_id, data in packed.items():
        if used and used + len(data) > PART_BYTES:
            part, used = part + 1, 0
        parts[endpoint_id] = part
        used += len(data)
    return parts


def _stored(document: Mapping[str, Any]) -> StoredRecipient:
    return StoredRecipient(address=str(document.get("address") or ""), profile=dict(document.get("profile") or {}))


def unpack_recipient(data: bytes) -> StoredRecipient:
    return _stored(json.loads(zlib.decompress(data)))


def _part_documents(item: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(zlib.decompress(bytes(item["data"]))))


def recipient_problem(packed: bytes) -> str | None:
    """Why the ledger cannot keep this endpoint (it is then skipped as invalid), if it cannot."""
    if len(packed) > MAX_RECIPIENT_BYTES:
        return f"the endpoint is {len(packed)} bytes once compressed, above the {MAX_RECIPIENT_BYTES} kept"
    return None


def progress_key(batch_id: str) -> dict[str, str]:
    return {"pk": f"progress#{batch_id}", "sk": PROGRESS_SK}


def result_from_record(record: Mapping[str, Any]) -> EndpointResult:
    return EndpointResult.model_validate(record)


class Ledger:
    def __init__(self, table_name: str, ttl_days: int = 100, dynamodb: Any | None = None) -> None:
        self.table_name = table_name
        self.ttl_days = ttl_days
        self._dynamodb = dynamodb

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = aws.client("dynamodb")
        return self._dynamodb

    def _expires_at(self) -> int:
        return int(time.time()) + self.ttl_days * 86_400

    def _update(self, key: Mapping[str, Any], sets: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """One UpdateItem (``options`` as :meth:`_update_request` takes them); returns the item after
        the update. Raises ClientError on a failed condition."""
        request = self._update_request(key, sets, **options)
        response = self.dynamodb.update_item(**request, ReturnValues="ALL_NEW")
        return _from_item(response.get("Attributes")) or {}

    def _update_request(
        self,
        key: Mapping[str, Any],
        sets: Mapping[str, Any],
        *,
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
        add: Mapping[str, int] | None = None,
        if_not_exists: Mapping[str, Any] | None = None,
        append: Mapping[str, list[Any]] | None = None,
    ) -> dict[str, Any]:
        """An update's parameters, as UpdateItem and a TransactWriteItems ``Update`` both take them."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        clauses: list[str] = []
        for index, (field, value) in enumerate(sets.items()):
            names[f"#s{index}"] = field
            values[f":s{index}"] = value
            clauses.append(f"#s{index} = :s{index}")
        for index, (field, value) in enumerate((if_not_exists or {}).items()):
            names[f"#n{index}"] = field
            values[f":n{index}"] = value
            clauses.append(f"#n{index} = if_not_exists(#n{index}, :n{index})")
        for index, (field, items) in enumerate((append or {}).items()):
            names[f"#l{index}"] = field
            values[f":l{index}"] = items
            values[":empty"] = []
            clauses.append(f"#l{index} = list_append(if_not_exists(#l{index}, :empty), :l{index})")
        expression = "SET " + ", ".join(clauses)
        if add:
            adds = []
            for index, (field, amount) in enumerate(add.items()):
                names[f"#a{index}"] = field
                values[f":a{index}"] = amount
                adds.append(f"#a{index} :a{index}")
            expression += " ADD " + ", ".join(adds)
        values.update(condition_values or {})
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": dict(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": _to_item(values),
        }
        if condition:
            request["ConditionExpression"] = condition
            # A failed condition answers with the item as it is (no second read, no extra units).
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            aliases = (("#status", "status"), ("#pk", "pk"), ("#execution", "execution"), ("#version", "version"))
            names.update({alias: field for alias, field in aliases if alias in condition})
        return request

    # -- reads -------------------------------------------------------------------------

    def get(self, batch_id: str, endpoint_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=_to_item({"pk": batch_id, "sk": endpoint_id}), ConsistentRead=True
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

    def progress(self, batch_id: str) -> int:
        """The batch's progress version (0 before anything is final): one strongly consistent
        GetItem of an item of some 60 bytes, so one read unit, whatever the batch's size."""
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=_to_item(progress_key(batch_id)), ConsistentRead=True,
            ProjectionExpression="#v", ExpressionAttributeNames={"#v": "version"},
        )
        item = _from_item(response.get("Item"))
        return int(item.get("version", 0)) if item else 0

    def _advance(self, batch_id: str, count: int = 1) -> None:
        """Move the batch's progress version after ``count`` records became final. Written after
        the records, so a reader that sees the new version finds them with a consistent read.
        A failure here is logged, not raised: the record is already final and right, and a
        waiting invoker only answers it later (see the module's notes)."""
        try:
            self._update(_to_item(progress_key(batch_id)), {}, add={"version": count},
                         if_not_exists={"expires_at": self._expires_at()})
        except (ClientError, BotoCoreError) as error:
            LOG.warning("The batch's progress version was not advanced", extra={"error": str(error)[:300]})

    def _query_batch(self, batch_id: str, extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {
            **extra,
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": _to_item({**extra.get("ExpressionAttributeValues", {}), ":pk": batch_id}),
            "ConsistentRead": True,
        }
        while True:
            response = self.dynamodb.query(**request)
            for item in response.get("Items", []):
                record = _from_item(item) or {}
                records[record["sk"]] = record
            if "LastEvaluatedKey" not in response:
                return records
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

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
                            "pk": batch_id,
                            "sk": result.endpoint_id,
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

    def _batch_write(self, requests: list[dict[str, Any]], what: str) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table_name: requests[start : start + 25]}
            for attempt in range(8):
                response = self.dynamodb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if pending:
                raise RuntimeError(f"DynamoDB left {len(pending[self.table_name])} {what} unwritten")

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
        key = _to_item({"pk": batch_id, "sk": endpoint_id})
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
            self._update(_to_item({"pk": batch_id, "sk": endpoint_id}), {"send_lease_until": 0},
                         condition="#status = :sending", condition_values={":sending": LedgerStatus.SENDING.value})
        except ClientError as error:
            if not _conditional_failed(error):
                raise

    def mark_sent(self, batch_id: str, endpoint_id: str, *, provider: str, message_id: str,
                  task_token: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The provider accepted: store its message id, then link the message pointer (with the
        waiting task's token).

        Returns ``(record, pointer)``: the record after the write (or as it is, when a receipt or
        the finalizer made it final first), and the pointer, whose ``receipts`` arrived early.
        """
        now = now_iso()
        try:
            record = self._update(
                _to_item({"pk": batch_id, "sk": endpoint_id}),
                {"status": LedgerStatus.SENT.value, "provider_message_id": message_id, "sent_at": now,
                 "updated_at": now},
                condition="#status = :sending",
                condition_values={":sending": LedgerStatus.SENDING.value},
            )
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            record = _item_as_it_is(error)
        pointer = self.link_pointer(batch_id, endpoint_id, provider=provider, message_id=message_id,
                                    task_token=task_token)
        return record, pointer

    def link_pointer(self, batch_id: str, endpoint_id: str, *, provider: str, message_id: str,
                     task_token: str | None) -> dict[str, Any]:
        """Point the provider's message id at the endpoint and its waiting task (idempotent: a
        retried sender links again with its new token, since its first attempt may have stopped
        between the record and the pointer). Returns the pointer; its ``receipts`` are receipts
        that arrived before the link."""
        return self._link(pointer_key(provider, message_id), batch_id, endpoint_id, task_token)

    def link_key_pointer(self, batch_id: str, endpoint_id: str, *, provider: str,
                         idempotency_key: str, task_token: str | None) -> dict[str, Any]:
        """The same for the idempotency key's pointer (a lost answer: see :meth:`mark_outcome_unknown`)."""
        return self._link(key_pointer_key(provider, idempotency_key), batch_id, endpoint_id, task_token)

    def _link(self, key: Mapping[str, Any], batch_id: str, endpoint_id: str,
              task_token: str | None) -> dict[str, Any]:
        """Link the pointer; without a token (the batch's first send, before any task waits: see
        :func:`journey_activity.handlers.send.send_group`) a receipt finds the endpoint and makes
        its record final, and the task that waits for it later resumes itself from the record."""
        sets = {"batch_id": batch_id, "endpoint_id": endpoint_id, "updated_at": now_iso()}
        if task_token:
            sets["task_token"] = task_token
        return self._update(key, sets, if_not_exists={"expires_at": self._expires_at()})

    def mark_outcome_unknown(self, batch_id: str, endpoint_id: str, *, provider: str, idempotency_key: str,
                             error: str, task_token: str | None) -> dict[str, Any]:
        """The provider may have the message, but its answer was lost: SENT without a message id
        (so a retried task never sends again), flagged so that a receipt wait that ends without
        a receipt is ``send_outcome_unknown``; the idempotency key's pointer is linked so that
        a receipt carrying the key finds the endpoint.

        Returns the key's pointer; its ``receipts`` are receipts that arrived before it was linked.
        """
        now = now_iso()
        try:
            self._update(
                _to_item({"pk": batch_id, "sk": endpoint_id}),
                {"status": LedgerStatus.SENT.value, "outcome_unknown": True, "last_error": error[:1000],
                 "sent_at": now, "updated_at": now},
                condition="#status = :sending",
                condition_values={":sending": LedgerStatus.SENDING.value},
            )
        except ClientError as failure:
            if not _conditional_failed(failure):
                raise
        return self.link_key_pointer(batch_id, endpoint_id, provider=provider, idempotency_key=idempotency_key,
                                     task_token=task_token)

    def key_pointer(self, provider: str, idempotency_key: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=key_pointer_key(provider, idempotency_key), ConsistentRead=True
        )
        return _from_item(response.get("Item"))

    def park_keyed_receipt(self, provider: str, idempotency_key: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
        """Append a receipt to the idempotency key's pointer (see :meth:`mark_outcome_unknown`)."""
        return self._update(
            key_pointer_key(provider, idempotency_key),
            {"updated_at": now_iso()},
            if_not_exists={"expires_at": self._expires_at()},
            append={"receipts": [dict(receipt)]},
        )

    def put_template(self, batch_id: str, template: str) -> str:
        """Keep a large template out of the execution's payloads; returns its reference."""
        self.dynamodb.put_item(
            TableName=self.table_name,
            Item=_to_item({**template_key(batch_id), "template": template, "expires_at": self._expires_at()}),
        )
        return TEMPLATE_SK

    def get_template(self, batch_id: str, reference: str) -> str | None:
        item = self._get_written_once(_to_item({**template_key(batch_id), "sk": reference}))
        return None if item is None else str(item.get("template", ""))

    def _get_written_once(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """An item written before the execution started and never changed (a template, a
        recipient): an eventually consistent read (half the units) is right whenever it finds
        the item; only a miss, which a replica not yet caught up can give, is read again strongly."""
        for consistent in (False, True):
            response = self.dynamodb.get_item(TableName=self.table_name, Key=dict(key), ConsistentRead=consistent)
            item = _from_item(response.get("Item"))
            if item is not None:
                return item
        return None

    def put_recipients(self, batch_id: str, recipients: Mapping[str, Recipient]) -> dict[str, int]:
        """Keep the endpoints' addresses and profiles for the steps, packed in parts (see the
        module's notes); one write per part, in batches of 25. Returns each endpoint's part. A
        retried invocation writes the same parts again."""
        parts = plan_parts({endpoint_id: pack_recipient(r) for endpoint_id, r in recipients.items()})
        members: dict[int, dict[str, Any]] = {}
        for endpoint_id, part in parts.items():
            members.setdefault(part, {})[endpoint_id] = _document(recipients[endpoint_id])
        expires_at = self._expires_at()
        requests = [
            {"PutRequest": {"Item": _to_item({**part_key(batch_id, part), "data": _compress(documents),
                                              "expires_at": expires_at})}}
            for part, documents in members.items()
        ]
        self._batch_write(requests, "recipient parts")
        return parts

    def recipient(self, batch_id: str, endpoint_id: str, part: int | None = None) -> StoredRecipient | None:
        if part is None:  # an execution started before parts
            item = self._get_written_once(_to_item(recipient_key(batch_id, endpoint_id)))
            return None if item is None else unpack_recipient(bytes(item["data"]))
        item = self._get_written_once(_to_item(part_key(batch_id, part)))
        document = None if item is None else _part_documents(item).get(endpoint_id)
        return None if document is None else _stored(document)

    def recipient_addresses(self, batch_id: str, wanted: Mapping[str, int | None]) -> dict[str, str]:
        """The addresses of the endpoints found, by endpoint id; ``wanted`` gives each endpoint's
        part (None: its own item, from before parts). BatchGetItem, eventually consistent first;
        the misses are read again strongly."""
        holders: dict[tuple[str, str], list[str]] = {}
        for endpoint_id, part in wanted.items():
            key = recipient_key(batch_id, endpoint_id) if part is None else part_key(batch_id, part)
            holders.setdefault((key["pk"], key["sk"]), []).append(endpoint_id)
        found: dict[str, str] = {}
        for consistent in (False, True):
            missing = [{"pk": pk, "sk": sk} for (pk, sk), held in holders.items() if any(e not in found for e in held)]
            for start in range(0, len(missing), _BATCH_GET_KEYS):
                for item in self._batch_get([_to_item(key) for key in missing[start:start + _BATCH_GET_KEYS]],
                                            consistent):
                    pk, sk = str(item["pk"]), str(item["sk"])
                    documents = (_part_documents(item) if pk.startswith("parts#")
                                 else {sk: json.loads(zlib.decompress(bytes(item["data"])))})
                    found.update({e: _stored(documents[e]).address for e in holders[(pk, sk)] if e in documents})
            if len(found) == len(wanted):
                break
        return found

    def _batch_get(self, keys: list[dict[str, Any]], consistent: bool) -> list[dict[str, Any]]:
        request: dict[str, Any] = {self.table_name: {"Keys": keys, "ConsistentRead": consistent}}
        items: list[dict[str, Any]] = []
        for attempt in range(8):
            response = self.dynamodb.batch_get_item(RequestItems=request)
            items.extend(_from_item(item) or {} for item in response.get("Responses", {}).get(self.table_name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise RuntimeError(f"DynamoDB left {len(request[self.table_name]['Keys'])} recipients unread")

    def pointer(self, provider: str, message_id: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table_name, Key=pointer_key(provider, message_id), ConsistentRead=True
        )
        return _from_item(response.get("Item"))

    def park_receipt(self, provider: str, message_id: str, receipt: Mapping[str, Any]) -> dict[str, Any]:
        """Append a receipt to the message pointer; returns the pointer (linked if ``batch_id`` is set)."""
        return self._update(
            pointer_key(provider, message_id),
            {"updated_at": now_iso()},
            if_not_exists={"expires_at": self._expires_at()},
            append={"receipts": [dict(receipt)]},
        )

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
    ) -> tuple[bool, dict[str, Any]]:
        """Give a record its final status unless it already has one.

        Returns ``(applied, record)``; ``applied`` is false when another writer got there first.
        """
        now = now_iso()
        sets: dict[str, Any] = {"status": status.value, "updated_at": now, "finished_at": now}
        for field, value in (("reason", reason), ("error", error), ("receipt_status", receipt_status)):
            if value is not None:
                sets[field] = value[:1000]
        sets.update({k: v for k, v in (extra or {}).items() if v is not None})
        try:
            record = self._update(
                _to_item({"pk": batch_id, "sk": endpoint_id}),
                sets,
                if_not_exists={"batch_id": batch_id, "endpoint_id": endpoint_id, "created_at": now,
                               "expires_at": self._expires_at()},
                condition="attribute_not_exists(#pk) OR #status IN (:sending, :sent)",
                condition_values={":sending": _OPEN[0], ":sent": _OPEN[1]},
            )
        except ClientError as failure:
            if not _conditional_failed(failure):
                raise
            return False, _item_as_it_is(failure)
        self._advance(batch_id)
        return True, record

    # -- claims ------------------------------------------------------------------------

    def claims(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The claims that exist among ``keys``, by key (strongly consistent BatchGetItem)."""
        by_pk = {claim_key(key)["pk"]: key for key in dict.fromkeys(keys)}
        found: dict[str, dict[str, Any]] = {}
        pks = list(by_pk)
        for start in range(0, len(pks), _BATCH_GET_KEYS):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [_to_item({"pk": pk, "sk": CLAIM_SK}) for pk in pks[start:start + _BATCH_GET_KEYS]],
                "ConsistentRead": True}}
            for attempt in range(8):
                response = self.dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    claim = _from_item(item) or {}
                    found[by_pk[claim["pk"]]] = claim
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            if request:
                raise RuntimeError("DynamoDB left claims unread")
        return found

    def _claim_update(self, key: str, *, execution: str, endpoint_id: str, mine: Collection[str],
                      version: str | None) -> dict[str, Any]:
        names = sorted({execution, *mine})
        values = {f":m{index}": name for index, name in enumerate(names)}
        condition = f"attribute_not_exists(#pk) OR #execution IN ({', '.join(values)})"
        if version is not None:
            condition += " OR #version = :version"
            values[":version"] = version
        return self._update_request(
            _to_item(claim_key(key)),
            {"execution": execution, "endpoint_id": endpoint_id, "claimed_at": int(time.time() * 1000),
             "version": secrets.token_hex(8), "expires_at": self._expires_at()},
            condition=condition,
            condition_values=values,
        )

    def take_claim(self, key: str, *, execution: str, endpoint_id: str, mine: Collection[str],
                   version: str | None = None) -> bool:
        """Point the claim at ``execution``: when there is none yet, when it points at one of
        ``mine`` (this invocation's names, or the same batch invoked again), or, to take over an
        abandoned claim, when it is still at ``version``. False when another writer holds it."""
        request = self._claim_update(key, execution=execution, endpoint_id=endpoint_id, mine=mine, version=version)
        try:
            self.dynamodb.update_item(**request)
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return False
        return True

    def take_claims(self, wanted: Sequence[tuple[str, str, str | None]], *, execution: str,
                    mine: Collection[str]) -> dict[str, bool]:
        """:meth:`take_claim` for many ``(endpoint id, key, version)`` at once: TransactWriteItems of
        up to 100 conditional updates (a batch of 2,000 profiles claims in 20 calls, where one
        write each would take 2,000). A transaction fails whole when one condition fails; its
        cancellation reasons say which, and the rest are written again without them. A conflict
        with another transaction on the same claims (the same batch invoked twice at once) falls
        back to one conditional write per claim. Returns whether each key was taken."""
        taken: dict[str, bool] = {}
        # One action per item in a transaction (DynamoDB refuses two on one item): a key that two
        # profiles share (a malformed batch) is claimed once, and both get that answer.
        unique = list({key: (endpoint_id, key, version) for endpoint_id, key, version in reversed(wanted)}.values())
        unique.reverse()
        for start in range(0, len(unique), _TRANSACT_ITEMS):
            chunk = list(unique[start:start + _TRANSACT_ITEMS])
            while chunk:
                items = [{"Update": self._claim_update(key, execution=execution, endpoint_id=endpoint_id, mine=mine,
                                                       version=version)} for endpoint_id, key, version in chunk]
                try:
                    self.dynamodb.transact_write_items(TransactItems=items)
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                        raise
                    codes = [str(r.get("Code")) for r in error.response.get("CancellationReasons") or []]
                    if len(codes) != len(chunk) or not set(codes) <= {"None", "ConditionalCheckFailed"}:
                        taken.update({key: self.take_claim(key, execution=execution, endpoint_id=endpoint_id,
                                                           mine=mine, version=version)
                                      for endpoint_id, key, version in chunk})
                        break
                    taken.update({item[1]: False for item, code in zip(chunk, codes, strict=True)
                                  if code == "ConditionalCheckFailed"})
                    chunk = [item for item, code in zip(chunk, codes, strict=True) if code != "ConditionalCheckFailed"]
                    continue
                taken.update({key: True for _, key, _ in chunk})
                break
        return taken

    def claim_heartbeat(self, batch_id: str, endpoint_id: str, now: float, interval: float) -> bool:
        """Whether this receipt sends the endpoint's heartbeat: True for the one caller whose
        conditional write moved ``heartbeat_at`` (epoch milliseconds) to ``now`` (none yet, or the last one at least
        ``interval`` seconds ago); False for every other (a concurrent receipt claimed it)."""
        try:
            self._update(_to_item({"pk": batch_id, "sk": endpoint_id}), {"heartbeat_at": int(now * 1000)},
                         condition="attribute_exists(pk) AND (attribute_not_exists(heartbeat_at) "
                                   "OR heartbeat_at <= :due)",
                         condition_values={":due": int((now - interval) * 1000)})
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def note(self, batch_id: str, endpoint_id: str, **fields: Any) -> dict[str, Any]:
        """Record facts that change no status (a progress or late receipt, a report error);
        returns the record after the write."""
        sets = {k: v for k, v in fields.items() if v is not None}
        sets["updated_at"] = now_iso()
        return self._update(_to_item({"pk": batch_id, "sk": endpoint_id}), sets)


def is_final(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("status") in FINAL_STATUSES
