"""Claims' items (journey_activity.ledger.claims) on moto's DynamoDB API: hashed keys, claims taken a
hundred at a time, and the conditions that let one execution hold each. (The policy over them:
test_claims.py.)"""

from __future__ import annotations

from journey_activity.ledger import claim_key
from tests.unit.test_claims import world  # noqa: F401 - fixture


def test_claim_keys_are_hashed_into_their_own_partition():
    key = claim_key("x" * 5000)
    assert key["pk"].startswith("claim#")
    assert len(key["pk"]) == 6 + 64
    assert key["sk"] == "#claim"


def test_claims_are_taken_a_hundred_at_a_time_and_those_held_elsewhere_are_told_apart(world):  # noqa: F811 - imported
    book = world["book"]
    calls: list[str] = []
    book.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    held = {"token-p007", "token-p120", "token-p149"}
    for key in held:
        assert book.take_claim(key, execution="someone-else", endpoint_id="x", mine=())
    calls.clear()
    wanted = [(f"p{index:03d}", f"token-p{index:03d}", None) for index in range(150)]
    taken = book.take_claims(wanted, execution="mine", mine=["mine"])
    # Two transactions, each retried once without the claims another holds: 4 calls for 150 claims.
    assert calls == ["TransactWriteItems"] * 4
    assert {key for key, ok in taken.items() if not ok} == held
    assert sum(taken.values()) == 147
    claims_now = book.claims([key for _, key, _ in wanted])
    assert {key for key, claim in claims_now.items() if claim["execution"] == "someone-else"} == held
    # The same batch again (a retried invocation) finds its own claims: all taken, nothing moved.
    assert sum(book.take_claims(wanted, execution="mine", mine=["mine"]).values()) == 147


def test_two_profiles_sharing_a_key_are_claimed_in_one_transaction_once(book):
    """A malformed batch whose profiles share an IdempotencyToken: DynamoDB refuses a transaction with
    two actions on one item, so the key is claimed once and both profiles get its answer."""
    taken = book.take_claims([("p-1", "token-a", None), ("p-2", "token-a", None), ("p-3", "token-b", None)],
                             execution="exec-1", mine=set())
    assert taken == {"token-a": True, "token-b": True}


def test_a_claim_is_taken_when_new_when_already_mine_or_still_at_the_version_read(book):
    assert book.take_claim("token-a", execution="first", endpoint_id="p", mine=())
    assert book.take_claim("token-a", execution="first-2", endpoint_id="p", mine=["first"])  # the same invocation
    assert not book.take_claim("token-a", execution="other", endpoint_id="p", mine=())
    seen = book.claims(["token-a"])["token-a"]
    assert seen["execution"] == "first-2"
    # Taking over an abandoned claim is a compare-and-set on its version: of two at once, one wins.
    assert book.take_claim("token-a", execution="taker-1", endpoint_id="p", mine=(), version=seen["version"])
    assert not book.take_claim("token-a", execution="taker-2", endpoint_id="p", mine=(), version=seen["version"])
    assert book.claims(["token-a", "token-none"]) == {"token-a": book.claims(["token-a"])["token-a"]}
    assert book.claims(["token-a"])["token-a"]["execution"] == "taker-1"
