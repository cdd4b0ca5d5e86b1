"""The ledger's table base (journey_activity.ledger.table): one update request serves UpdateItem and
a transaction's Update, a failed condition answers with the item as it is, and items keep their TTL."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from journey_activity.ledger.table import Table, _from_item, _item_as_it_is, _to_item


def test_an_update_request_names_every_attribute_and_asks_for_the_item_on_a_failed_condition():
    request = Table("ledger")._update_request(
        _to_item({"pk": "b", "sk": "e"}), {"status": "SENT"}, add={"attempts": 1},
        if_not_exists={"created_at": "now"}, append={"receipts": [{"status": "delivered"}]},
        condition="#status = :sending", condition_values={":sending": "SENDING"})
    assert request["UpdateExpression"] == ("SET #s0 = :s0, #n0 = if_not_exists(#n0, :n0), "
                                           "#l0 = list_append(if_not_exists(#l0, :empty), :l0) ADD #a0 :a0")
    assert request["ExpressionAttributeNames"]["#status"] == "status"
    assert "#pk" not in request["ExpressionAttributeNames"]  # only the aliases the condition uses
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert "ReturnValues" not in request  # a transaction's Update takes none
    assert "ConditionExpression" not in Table("ledger")._update_request(_to_item({"pk": "b", "sk": "e"}), {"a": 1})


def test_numbers_come_back_whole_and_none_is_never_written():
    assert _to_item({"a": None, "b": 2}) == {"b": {"N": "2"}}
    assert _from_item({"b": {"N": "2"}}) == {"b": 2}
    assert _from_item({}) is None


def test_a_failed_condition_s_item_is_read_from_the_error():
    error = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}, "Item": {"status": {"S": "SENT"}}},
                        "UpdateItem")
    assert _item_as_it_is(error) == {"status": "SENT"}


@pytest.mark.parametrize("days", [1, 100])
def test_items_expire_the_configured_days_after_their_write(days):
    assert abs(Table("ledger", ttl_days=days)._expires_at() - (time.time() + days * 86_400)) < 5
