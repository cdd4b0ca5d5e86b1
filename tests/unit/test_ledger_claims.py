"""Claims' items (journey_activity.ledger.claims) on moto's DynamoDB API: hashed keys, claims taken one
conditional write each, and the conditions that let one execution hold each. (The policy over them:
test_claims.py.)"""

from __future__ import annotations

from journey_activity.ledger import claim_key
from tests.unit.test_claims import world  # noqa: F401 - fixture


def test_claim_keys_are_hashed_into_their_own_partition():
    key = claim_key("x" * 5000)
    assert key["pk"].startswith("claim#")
    assert len(key["pk"]) == 6 + 64
    assert key["sk"] == "#claim"


def test_claims_are_written_one_each_and_those_held_elsewhere_come_back_as_they_are(world):  # noqa: F811 - imported
    book = world["book"]
    calls: list[str] = []
    book.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    held = {"token-p007", "token-p120", "token-p149"}
    for key in held:
        assert book.take_claim(key, execution="someone-else", endpoint_id="x", mine=())
    versions = {key: claim["version"] for key, claim in book.claims(held).items()}
    calls.clear()
    wanted = [(f"p{index:03d}", f"token-p{index:03d}", None) for index in range(150)]
    taken = book.take_claims(wanted, execution="mine", mine=["mine"])
    # One PutItem per claim (many at once), no transaction and no read: a lost claim's failed
    # write hands back the claim as it is.
    assert calls == ["PutItem"] * 150
    assert set(taken) == {key for _, key, _ in wanted}
    lost = {key: claim for key, claim in taken.items() if claim is not None}
    assert set(lost) == held
    for key, claim in lost.items():
        assert claim["execution"] == "someone-else"
        assert claim["version"] == versions[key]
        assert claim["claimed_at"] > 0
    claims_now = book.claims([key for _, key, _ in wanted])
    assert {key for key, claim in claims_now.items() if claim["execution"] == "someone-else"} == held
    assert {key for key, claim in claims_now.items() if claim["execution"] == "mine"} == set(taken) - held
    # The same batch again (a retried invocation) finds its own claims: all taken, nothing moved.
    again = book.take_claims(wanted, execution="mine", mine=["mine"])
    assert {key for key, claim in again.items() if claim is not None} == held


def test_two_profiles_sharing_a_key_are_claimed_once(book):
    """A malformed batch whose profiles share an IdempotencyToken: the key is claimed once (one
    write), and both profiles get its answer."""
    calls: list[str] = []
    book.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    taken = book.take_claims([("p-1", "token-a", None), ("p-2", "token-a", None), ("p-3", "token-b", None)],
                             execution="exec-1", mine=set())
    assert taken == {"token-a": None, "token-b": None}
    assert calls == ["PutItem"] * 2


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


def test_the_clients_keep_a_connection_for_every_call_the_functions_threads_make_at_once():
    """16 claims (or a group's 16 sends) at once on botocore's default pool of 10 connections would
    open connections only to drop them ("Connection pool is full")."""
    from journey_activity import aws
    from journey_activity.handlers.send import GROUP_WORKERS
    from journey_activity.ledger.claims import CLAIM_WORKERS

    assert aws.client_config().max_pool_connections >= max(CLAIM_WORKERS, GROUP_WORKERS)
