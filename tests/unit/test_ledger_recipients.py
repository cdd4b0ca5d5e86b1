"""The recipients in parts (journey_activity.ledger.recipients) on moto's DynamoDB API: the
endpoints' addresses and profiles, out of the execution, compressed and read back cheaply."""

from __future__ import annotations

import json

import boto3

from journey_activity.ledger import Ledger, key_problem, pack_recipient, recipient_problem
from journey_activity.models.batch import Recipient
from tests.conftest import LEDGER_KEYS

BATCH = "pinpoint-0123"


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


def test_recipients_are_kept_compressed_in_parts_and_read_back(book):
    people = [recipient(f"e{n}", f"+1415555{n:04d}", City="Seattle", Interest="Music " * 200) for n in range(30)]
    parts = book.put_recipients(BATCH, {r.endpoint_id: r for r in people})
    stored = book.recipient(BATCH, "e7", parts["e7"])
    assert stored is not None
    assert stored.address == "+14155550007"
    assert stored.profile == people[7].profile
    assert book.recipient(BATCH, "nobody", parts["e7"]) is None
    assert book.recipient(BATCH, "e7", 99) is None
    wanted = {"e1": parts["e1"], "e29": parts["e29"], "nobody": 0}
    assert book.recipient_addresses(BATCH, wanted) == {"e1": "+14155550001", "e29": "+14155550029"}
    # Compressed: fewer write and read units than the profile's JSON would cost.
    assert len(pack_recipient(people[0])) < len(json.dumps(people[0].profile)) / 5
    # In a partition of its own: a batch's endpoint records never include them.
    assert book.batch_records(BATCH) == {}


def test_small_profiles_share_parts_of_one_read_unit_and_a_large_one_has_its_own(book):
    from journey_activity.ledger import PART_BYTES, plan_parts
    from journey_activity_local.engine.dynamodb_units import metered

    people = {f"e{n:02d}": recipient(f"e{n:02d}", f"+1415555{n:04d}", FirstName=f"Name{n}") for n in range(50)}
    people["big"] = recipient("big", Notes=json.dumps([str(n) * 7 for n in range(4000)]))
    with metered() as units:
        parts = book.put_recipients(BATCH, people)
    assert parts == plan_parts({e: pack_recipient(r) for e, r in people.items()})  # the same plan every time
    assert parts["big"] not in {parts[e] for e in people if e != "big"}
    # Fifty small profiles in a few write units, not fifty (DynamoDB bills a write per KB).
    small_parts = {parts[e] for e in people if e != "big"}
    assert len(small_parts) <= 3
    assert units["other_wcu"] < 25
    with metered() as units:
        assert book.recipient(BATCH, "e42", parts["e42"]).address == "+14155550042"
    assert units["other_rcu"] == 0.5  # a part is one eventually consistent read unit
    assert all(len(pack_recipient(people[e])) <= PART_BYTES for e in people if e != "big")


def test_an_endpoint_whose_reference_has_no_part_is_read_from_its_own_item(book):
    """An execution started before parts: its endpoints' references carry no part."""
    import zlib

    data = zlib.compress(json.dumps({"address": "+14155550111", "profile": {"a": 1}}).encode())
    boto3.client("dynamodb").put_item(TableName="ledger", Item={"pk": {"S": f"rcpt#{BATCH}"}, "sk": {"S": "old"},
                                                                "data": {"B": data}})
    assert book.recipient(BATCH, "old").address == "+14155550111"
    parts = book.put_recipients(BATCH, {"new": recipient("new", "+14155550222")})
    assert book.recipient_addresses(BATCH, {"old": None, "new": parts["new"]}) == {
        "old": "+14155550111", "new": "+14155550222"}


def test_recipients_and_templates_are_read_eventually_consistent_first(fake_aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    counting = CountingClient(client)
    book = Ledger("ledger", dynamodb=counting)
    parts = book.put_recipients(BATCH, {"a": recipient("a"), "b": recipient("b")})
    reference = book.put_template(BATCH, "x" * 10_000)
    counting.calls.clear()
    assert book.recipient(BATCH, "a", parts["a"]) is not None
    assert book.get_template(BATCH, reference) == "x" * 10_000
    assert book.recipient_addresses(BATCH, parts) == {"a": "+14155550100", "b": "+14155550100"}
    assert counting.calls == [("get_item", False), ("get_item", False), ("batch_get_item", False)]


def test_a_stale_eventually_consistent_miss_is_read_again_strongly(fake_aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    counting = CountingClient(client)
    book = Ledger("ledger", dynamodb=counting)
    parts = book.put_recipients(BATCH, {"a": recipient("a")})
    counting.calls.clear()
    counting.miss_eventually = 2
    assert book.recipient(BATCH, "a", parts["a"]) is not None
    assert book.recipient_addresses(BATCH, parts) == {"a": "+14155550100"}
    assert counting.calls == [("get_item", False), ("get_item", True), ("batch_get_item", False),
                              ("batch_get_item", True)]


def test_writing_the_same_recipients_again_changes_nothing(book):
    kept = {"a": recipient("a", City="Oslo")}
    assert book.put_recipients(BATCH, kept) == book.put_recipients(BATCH, kept) == {"a": 0}  # a retried invocation
    items = boto3.client("dynamodb").query(TableName="ledger", KeyConditionExpression="pk = :pk",
                                           ExpressionAttributeValues={":pk": {"S": f"parts#{BATCH}"}})["Items"]
    assert [item["sk"]["S"] for item in items] == ["00000"]
    assert book.recipient(BATCH, "a", 0).profile["Attributes"] == {"City": ["Oslo"]}


def test_what_the_ledger_cannot_keep_is_named():
    assert "longer than 1024 bytes" in (key_problem("e" * 1025) or "")
    assert key_problem("é" * 512) is None
    assert "above the 350000 kept" in (recipient_problem(b"x" * 350_001) or "")
    assert recipient_problem(b"x" * 350_000) is None
