"""Large message templates (journey_activity.ledger.templates) on moto's DynamoDB API: kept apart
from the batch's records, read eventually consistent first."""

from __future__ import annotations

from journey_activity.models.batch import LedgerStatus
from tests.unit.test_ledger_records import BATCH, open_endpoint


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


def test_a_template_that_is_not_there_is_none(book):
    assert book.get_template(BATCH, "#template") is None
