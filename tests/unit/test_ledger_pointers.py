"""Message and key pointers (journey_activity.ledger.pointers) on moto's DynamoDB API: whichever of
the sender's link and a receipt's park writes second sees the other's write, in either order."""

from __future__ import annotations

from tests.unit.test_ledger_records import BATCH, open_endpoint

RECEIPT = {"message_id": "m-1", "status": "delivered"}


def test_a_receipt_parked_before_the_link_comes_back_with_the_link(book):
    open_endpoint(book, "e")
    parked = book.park_receipt("http", "m-1", RECEIPT)
    assert "batch_id" not in parked  # not linked yet: the receipt leaves itself for the sender
    linked = book.link_pointer(BATCH, "e", provider="http", message_id="m-1", task_token="token-1")
    assert linked["receipts"] == [RECEIPT]
    assert (linked["batch_id"], linked["endpoint_id"], linked["task_token"]) == (BATCH, "e", "token-1")


def test_a_receipt_parked_after_the_link_finds_the_endpoint(book):
    open_endpoint(book, "e")
    book.link_pointer(BATCH, "e", provider="http", message_id="m-1", task_token="token-1")
    parked = book.park_receipt("http", "m-1", RECEIPT)
    assert (parked["batch_id"], parked["endpoint_id"], parked["task_token"]) == (BATCH, "e", "token-1")


def test_a_retried_sender_links_again_with_its_own_token_and_a_link_without_one_keeps_it(book):
    book.link_pointer(BATCH, "e", provider="http", message_id="m-1", task_token="token-1")
    assert book.link_pointer(BATCH, "e", provider="http", message_id="m-1", task_token="token-2")["task_token"] == (
        "token-2")
    assert book.link_pointer(BATCH, "e", provider="http", message_id="m-1", task_token=None)["task_token"] == (
        "token-2")
    assert book.pointer("http", "m-1")["expires_at"] > 0


def test_the_key_pointer_is_apart_from_the_message_pointer(book):
    key = "k" * 40
    assert book.park_keyed_receipt("http", key, RECEIPT)["receipts"] == [RECEIPT]
    linked = book.link_key_pointer(BATCH, "e", provider="http", idempotency_key=key, task_token=None)
    assert (linked["endpoint_id"], linked["receipts"]) == ("e", [RECEIPT])
    assert book.key_pointer("http", key) == linked
    assert book.pointer("http", key) is None
    assert book.key_pointer("other", key) is None
