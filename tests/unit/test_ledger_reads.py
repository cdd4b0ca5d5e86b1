"""The ledger's reads on moto's DynamoDB API: what the invoker polls, and where a large
template lives."""

from __future__ import annotations

import json

import boto3

from journey_activity.ledger import Ledger, key_problem, pack_recipient, recipient_problem, unpack_recipient
from journey_activity.models.batch import LedgerStatus, Recipient
from tests.conftest import LEDGER_KEYS

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


# -- recipients: the endpoints' addresses and profiles, out of the execution -------------------


class CountingClient:
    """moto's DynamoDB client, counting the reads and how consistent they were."""

    def __init__(self, client, miss_eventually: int = 0):
        self.client, self.calls, self.miss_eventually = client, [], miss_eventually

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(**request):
            consistent = request.get("ConsistentRead")
            if name == "batch_get_item":
                consistent = next(iter(request["RequestItems"].values())).get("ConsistentRead")
            self.calls.append((name, consistent))
            if name in ("get_item", "batch_get_item") and not consistent and self.miss_eventually > 0:
                # A replica that has not caught up yet: the item is not there.
                self.miss_eventually -= 1
                return {"Responses": {}} if name == "batch_get_item" else {}
            return method(**request)

        return call


def recipient(endpoint_id: str, address: str = "+14155550100", **attributes) -> Recipient:
    profile = {"Address": address, "Attributes": {k: [v] for k, v in attributes.items()}}
    return Recipient(endpoint_id=endpoint_id, channel="SMS", address=address, profile=profile)


def test_recipients_are_kept_compressed_and_read_back(book):
    people = [recipient(f"e{n}", f"+1415555{n:04d}", City="Seattle", Interest="Music " * 200) for n in range(30)]
    book.put_recipients(BATCH, {r.endpoint_id: pack_recipient(r) for r in people})
    stored = book.recipient(BATCH, "e7")
    assert stored is not None
    assert stored.address == "+14155550007"
    assert stored.profile == people[7].profile
    assert book.recipient(BATCH, "nobody") is None
    assert book.recipient_addresses(BATCH, ["e1", "e29", "nobody"]) == {"e1": "+14155550001",
                                                                       "e29": "+14155550029"}
    # Compressed: fewer write and read units than the profile's JSON would cost.
    assert len(pack_recipient(people[0])) < len(json.dumps(people[0].profile)) / 5
    # In a partition of its own: a batch's endpoint records never include them.
    assert book.batch_records(BATCH) == {}


def test_recipients_and_templates_are_read_eventually_consistent_first(fake_aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    counting = CountingClient(client)
    book = Ledger("ledger", dynamodb=counting)
    book.put_recipients(BATCH, {"a": pack_recipient(recipient("a")), "b": pack_recipient(recipient("b"))})
    reference = book.put_template(BATCH, "x" * 10_000)
    counting.calls.clear()
    assert book.recipient(BATCH, "a") is not None
    assert book.get_template(BATCH, reference) == "x" * 10_000
    assert book.recipient_addresses(BATCH, ["a", "b"]) == {"a": "+14155550100", "b": "+14155550100"}
    assert counting.calls == [("get_item", False), ("get_item", False), ("batch_get_item", False)]


def test_a_stale_eventually_consistent_miss_is_read_again_strongly(fake_aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    counting = CountingClient(client)
    book = Ledger("ledger", dynamodb=counting)
    book.put_recipients(BATCH, {"a": pack_recipient(recipient("a"))})
    counting.calls.clear()
    counting.miss_eventually = 2
    assert book.recipient(BATCH, "a") is not None
    assert book.recipient_addresses(BATCH, ["a"]) == {"a": "+14155550100"}
    assert counting.calls == [("get_item", False), ("get_item", True), ("batch_get_item", False),
                              ("batch_get_item", True)]


def test_writing_the_same_recipients_again_changes_nothing(book):
    packed = {"a": pack_recipient(recipient("a", City="Oslo"))}
    book.put_recipients(BATCH, packed)
    book.put_recipients(BATCH, packed)  # a retried invocation
    items = boto3.client("dynamodb").query(TableName="ledger", KeyConditionExpression="pk = :pk",
                                           ExpressionAttributeValues={":pk": {"S": f"rcpt#{BATCH}"}})["Items"]
    assert [item["sk"]["S"] for item in items] == ["a"]
    assert unpack_recipient(bytes(items[0]["data"]["B"])).profile["Attributes"] == {"City": ["Oslo"]}


def test_what_the_ledger_cannot_keep_is_named():
    assert "longer than 1024 bytes" in (key_problem("e" * 1025) or "")
    assert key_problem("é" * 512) is None
    assert "above the 350000 kept" in (recipient_problem(b"x" * 350_001) or "")
    assert recipient_problem(b"x" * 350_000) is None
