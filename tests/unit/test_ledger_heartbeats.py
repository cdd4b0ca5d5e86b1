"""Heartbeat claims (journey_activity.ledger.heartbeats) on moto's DynamoDB API: one claim an
interval, on an existing record only. (What a receipt does with it: test_heartbeats.py.)"""

from __future__ import annotations

from tests.unit.test_ledger_records import BATCH, open_endpoint


def test_a_heartbeat_is_claimed_once_an_interval_from_its_last_claim(book):
    open_endpoint(book, "e")
    assert book.claim_heartbeat(BATCH, "e", 1_000.0, 30.0)
    assert not book.claim_heartbeat(BATCH, "e", 1_029.9, 30.0)
    assert book.claim_heartbeat(BATCH, "e", 1_030.0, 30.0)  # exactly an interval later
    assert book.get(BATCH, "e")["heartbeat_at"] == 1_030_000
    assert not book.claim_heartbeat(BATCH, "absent", 1_000.0, 30.0)
    assert book.get(BATCH, "absent") is None
