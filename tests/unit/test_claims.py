"""Claims per idempotency key (Connect's IdempotencyToken) on moto's DynamoDB and Step Functions:
nothing is sent by two executions, whatever the grouping, and nothing is left behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from journey_activity import claims
from journey_activity.ledger import Ledger
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
    began = time.monotonic()
    retry = plan(world, batch("connect-y", "p2", "p1"))  # Connect's retry, grouped differently
    assert time.monotonic() - began >= 0.3  # it waited for the fresh claims to age
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


def test_the_same_profiles_split_differently_at_once_are_each_owned_by_one_execution(world):
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
