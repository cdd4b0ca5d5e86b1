"""Claims per idempotency key (Connect's IdempotencyToken) on moto's DynamoDB and Step Functions:
nothing is sent by two executions, whatever the grouping, and nothing is left behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from journey_activity import claims
from journey_activity.ledger import Ledger, claim_key
from journey_activity.ledger.table import _to_item
from journey_activity.models.batch import Batch, BatchContext, LedgerStatus, Recipient
from tests.conftest import LEDGER_KEYS

TABLE = "claims-ledger"


@pytest.fixture
def world(fake_aws: None) -> dict[str, Any]:
    import boto3
    from moto.dynamodb.models import dynamodb_backends

    from journey_activity import aws
    from journey_activity_local.engine.dynamodb_patches import _serialize_dynamodb

    aws.reset_clients()
    boto3.client("dynamodb").create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **LEDGER_KEYS)
    # DynamoDB applies each item write atomically; moto does once its requests are serialized.
    _serialize_dynamodb(dynamodb_backends["123456789012"]["us-east-1"])
    machine = boto3.client("stepfunctions").create_state_machine(
        name="claims", definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
        roleArn="arn:aws:iam::123456789012:role/claims")["stateMachineArn"]
    yield {"book": Ledger(TABLE), "machine": machine, "sfn": boto3.client("stepfunctions")}
    aws.reset_clients()


def batch(batch_id: str, *profiles: str, unkeyed: tuple[str, ...] = ()) -> Batch:
    recipients = [Recipient(endpoint_id=p, channel="SMS", address="+14155550123", claim_key=f"token-{p}")
                  for p in profiles]
    recipients += [Recipient(endpoint_id=p, channel="SMS", invalid="bad", invalid_reason="invalid_profile")
                   for p in unkeyed]
    return Batch(context=BatchContext(batch_id=batch_id, source="connect"), recipients=recipients)


def plan(world: dict[str, Any], b: Batch, seconds: float = 5.0) -> claims.ClaimPlan:
    return claims.plan(world["book"], b, claims.execution_exists(world["machine"]), time.monotonic() + seconds)


def start(world: dict[str, Any], planned: claims.ClaimPlan) -> None:
    world["sfn"].start_execution(stateMachineArn=world["machine"], name=planned.batch.context.batch_id, input="{}")


def owners(world: dict[str, Any], *profiles: str) -> dict[str, str]:
    found = world["book"].claims(f"token-{p}" for p in profiles)
    return {p: found[f"token-{p}"]["execution"] for p in profiles if f"token-{p}" in found}


def test_a_new_batch_claims_every_profile_under_its_own_name(world):
    b = batch("connect-x", "p1", "p2", unkeyed=("bad",))
    planned = plan(world, b)
    assert planned.batch == b
    assert planned.foreign == {}
    assert owners(world, "p1", "p2") == {"p1": "connect-x", "p2": "connect-x"}
    start(world, planned)
    # The same batch again (Connect retrying the same invocation) joins its own execution.
    again = plan(world, b)
    assert again.batch == b
    assert again.foreign == {}


def test_endpoints_without_a_key_write_no_claim(world):
    b = Batch(context=BatchContext(batch_id="pinpoint-x", source="pinpoint"),
              recipients=[Recipient(endpoint_id="e1", channel="SMS")])
    assert plan(world, b).batch == b
    assert world["book"].dynamodb.scan(TableName=TABLE)["Count"] == 0


def test_profiles_regrouped_into_another_batch_are_answered_from_their_owner(world):
    first = plan(world, batch("connect-x", "p1", "p2"))
    start(world, first)
    second = plan(world, batch("connect-y", "p2", "p3", unkeyed=("bad",)))
    assert second.foreign == {"p2": "token-p2"}
    name = second.batch.context.batch_id
    assert name.startswith("connect-y-")
    assert len(name) <= 80
    assert [r.endpoint_id for r in second.batch.recipients] == ["p3", "bad"]
    assert owners(world, "p2", "p3") == {"p2": "connect-x", "p3": name}
    # The owner's outcome is the answer, once it is final.
    book = world["book"]
    assert claims.foreign_results(book, second.foreign, time.monotonic() + 0.2) == {}
    book.finish("connect-x", "p2", LedgerStatus.DELIVERED, extra={"channel": "SMS", "provider": "http"})
    results = claims.foreign_results(book, second.foreign, time.monotonic() + 2)
    assert results["p2"].status == LedgerStatus.DELIVERED


def test_a_claim_whose_execution_never_started_is_taken_over_after_the_grace(world, monkeypatch):
    monkeypatch.setattr(claims, "GRACE_SECONDS", 0.5)
    crashed = plan(world, batch("connect-x", "p1", "p2"))  # claimed, then the invoker died: never started
    assert crashed.foreign == {}
    keys = ["token-p1", "token-p2"]
    claimed_at = {key: int(claim["claimed_at"]) for key, claim in world["book"].claims(keys).items()}
    retry = plan(world, batch("connect-y", "p2", "p1"))  # Connect's retry, grouped differently
    # Taken over only once the claims were the grace old (the ledger's clock, not this test's).
    taken_at = {key: int(claim["claimed_at"]) for key, claim in world["book"].claims(keys).items()}
    assert all(taken_at[key] - claimed_at[key] >= 500 for key in claimed_at), (claimed_at, taken_at)
    assert retry.foreign == {}
    assert retry.batch.context.batch_id == "connect-y"
    assert owners(world, "p1", "p2") == {"p1": "connect-y", "p2": "connect-y"}


def test_a_fresh_claim_of_a_live_invoker_is_not_taken_over(world, monkeypatch):
    monkeypatch.setattr(claims, "GRACE_SECONDS", 30)
    plan(world, batch("connect-x", "p1"))
    retry = plan(world, batch("connect-y", "p1"), seconds=0.5)  # its deadline comes first
    assert retry.foreign == {"p1": "token-p1"}
    assert retry.batch.recipients == []


def test_a_started_owner_keeps_its_claims_however_old(world, monkeypatch):
    monkeypatch.setattr(claims, "GRACE_SECONDS", 0.0)
    start(world, plan(world, batch("connect-x", "p1")))
    assert plan(world, batch("connect-y", "p1")).foreign == {"p1": "token-p1"}


def test_the_same_batch_twice_at_once_claims_once_and_names_one_execution(world):
    b = batch("connect-x", *(f"p{i}" for i in range(30)))
    results: list[claims.ClaimPlan] = []
    threads = [threading.Thread(target=lambda: results.append(plan(world, b))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.batch for p in results] == [b] * 4
    assert all(p.foreign == {} for p in results)


def test_the_same_profiles_split_differently_at_once_are_each_owned_by_one_execution(world, monkeypatch):
    # No execution starts here: past the grace, a finished plan's claims would be abandoned ones,
    # rightly taken over (on a loaded machine three plans can take that long). Not this test's case.
    monkeypatch.setattr(claims, "GRACE_SECONDS", 600.0)
    profiles = [f"p{i}" for i in range(40)]
    groups = {"connect-a": profiles[:25], "connect-b": profiles[15:], "connect-c": profiles[::2]}
    results: dict[str, claims.ClaimPlan] = {}

    def run(name: str) -> None:
        results[name] = plan(world, batch(name, *groups[name]))

    threads = [threading.Thread(target=run, args=(name,)) for name in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent: dict[str, str] = {}
    for name, planned in results.items():
        execution = planned.batch.context.batch_id
        for recipient in planned.batch.recipients:
            assert recipient.endpoint_id not in sent, (recipient.endpoint_id, sent.get(recipient.endpoint_id), name)
            sent[recipient.endpoint_id] = execution
        # Every profile of every batch is either its own or answered from its owner.
        assert {r.endpoint_id for r in planned.batch.recipients} | set(planned.foreign) == set(groups[name])
    assert set(sent) == set(profiles)
    assert owners(world, *profiles) == sent
    for planned in results.values():
        for profile, key in planned.foreign.items():
            assert key == f"token-{profile}"
            assert owners(world, profile)[profile] == sent[profile]


def calls_of(world: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB call the ledger's client makes from now on: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    world["book"].dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, params, **_: calls.append((model.name, dict(params))))
    return calls


def test_fresh_claims_are_one_conditional_write_each_then_the_fence_read_only(world):
    calls = calls_of(world)
    planned = plan(world, batch("connect-x", *(f"p{i}" for i in range(30))))
    assert planned.foreign == {}
    # No read before the writes (nor a transaction): 30 writes, each conditional, then the fence.
    assert [name for name, _ in calls] == ["PutItem"] * 30 + ["BatchGetItem"]
    assert all("ConditionExpression" in params for _, params in calls[:30])
    assert owners(world, "p0", "p29") == {"p0": "connect-x", "p29": "connect-x"}


def test_a_claim_a_live_owner_holds_is_answered_from_its_failed_write_without_a_read(world):
    start(world, plan(world, batch("connect-x", "p1")))
    calls = calls_of(world)
    second = plan(world, batch("connect-y", "p1", "p2"))
    assert second.foreign == {"p1": "token-p1"}
    assert [r.endpoint_id for r in second.batch.recipients] == ["p2"]
    names = [name for name, _ in calls]
    # Round one: both written (p1's write fails and hands back connect-x's claim); round two: p2
    # pointed at the part's own name; then the fence, the only read.
    assert names == ["PutItem"] * 3 + ["BatchGetItem"]
    assert owners(world, "p1", "p2") == {"p1": "connect-x", "p2": second.batch.context.batch_id}


def test_an_abandoned_claim_is_taken_over_by_a_write_at_the_version_its_failed_write_handed_back(world, monkeypatch):
    monkeypatch.setattr(claims, "GRACE_SECONDS", 0.3)
    plan(world, batch("connect-x", "p1"))  # claimed, then the invoker died: never started
    crashed = world["book"].claims(["token-p1"])["token-p1"]
    calls = calls_of(world)
    retry = plan(world, batch("connect-y", "p1"))
    assert retry.foreign == {}
    assert [name for name, _ in calls] == ["PutItem", "PutItem", "BatchGetItem"]
    takeover = calls[1][1]
    assert "#version = :version" in takeover["ConditionExpression"]
    assert takeover["ExpressionAttributeValues"][":version"] == {"S": crashed["version"]}
    assert owners(world, "p1") == {"p1": "connect-y"}


def test_a_claim_taken_over_while_this_invoker_was_slow_is_left_out_by_the_fence(world, monkeypatch):
    book = world["book"]
    real = book.take_claims
    taken_over: list[str] = []

    def then_taken_over(*args: Any, **kwargs: Any) -> Any:
        outcome = real(*args, **kwargs)
        if not taken_over:
            # Past the grace, another invoker takes p1 over at the version it read.
            seen = book.claims(["token-p1"])["token-p1"]
            assert book.take_claim("token-p1", execution="connect-y", endpoint_id="p1", mine=(),
                                   version=seen["version"])
            taken_over.append("p1")
        return outcome

    monkeypatch.setattr(book, "take_claims", then_taken_over)
    planned = plan(world, batch("connect-x", "p1", "p2"))
    assert planned.foreign == {"p1": "token-p1"}
    assert [r.endpoint_id for r in planned.batch.recipients] == ["p2"]
    assert owners(world, "p1", "p2") == {"p1": "connect-y", "p2": planned.batch.context.batch_id}


def test_invocations_taking_over_the_same_abandoned_claims_at_once_never_both_hold_one(world, monkeypatch):
    # The racers are alive (their own claims never look abandoned); the crashed invoker's claims are
    # an hour old and its execution never started.
    monkeypatch.setattr(claims, "GRACE_SECONDS", 600)
    profiles = [f"p{i}" for i in range(20)]
    plan(world, batch("connect-crashed", *profiles))  # never started
    book = world["book"]
    for profile in profiles:
        book.dynamodb.update_item(TableName=TABLE, Key=_to_item(claim_key(f"token-{profile}")),
                                  UpdateExpression="SET claimed_at = :old",
                                  ExpressionAttributeValues={":old": {"N": str(int((time.time() - 3600) * 1000))}})
    groups = {"connect-a": profiles, "connect-b": profiles[::-1], "connect-c": profiles[5:15]}
    results: dict[str, claims.ClaimPlan] = {}

    def run(name: str) -> None:
        results[name] = plan(world, batch(name, *groups[name]))

    threads = [threading.Thread(target=run, args=(name,)) for name in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent: dict[str, str] = {}
    for name, planned in results.items():
        for recipient in planned.batch.recipients:
            assert recipient.endpoint_id not in sent, (recipient.endpoint_id, name)
            sent[recipient.endpoint_id] = planned.batch.context.batch_id
        assert {r.endpoint_id for r in planned.batch.recipients} | set(planned.foreign) == set(groups[name])
    assert set(sent) == set(profiles)  # every abandoned claim taken over, each by one
    assert owners(world, *profiles) == sent
