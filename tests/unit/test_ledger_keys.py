"""The ledger's key formats (journey_activity.ledger.keys): a provider's message id of any length
makes a valid pointer key (DynamoDB's partition key is at most 2,048 bytes), short ids stay
readable, and no two item kinds share a partition."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_activity.ledger.keys import (
    MAX_PARTITION_KEY_BYTES,
    claim_key,
    is_part,
    key_pointer_key,
    pace_key,
    part_key,
    pointer_key,
    progress_key,
    recipient_key,
    record_key,
    template_key,
)

BATCH = "pinpoint-0123"


def _pk(provider: str, message_id: str) -> str:
    return str(pointer_key(provider, message_id)["pk"]["S"])


def test_a_short_message_id_stays_readable_in_its_key():
    assert _pk("http", "msg-123") == "msg#http#msg-123"


@given(st.text(min_size=1, max_size=256), st.text(min_size=1, max_size=5000))
def test_every_pointer_key_fits_dynamodb(provider, message_id):
    assert len(_pk(provider, message_id).encode("utf-8", "surrogatepass")) <= MAX_PARTITION_KEY_BYTES


def test_long_ids_get_distinct_keys_that_cannot_meet_a_readable_one():
    long_a, long_b = "a" * 3000, "a" * 2999 + "b"
    assert _pk("http", long_a) != _pk("http", long_b)
    assert _pk("http", long_a) == _pk("http", long_a)
    assert not _pk("http", long_a).startswith("msg#")  # no readable key can be a hashed one


@pytest.mark.parametrize("message_id", ["m" * 1800, "é" * 1500, "x" * 100_000])
def test_a_long_message_id_is_recorded_and_its_receipts_find_it(book, message_id):
    """The provider has accepted the message when the pointer is written: it must not fail."""
    sent, _ = book.begin_send(BATCH, "e1", channel="SMS", provider="http")
    assert sent
    early = book.park_receipt("http", message_id, {"message_id": "(long)", "status": "delivered"})
    assert "batch_id" not in early
    record, pointer = book.mark_sent(BATCH, "e1", provider="http", message_id=message_id, task_token="t" * 1024)
    assert record["status"] == "SENT"
    assert (pointer["batch_id"], pointer["endpoint_id"], pointer["task_token"]) == (BATCH, "e1", "t" * 1024)
    assert [r["status"] for r in pointer["receipts"]] == ["delivered"]
    assert book.pointer("http", message_id) == pointer
    assert book.get(BATCH, "e1")["provider_message_id"] == message_id


def _partition(key: dict[str, Any]) -> str:
    """The partition key's value, from a plain key or one in DynamoDB's wire form."""
    pk = key["pk"]
    return str(pk["S"] if isinstance(pk, dict) else pk)


def test_each_item_kind_has_a_partition_of_its_own():
    keys = {
        "record": record_key(BATCH, "e1"), "pointer": pointer_key("http", "m"),
        "key pointer": key_pointer_key("http", "k"), "part": part_key(BATCH, 0),
        "recipient": recipient_key(BATCH, "e1"), "template": template_key(BATCH),
        "claim": claim_key("token"), "progress": progress_key(BATCH), "pace": pace_key("http"),
    }
    partitions = {kind: _partition(key) for kind, key in keys.items()}
    assert partitions["record"] == BATCH
    assert len(set(partitions.values())) == len(keys)
    prefixes = [pk.split("#")[0] + "#" for kind, pk in partitions.items() if kind != "record"]
    assert not any(BATCH.startswith(prefix) for prefix in prefixes)


def test_a_part_number_sorts_as_text_and_its_partition_is_told_from_a_recipient_s():
    assert [part_key(BATCH, n)["sk"] for n in (0, 9, 10)] == ["00000", "00009", "00010"]
    assert is_part(part_key(BATCH, 3)["pk"])
    assert not is_part(recipient_key(BATCH, "e1")["pk"])


def test_a_template_is_read_by_the_reference_the_execution_carries():
    assert template_key(BATCH) == template_key(BATCH, "#template")
