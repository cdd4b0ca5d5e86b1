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
from journey_activity_local.stack import LocalInvokeError

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
    # Connect's own deadline (25 s of its documented 30 s): room for several executions at once on a
    # shared machine; the invoker answers as soon as every profile is final.
    return make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, deadline_seconds=None)


def test_the_example_journey_is_answered_for_every_profile(local):
    event = load_event("connect_journey")
    response = local.invoke(copy.deepcopy(event))
    answers = result_data(response)
    assert list(answers) == list(EXAMPLE_IDS.values())
    assert answers[EXAMPLE_IDS["maria"]] == {"status": "DELIVERED", "channel": "SMS", "provider": "http",
                                             "attempts": 1}
    assert answers[EXAMPLE_IDS["kenji"]]["status"] == "DELIVERED"
    assert answers[EXAMPLE_IDS["bad"]] == {"status": "SKIPPED", "channel": "SMS", "reason": "invalid_profile",
                                           "attempts": 0}
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


def test_a_batch_of_several_parts_is_answered_whole_and_retries_send_nothing_twice(make_local):
    """More profiles than one execution carries: parts of at most 124, named from the batch; every
    profile answered in one response (final or saying it is not yet); the same invocation again
    joins the same executions; a regrouped retry is answered from the owners; each sent once."""
    # 250 profiles: three parts (118 of Connect's ids a part), sent and receipted at once on a small
    # machine, so receipts may take a while to arrive.
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, deadline_seconds=None,
                       receipt_timeout_seconds=180, receipt_heartbeat_seconds=120)
    event = event_of(list(range(250)))
    answers = result_data(local.invoke(copy.deepcopy(event)))
    assert list(answers) == [profile(i)["ProfileId"] for i in range(250)]
    assert {a["status"] for a in answers.values()} <= {"DELIVERED", "SENT", "PENDING"}
    batch_id = connect.batch_id_for(event)
    names = local.batch_execution_names(batch_id)
    # At most 124 profiles an execution, fewer as the payload limit needs: 118 of Connect's ids.
    assert len(names) >= 3
    assert set(names) == {f"{batch_id}-{part}" for part in range(1, len(names) + 1)}
    again = result_data(local.invoke(copy.deepcopy(event)))  # Connect's retry of the same invocation
    assert list(again) == list(answers)
    assert sorted(local.batch_execution_names(batch_id)) == sorted(names)
    regrouped = event_of([*range(249, 124, -1), 7, 8, 9])  # another batch of the same profiles
    late = result_data(local.invoke(regrouped))
    assert len(late) == 128
    assert {a["status"] for a in late.values()} <= {"DELIVERED", "SENT", "PENDING"}
    for name in names:
        assert local.wait_for_execution(local.execution_arn(name), timeout=240)["status"] == "SUCCEEDED"
    records = local.batch_records(batch_id)
    assert len(records) == 250
    assert {record["status"] for record in records.values()} == {"DELIVERED"}
    assert sent_per_address(local) == {f"+1415555{i:04d}": 1 for i in range(250)}
    # Each message accepted once. A send whose answer came too late on this loaded machine (the
    # HTTP provider's 5 s timeout) is sent again with the same idempotency key, which the provider
    # answers with the first message id (the stand-in counts such requests in duplicate_sends, as
    # the soak does not): no message twice.
    assert len(local.provider.sends) == 250
    # Every profile of the regrouped batch is another execution's: none of its own was started.
    assert local.batch_execution_names(connect.batch_id_for(regrouped)) == []


def test_per_profile_problems_are_answered_per_profile_and_the_rest_sent(local):
    good = profile(1)
    problems = {
        "x" * 5000: {**profile(2), "ProfileId": "x" * 5000},  # longer than a ledger key
        "not-json": {**profile(3), "ProfileId": "not-json", "CustomerData": "{not json"},
        "a-list": {**profile(4), "ProfileId": "a-list", "CustomerData": "[1, 2]"},
        "no-phone": {**profile(5), "ProfileId": "no-phone", "CustomerData": json.dumps({"firstName": "N"})},
        "no-token": {key: value for key, value in {**profile(6), "ProfileId": "no-token"}.items()
                     if key != "IdempotencyToken"},
    }
    event = event_of([])
    event["Items"]["CustomerProfiles"] = [good, *problems.values()]
    answers = result_data(local.invoke(event))
    assert list(answers) == [good["ProfileId"], *problems]
    assert answers[good["ProfileId"]]["status"] == "DELIVERED"
    expected = {"x" * 5000: "invalid_profile", "not-json": "invalid_profile", "a-list": "invalid_profile",
                "no-phone": "address_missing", "no-token": "invalid_profile"}
    assert {key: (answers[key]["status"], answers[key]["reason"]) for key in problems} == {
        key: ("SKIPPED", reason) for key, reason in expected.items()}
    assert [send["address"] for send in local.provider.sends] == ["+14155550001"]


def test_an_action_without_configuration_skips_every_profile_and_sends_nothing(local):
    answers = result_data(local.invoke(event_of([1, 2], action="Unknown block")))
    assert {a["reason"] for a in answers.values()} == {"action_not_configured"}
    assert {a["status"] for a in answers.values()} == {"SKIPPED"}
    assert local.provider.sends == []


def test_an_empty_batch_is_answered_empty(local):
    assert local.invoke(event_of([])) == {"Items": {"CustomerProfiles": []}}
    assert local.executions() == []


def test_an_unusable_envelope_fails_the_invocation_with_a_clear_error(local):
    """Connect documents that a raised error fails every profile of the batch: the failure is
    visible (Lambda's Errors metric), never an answer Connect would read as every profile missing."""
    with pytest.raises(LocalInvokeError) as caught:
        local.invoke({"InvocationMetadata": {"CampaignContext": {"CampaignId": "c"}},
                      "Items": {"CustomerProfiles": []}})
    assert caught.value.payload["errorType"] == "PayloadError"
    assert "RunId" in caught.value.payload["errorMessage"]
    assert local.executions() == []


def test_a_configuration_error_fails_the_invocation(make_local):
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS),
                                    "RESULT_DATA": '{"tries": "attempts"}'})
    with pytest.raises(LocalInvokeError) as caught:
        local.invoke(event_of([1]))
    assert caught.value.payload["errorType"] == "ConfigurationError"
    assert "RESULT_DATA" in caught.value.payload["errorMessage"]
    assert local.executions() == []
    assert local.provider.sends == []
