"""The local run's DynamoDB meter prices calls as DynamoDB bills them (reads per 4 KB, writes per
1 KB, a Query by every item its key condition reads, a failed conditional write still billed)."""

from __future__ import annotations

from journey_activity.models.batch import LedgerStatus
from journey_activity_local.engine import dynamodb_units
from journey_activity_local.engine.dynamodb_units import item_size, metered


def test_item_sizes_follow_dynamodbs_rules():
    assert item_size({"pk": {"S": "abc"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 3 + 1  # 5 significant digits: 3 bytes, plus 1
    assert item_size({"n": {"N": "-0.00120"}}) == 1 + 1 + 1  # "12"
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"é": {"S": "€"}}) == 2 + 3


def test_reads_and_writes_are_priced_from_the_items_they_touch(book):
    large = "t" * 5000  # a record of about 5 KB: 2 read units, 5-6 write units
    with metered() as units:
        book.begin_send("b", "e1", channel="SMS", provider="http", about={"journey_id": large})
    assert units["other_wcu"] == 6
    with metered() as units:
        book.get("b", "e1")
    assert units == {"other_calls": 1, "other_rcu": 2.0, "other_wcu": 0.0}
    with metered() as units:
        assert book.finish("b", "e1", LedgerStatus.DELIVERED)[0]
        applied, record = book.finish("b", "e1", LedgerStatus.FAILED)  # a failed condition
        assert not applied
        assert record["status"] == "DELIVERED"  # the item as it is, with the failure: no read
    # finish: 6 (record) + 1 (progress item); the failed conditional write still costs 6.
    assert units["other_wcu"] == 6 + 6
    assert units["progress_wcu"] == 1
    assert units["other_rcu"] == 0


def test_a_query_costs_every_item_of_the_partition_whatever_its_filter_and_a_progress_read_one(book):
    for number in range(4):
        book.begin_send("b", f"e{number}", channel="SMS", provider="http", about={"journey_id": "t" * 3000})
    book.finish("b", "e0", LedgerStatus.DELIVERED)
    with metered() as units:
        assert set(book.final_results("b")) == {"e0"}  # one item returned, four of ~3.1 KB read
    assert units == {"poll_calls": 1, "poll_rcu": 4.0, "poll_wcu": 0.0}
    with metered() as units:
        assert book.progress("b") == 1
        assert book.progress("nothing-final-yet") == 0
    assert units == {"poll_calls": 2, "poll_rcu": 2.0, "poll_wcu": 0.0}
    dynamodb_units.reset()


def test_a_groups_check_of_its_open_records_is_not_the_invokers_polling(book):
    book.begin_send("b", "e0", channel="SMS", provider="http", about={"group": "g0"})
    with metered() as units:
        assert [record["sk"] for record in book.open_in_group("b", "g0")] == ["e0"]
    assert units == {"other_calls": 1, "other_rcu": 1.0, "other_wcu": 0.0}
    dynamodb_units.reset()


def test_a_claim_costs_one_write_unit_and_a_transactions_writes_twice_that(book):
    """The invoker's claims: one conditional PutItem each, one write unit per KB, a lost claim's
    failed write too, and no read (the failed write hands back the claim). The same write in a
    TransactWriteItems would cost two units per KB of each item, as DynamoDB bills a transactional
    write."""
    with metered() as units:
        taken = book.take_claims([("e1", "claim-1", None), ("e2", "claim-2", None)], execution="x1", mine=["x1"])
        lost = book.take_claims([("e2", "claim-2", None)], execution="x2", mine=["x2"])
    assert taken == {"claim-1": None, "claim-2": None}
    assert lost["claim-2"]["execution"] == "x1"
    assert units == {"other_calls": 3, "other_rcu": 0.0, "other_wcu": 3.0}
    put = book._claim_put("claim-3", execution="x3", endpoint_id="e3", mine=["x3"], version=None)
    with metered() as units:
        book.dynamodb.transact_write_items(TransactItems=[{"Put": put}])
    assert units["other_wcu"] == 2
    dynamodb_units.reset()
