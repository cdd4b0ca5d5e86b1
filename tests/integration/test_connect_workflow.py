"""Amazon Connect's custom action end to end: the real ASL on moto's engine, the real handlers
behind the local Lambda endpoint, the provider stand-in and signed receipts."""

from __future__ import annotations

import copy
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from journey_activity.triggers import connect

from .conftest import load_event

pytestmark = pytest.mark.integration

ACTIONS = {"Renewal reminder": {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName|there}}, your "
                                                              "{{Profile.attributes.plan|}} plan renews soon."}}
EXAMPLE_IDS = {"maria": "5f0c2a9b8e714d3fa6b1c4e2d7f80a91", "kenji": "a2e94c1d0b3f4a7e8d65c9b0f1e2d3c4",
               "bad": "c7d1e0f2a3b44c5d9e6f7a8b9c0d1e2f", "no_phone": "0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b",
               "bad_phone": "9b8a7f6e5d4c4b3a2f1e0d9c8b7a6f5e"}


def result_data(response: dict[str, Any]) -> dict[str, dict[str, str]]:
    entries = response["Items"]["CustomerProfiles"]
    ids = [entry["Id"] for entry in entries]
    assert len(ids) == len(set(ids)), "a profile answered twice"
    return {entry["Id"]: entry["ResultData"] for entry in entries}


def profile(index: int) -> dict[str, Any]:
    profile_id = hashlib.md5(str(index).encode()).hexdigest()  # noqa: S324 - 32 hex characters, like Connect's ids
    data = {"profileId": profile_id, "firstName": f"P{index}", "mobilePhoneNumber": f"+1415555{index:04d}"}
    return {"ProfileId": profile_id, "CustomerData": json.dumps(data),
            "IdempotencyToken": hashlib.sha256(f"token-{index}".encode()).hexdigest()}


def event_of(indexes: list[int], action: str = "Renewal reminder") -> dict[str, Any]:
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-1", "RunId": "c-1#2026-11-23T09-00-00Z",
                                                       "ActionId": action, "CampaignName": "renewals"}},
            "Items": {"CustomerProfiles": [profile(index) for index in indexes]}}


def sent_per_address(local: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for send in local.provider.sends:
        counts[send["address"]] = counts.get(send["address"], 0) + 1
    return counts


@pytest.fixture
def local(make_local):
    # Deadline headroom: several executions at once on a shared machine; the answers are asserted final.
    return make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, deadline_seconds=30)


def test_the_example_journey_is_answered_for_every_profile(local):
    event = load_event("connect_journey")
    response = local.invoke(copy.deepcopy(event))
    answers = result_data(response)
    assert list(answers) == list(EXAMPLE_IDS.values())
    assert answers[EXAMPLE_IDS["maria"]] == {"status": "DELIVERED", "channel": "SMS", "provider": "http"}
    assert answers[EXAMPLE_IDS["kenji"]]["status"] == "DELIVERED"
    assert answers[EXAMPLE_IDS["bad"]] == {"status": "SKIPPED", "channel": "SMS", "reason": "invalid_profile"}
    assert answers[EXAMPLE_IDS["no_phone"]]["reason"] == "address_missing"
    assert answers[EXAMPLE_IDS["bad_phone"]]["reason"] == "address_invalid"
    batch_id = connect.batch_id_for(event)
    described = local.wait_for_execution(local.execution_arn(batch_id))
    assert described["status"] == "SUCCEEDED"
    messages = {send["address"]: send["message"] for send in local.provider.sends}
    assert messages == {"+14155550123": "Hi Maria, your premium plan renews soon.",
                        "+442071838750": "Hi Kenji, your basic plan renews soon."}
    records = local.ledger_records(batch_id)
    assert records[EXAMPLE_IDS["maria"]]["status"] == "DELIVERED"
    # The trigger's ids travel as the batch's context, visible in the execution's input.
    context = json.loads(described["input"])["context"]
    assert (context["source"], context["campaign_id"], context["action_id"]) == (
        "connect", "3f1c9a2e-7b4d-4e8a-9c61-0d2f5b7e8a14", "Renewal reminder")
    assert context["run_id"].startswith(context["campaign_id"] + "#")


def test_the_same_batch_twice_at_once_sends_each_profile_once(local):
    event = event_of(list(range(12)))
    with ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(pool.map(local.invoke, [copy.deepcopy(event) for _ in range(3)]))
    assert all(result_data(r) == result_data(responses[0]) for r in responses)
    assert len(result_data(responses[0])) == 12
    local.wait_for_execution(local.execution_arn(connect.batch_id_for(event)))
    assert len(local.executions()) == 1
    assert sent_per_address(local) == {f"+1415555{i:04d}": 1 for i in range(12)}
    # And again once it has ended: joined, answered from the ledger, nothing sent.
    again = result_data(local.invoke(copy.deepcopy(event)))
    assert {a["status"] for a in again.values()} == {"DELIVERED"}
    assert len(local.provider.sends) == 12


def test_the_same_profiles_split_differently_are_each_sent_once_and_answered_with_their_outcome(local):
    """Connect retries and regroups: every batch answers every profile it holds, with its real
    outcome, and no profile is sent by two executions."""
    groups = [list(range(0, 10)), list(range(5, 15)), list(range(0, 15, 2))]
    with ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(pool.map(local.invoke, [event_of(g) for g in groups]))
    for group, response in zip(groups, responses, strict=True):
        answers = result_data(response)
        assert list(answers) == [profile(i)["ProfileId"] for i in group]
        assert {a["status"] for a in answers.values()} == {"DELIVERED"}, answers
    for execution in local.executions():
        local.wait_for_execution(execution["executionArn"])
    assert sent_per_address(local) == {f"+1415555{i:04d}": 1 for i in range(15)}
    assert local.provider.duplicate_sends == 0
    # Later, a fourth grouping of profiles all sent already: answered from their owners, nothing sent.
    late = result_data(local.invoke(event_of([14, 3, 8])))
    assert {a["status"] for a in late.values()} == {"DELIVERED"}
    assert len(local.provider.sends) == 15


def test_an_action_without_configuration_skips_every_profile_and_sends_nothing(local):
    answers = result_data(local.invoke(event_of([1, 2], action="Unknown block")))
    assert {a["reason"] for a in answers.values()} == {"action_not_configured"}
    assert {a["status"] for a in answers.values()} == {"SKIPPED"}
    assert local.provider.sends == []


def test_an_empty_batch_is_answered_empty(local):
    assert local.invoke(event_of([])) == {"Items": {"CustomerProfiles": []}}
    assert local.executions() == []


def test_an_unusable_envelope_gets_a_clear_error(local):
    answer = local.invoke({"InvocationMetadata": {"CampaignContext": {"CampaignId": "c"}},
                           "Items": {"CustomerProfiles": []}})
    assert answer["error"]["type"] == "PayloadError"
    assert "RunId" in answer["error"]["message"]
    assert local.executions() == []
