"""The ledger's key formats: a provider's message id of any length makes a valid pointer key
(DynamoDB's partition key is at most 2,048 bytes), and short ids stay readable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journey_activity.ledger import MAX_PARTITION_KEY_BYTES, pointer_key

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
