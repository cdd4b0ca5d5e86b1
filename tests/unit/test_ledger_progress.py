"""The batch's progress version (journey_activity.ledger.progress) on moto's DynamoDB API: moved once
per record made final, and a hint only: failing to move it loses nothing."""

from __future__ import annotations

import logging

from botocore.awsrequest import AWSResponse

from journey_activity.ledger import progress_key
from journey_activity.models.batch import LedgerStatus
from tests.unit.test_ledger_records import BATCH, open_endpoint


def test_the_progress_version_moves_once_per_record_made_final(book):
    assert book.progress(BATCH) == 0
    open_endpoint(book, "a")
    assert book.progress(BATCH) == 0  # an open record is no progress
    assert book.finish(BATCH, "a", LedgerStatus.DELIVERED)[0]
    assert book.progress(BATCH) == 1
    assert not book.finish(BATCH, "a", LedgerStatus.FAILED)[0]  # already final: no write, no move
    assert book.progress(BATCH) == 1
    from journey_activity.models.batch import EndpointResult
    book.record_skipped(BATCH, [EndpointResult(endpoint_id=e, channel="SMS", status=LedgerStatus.SKIPPED)
                                for e in ("s1", "s2")])
    assert book.progress(BATCH) == 3
    # The progress item lives in a partition of its own: the batch's records never include it.
    assert set(book.batch_records(BATCH)) == {"a", "s1", "s2"}
    assert "pk" in progress_key(BATCH)
    assert progress_key(BATCH)["pk"] != BATCH


def test_a_version_that_cannot_be_advanced_is_logged_and_the_record_stays_final(book, caplog):
    def refuse_progress(params, **_):
        if b"progress#" in params["body"]:
            return (AWSResponse("https://aws.invalid", 400, {}, None),
                    {"Error": {"Code": "AccessDeniedException", "Message": "no"},
                     "ResponseMetadata": {"HTTPStatusCode": 400}})
        return None

    open_endpoint(book, "a")
    book.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", refuse_progress)
    with caplog.at_level(logging.WARNING, logger="journey_activity.ledger"):
        applied, record = book.finish(BATCH, "a", LedgerStatus.DELIVERED)
    assert applied
    assert record["status"] == "DELIVERED"
    assert "progress version was not advanced" in caplog.text
    assert book.progress(BATCH) == 0  # the waiting invoker answers it at its last look
