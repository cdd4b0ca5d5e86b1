"""Claims' keys: ``pk = "claim#<sha-256 of the trigger's idempotency key>"``, ``sk = "#claim"``;
which execution sends that endpoint (Connect's ``IdempotencyToken``: a retry that regroups profiles
into other batches finds each profile's owner here). The policy (who claims, when a claim is
abandoned, what a foreign owner's endpoint is answered) is :mod:`journey_activity.claims`'s; this
module only reads and writes the items.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from journey_activity.ledger.keys import claim_key
from journey_activity.ledger.table import (
    BATCH_GET_KEYS,
    Table,
    _conditional_failed,
    _from_item,
    _item_as_it_is,
    _to_item,
)

# Claims written at once, one PutItem each: a part of 118 profiles claims in 8 round trips.
CLAIM_WORKERS = 16


class Claims(Table):
    def claims(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The claims that exist among ``keys``, by key (strongly consistent BatchGetItem)."""
        by_pk = {claim_key(key)["pk"]: key for key in dict.fromkeys(keys)}
        found: dict[str, dict[str, Any]] = {}
        pks = list(by_pk)
        for start in range(0, len(pks), BATCH_GET_KEYS):
            request: dict[str, Any] = {self.table_name: {
                "Keys": [_to_item(claim_key(by_pk[pk])) for pk in pks[start:start + BATCH_GET_KEYS]],
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

    def _claim_put(self, key: str, *, execution: str, endpoint_id: str, mine: Collection[str],
                   version: str | None) -> dict[str, Any]:
        """The claim's conditional PutItem. A claim is always written whole (every attribute anew),
        so a put is the same write as an update, with no update expression to evaluate (the local
        engine's moto answers it in half the time)."""
        names = sorted({execution, *mine})
        values = {f":m{index}": name for index, name in enumerate(names)}
        aliases = {"#pk": "pk", "#execution": "execution"}
        # The claim: a new one, one this invocation already holds (one of ``mine``), or, to take over
        # an abandoned claim, one still at the ``version`` its reader saw (a compare-and-set: of two
        # invocations taking over at once, the first write changes the version and the second fails).
        # The loser leaves the endpoint to the owner's execution and answers with its outcome.
        condition = f"attribute_not_exists(#pk) OR #execution IN ({', '.join(values)})"
        if version is not None:
            condition += " OR #version = :version"
            values[":version"] = version
            aliases["#version"] = "version"
        return {
            "TableName": self.table_name,
            "Item": _to_item({**claim_key(key), "execution": execution, "endpoint_id": endpoint_id,
                              "claimed_at": int(time.time() * 1000), "version": secrets.token_hex(8),
                              "expires_at": self._expires_at()}),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": aliases,
            "ExpressionAttributeValues": _to_item(values),
            # A failed condition answers with the claim as it is (no read, no read units).
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def take_claim(self, key: str, *, execution: str, endpoint_id: str, mine: Collection[str],
                   version: str | None = None) -> bool:
        """Point the claim at ``execution``: when there is none yet, when it points at one of
        ``mine`` (this invocation's names, or the same batch invoked again), or, to take over an
        abandoned claim, when it is still at ``version``. False when another writer holds it."""
        return self._take(key, execution=execution, endpoint_id=endpoint_id, mine=mine, version=version) is None

    def _take(self, key: str, *, execution: str, endpoint_id: str, mine: Collection[str],
              version: str | None) -> dict[str, Any] | None:
        """:meth:`take_claim`'s write: None when taken, else the claim as the failed condition found
        it (``ReturnValuesOnConditionCheckFailure``: no read, no read units)."""
        request = self._claim_put(key, execution=execution, endpoint_id=endpoint_id, mine=mine, version=version)
        try:
            self.dynamodb.put_item(**request)
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return _item_as_it_is(error)
        return None

    def take_claims(self, wanted: Sequence[tuple[str, str, str | None]], *, execution: str,
                    mine: Collection[str]) -> dict[str, dict[str, Any] | None]:
        """:meth:`take_claim` for many ``(endpoint id, key, version)`` at once: one conditional
        PutItem per claim (one write unit each), up to :data:`CLAIM_WORKERS` at a time. Returns,
        by key, None for a claim taken, or the claim as it is for one another execution holds (the
        item its failed condition found: who holds it, since when, at which version).

        (TransactWriteItems would take 100 claims a call, but DynamoDB bills a transaction's writes
        twice, and nothing here needs one: each claim stands alone.)"""
        # A key that two profiles share (a malformed batch) is claimed once, and both get that answer.
        unique = list({key: (endpoint_id, key, version) for endpoint_id, key, version in reversed(wanted)}.values())
        unique.reverse()

        def take(item: tuple[str, str, str | None]) -> dict[str, Any] | None:
            endpoint_id, key, version = item
            return self._take(key, execution=execution, endpoint_id=endpoint_id, mine=mine, version=version)

        if len(unique) <= 1:
            return {item[1]: take(item) for item in unique}
        with ThreadPoolExecutor(max_workers=min(CLAIM_WORKERS, len(unique))) as pool:
            return {item[1]: found for item, found in zip(unique, pool.map(take, unique), strict=True)}
