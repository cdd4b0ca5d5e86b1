"""The ledger's reads on moto's DynamoDB API: what the invoker polls, and where a large
template lives."""

from __future__ import annotations

import boto3
import pytest

from journey_activity.ledger import Ledger
from journey_activity.models.batch import LedgerStatus
from tests.conftest import LEDGER_KEYS

BATCH = "pinpoint-0123"


@pytest.fixture
def book(fake_aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    return Ledger("ledger", dynamodb=client)


def open_endpoint(book: Ledger, endpoint_id: str, batch_id: str = BATCH) -> None:
    send, _ = book.begin_send(batch_id, endpoint_id, channel="SMS", provider="http", task_token="t" * 600)
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
    # Only what an answer is made of: no task token travels back on every poll.
    assert "task_token" not in found["delivered"]
    assert set(book.final_results(BATCH)) == {"delivered", "failed", "known"}
    assert book.final_results(BATCH, known={"delivered", "failed", "known"}) == {}


def test_final_results_with_more_known_endpoints_than_one_filter_can_name(book):
    for number in range(120):
        open_endpoint(book, f"e{number:03d}")
        book.finish(BATCH, f"e{number:03d}", LedgerStatus.DELIVERED)
    known = {f"e{number:03d}" for number in range(110)}
    assert set(book.final_results(BATCH, known=known)) == {f"e{number:03d}" for number in range(110, 120)}


def test_a_large_template_lives_apart_from_the_batch_records(book):
    open_endpoint(book, "#template")  # an endpoint id is any string, even the template's key
    reference = book.put_template(BATCH, "Hello {{Address}} " + "x" * 300_000)
    assert book.get_template(BATCH, reference).startswith("Hello {{Address}} xxx")
    records = book.batch_records(BATCH)
    assert set(records) == {"#template"}
    assert records["#template"]["status"] == "SENDING"
    book.finish(BATCH, "#template", LedgerStatus.DELIVERED)
    assert set(book.final_results(BATCH)) == {"#template"}
    assert book.get_template(BATCH, reference).startswith("Hello {{Address}} xxx")
