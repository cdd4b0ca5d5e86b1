"""Recipients in parts: ``pk = "parts#<batch id>"``, ``sk = "<part number>"``; the addresses and
profiles of some of the batch's endpoints (one zlib-compressed JSON map).

Written by the invoker before the execution starts and never changed, so the execution carries ids
(and each endpoint's part number) only and no personal data reaches its history. Apart from the
endpoint record, so the record's many small updates are not billed for the profile. Endpoints are
packed together up to about 4 KB a part: DynamoDB bills a write per KB of each item, so fifty small
profiles cost a few units instead of fifty, and a sender's read of its part is still one
eventually consistent read unit (4 KB). A large profile gets a part of its own.

Executions started before parts kept one item per endpoint (``pk = "rcpt#<batch id>"``,
``sk = <endpoint id>``), still read for an endpoint whose reference has no part.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from journey_activity.ledger.keys import is_part, part_key, recipient_key
from journey_activity.ledger.table import BATCH_GET_KEYS, Table, _to_item
from journey_activity.models.batch import Recipient

# DynamoDB items hold 400 KB; keep room for the key and attributes.
MAX_RECIPIENT_BYTES = 350_000
# A part's data, with its key and attribute names, stays within one read unit (4 KB).
PART_BYTES = 3900


class StoredRecipient(NamedTuple):
    """What the steps read of an endpoint: where to send, and the profile templates render from.
    (A named tuple: it costs an importer far less to make than a dataclass.)"""

    address: str
    profile: dict[str, Any]


def _document(recipient: Recipient) -> dict[str, Any]:
    return {"address": recipient.address, "profile": recipient.profile}


def _compress(value: Any) -> bytes:
    document = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return zlib.compress(document.encode(), 6)


def pack_recipient(recipient: Recipient) -> bytes:
    """One endpoint's address and profile, compressed (a Pinpoint endpoint's repeated attribute
    names compress several times over): what its share of a part costs at most."""
    return _compress(_document(recipient))


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


class Recipients(Table):
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
        """The addresses of the endpoints found, by endpoint id (see :meth:`recipients_of`)."""
        return {endpoint_id: stored.address for endpoint_id, stored in self.recipients_of(batch_id, wanted).items()}

    def recipients_of(self, batch_id: str, wanted: Mapping[str, int | None]) -> dict[str, StoredRecipient]:
        """The endpoints found, by endpoint id; ``wanted`` gives each endpoint's part (None: its
        own item, from before parts). Each part is read once (BatchGetItem, eventually consistent
        first; the misses are read again strongly)."""
        holders: dict[tuple[str, str], list[str]] = {}
        keys: dict[tuple[str, str], dict[str, str]] = {}
        for endpoint_id, part in wanted.items():
            key = recipient_key(batch_id, endpoint_id) if part is None else part_key(batch_id, part)
            keys[(key["pk"], key["sk"])] = key
            holders.setdefault((key["pk"], key["sk"]), []).append(endpoint_id)
        found: dict[str, StoredRecipient] = {}
        for consistent in (False, True):
            missing = [keys[pair] for pair, held in holders.items() if any(e not in found for e in held)]
            for start in range(0, len(missing), BATCH_GET_KEYS):
                for item in self._batch_get([_to_item(key) for key in missing[start:start + BATCH_GET_KEYS]],
                                            consistent):
                    pk, sk = str(item["pk"]), str(item["sk"])
                    documents = (_part_documents(item) if is_part(pk)
                                 else {sk: json.loads(zlib.decompress(bytes(item["data"])))})
                    found.update({e: _stored(documents[e]) for e in holders[(pk, sk)] if e in documents})
            if len(found) == len(wanted):
                break
        return found
