"""The endpoint records (journey_activity.ledger.records) on moto's DynamoDB API: what the invoker
polls, and the send's race protocol (the lease, SENT only from SENDING, final once)."""

from __future__ import annotations

import time

from journey_activity.ledger import Ledger
from journey_activity.models.batch import LedgerStatus

BATCH = "pinpoint-0123"


def open_endpoint(book: Ledger, endpoint_id: str, batch_id: str = BATCH) -> None:
    send, _ = book.begin_send(batch_id, endpoint_id, channel="SMS", provider="http", about={"journey_id": "j" * 600})
    assert send


def test_final_results_returns_only_final_records_not_yet_known(book):
    for endpoint_id in ("open", "delivered", "failed", "known"):
        open_endpoint(book, endpoint_id)
    book.finish(BATCH, "delivered", LedgerStatus.DELIVERED, receipt_status="delivered")
    book.finish(BATCH, "failed", LedgerStatus.FAILED, reason="provider_rejected", error="HTTP 400")
    book.finish(BATCH, "known", LedgerStatus.TIMED_OUT, reason="no_receipt")
    open_endpoint(book, "other", batch_id="pinpoint-other")
    book.finish("pinpoint-other", "other", LedgerStatus.DELIVERED)

    found = book.final_results(BATCH, known={"known"})
    assert set(found) == {"delivered", "failed"}
    assert found["failed"]["status"] == "FAILED"
    assert found["failed"]["reason"] == "provider_rejected"
    assert found["failed"]["channel"] == "SMS"
    assert found["failed"]["attempts"] == 1
    # Only what an answer is made of: no trigger ids travel back on every poll.
    assert "journey_id" not in found["delivered"]
    assert set(book.final_results(BATCH)) == {"delivered", "failed", "known"}
    assert book.final_results(BATCH, known={"delivered", "failed", "known"}) == {}


def test_final_results_with_more_known_endpoints_than_one_filter_can_name(book):
    for number in range(120):
        open_endpoint(book, f"e{number:03d}")
        book.finish(BATCH, f"e{number:03d}", LedgerStatus.DELIVERED)
    known = {f"e{number:03d}" for number in range(110)}
    assert set(book.final_results(BATCH, known=known)) == {f"e{number:03d}" for number in range(110, 120)}


def test_a_leased_send_is_refused_to_another_invocation_until_given_back(book):
    sent, record = book.begin_send(BATCH, "e", channel="SMS", provider="http", lease_seconds=60)
    assert sent
    assert record["attempts"] == 1
    again, as_it_is = book.begin_send(BATCH, "e", channel="SMS", provider="http", lease_seconds=60)
    assert not again
    assert as_it_is["status"] == "SENDING"  # the record as the failed condition found it, no second read
    book.release_send(BATCH, "e")  # the provider never had the message
    retried, record = book.begin_send(BATCH, "e", channel="SMS", provider="http", lease_seconds=60)
    assert retried
    assert record["attempts"] == 2


def test_an_expired_lease_and_a_send_without_one_may_be_begun_again(book):
    assert book.begin_send(BATCH, "e", channel="SMS", provider="http", lease_seconds=0.001)[0]
    time.sleep(0.01)
    assert book.begin_send(BATCH, "e", channel="SMS", provider="http")[0]
    assert book.begin_send(BATCH, "e", channel="SMS", provider="http")[0]  # no lease: a retry of a dead sender


def test_a_sent_or_final_record_is_never_begun_again(book):
    open_endpoint(book, "sent")
    book.mark_sent(BATCH, "sent", provider="http", message_id="m-1", task_token=None)
    open_endpoint(book, "final")
    book.finish(BATCH, "final", LedgerStatus.FAILED, reason="provider_rejected")
    for endpoint_id, status in (("sent", "SENT"), ("final", "FAILED")):
        begun, record = book.begin_send(BATCH, endpoint_id, channel="SMS", provider="http")
        assert not begun
        assert record["status"] == status


def test_a_final_status_written_first_stays_and_the_sender_still_links_its_pointer(book):
    open_endpoint(book, "e")
    book.finish(BATCH, "e", LedgerStatus.DELIVERED, receipt_status="delivered")
    book.release_send(BATCH, "e")  # no longer SENDING: left as it is
    record, pointer = book.mark_sent(BATCH, "e", provider="http", message_id="m-2", task_token="token")
    assert record["status"] == "DELIVERED"
    assert (pointer["batch_id"], pointer["endpoint_id"], pointer["task_token"]) == (BATCH, "e", "token")
    key_pointer = book.mark_outcome_unknown(BATCH, "e", provider="http", idempotency_key="k" * 40, error="lost",
                                            task_token="token")
    assert key_pointer["endpoint_id"] == "e"
    assert book.get(BATCH, "e")["status"] == "DELIVERED"


def test_a_lost_answer_is_sent_without_a_message_id_and_flagged(book):
    open_endpoint(book, "e")
    book.mark_outcome_unknown(BATCH, "e", provider="http", idempotency_key="k" * 40, error="read timeout",
                              task_token=None)
    record = book.get(BATCH, "e")
    assert (record["status"], record["outcome_unknown"], record["last_error"]) == ("SENT", True, "read timeout")
    assert "provider_message_id" not in record


def test_the_first_final_status_wins_and_the_loser_reads_it(book):
    open_endpoint(book, "e")
    assert book.finish(BATCH, "e", LedgerStatus.DELIVERED, receipt_status="delivered")[0]
    applied, record = book.finish(BATCH, "e", LedgerStatus.FAILED, reason="execution_failed")
    assert not applied
    assert record["status"] == "DELIVERED"
    # A record nobody began (the finalizer closing an endpoint never sent) is created final.
    assert book.finish(BATCH, "never-sent", LedgerStatus.FAILED, reason="execution_failed")[0]
    assert book.get(BATCH, "never-sent")["created_at"]


def test_a_note_changes_no_status(book):
    open_endpoint(book, "e")
    assert book.note(BATCH, "e", resume_error="TaskTimedOut", ignored=None)["status"] == "SENDING"
    assert "ignored" not in book.get(BATCH, "e")
