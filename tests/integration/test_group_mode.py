"""Group wait mode (WaitMode=group): one waiting task per group of a channel family's endpoints,
end to end on the real ASL, handlers, provider stand-in and signed receipts; the same statuses as
the per-endpoint mode."""

from __future__ import annotations

import json

import pytest

from journey_activity.models.pinpoint import ChannelType
from journey_activity_local.stack import LocalEnvironment, LocalOptions

from .conftest import address_for, endpoint, event_with, load_event

pytestmark = pytest.mark.integration

GROUP = {"WaitMode": "group"}


def entered(run) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in run.history() if e["type"].endswith("StateEntered")]


def test_every_channel_is_sent_and_each_family_waits_once(make_local, invoke):
    local = make_local(parameters=GROUP, deadline_seconds=25)
    endpoints = {f"ep-{c.value.lower()}-{i}": endpoint(c.value, address_for(c, i)) for c in ChannelType
                 for i in range(3)}
    run = invoke(local, event_with(endpoints))
    assert {run.status(endpoint_id) for endpoint_id in endpoints} == {"DELIVERED"}
    output = run.finish()
    assert {r["status"] for r in output["results"]} == {"DELIVERED"}
    assert sorted(s["endpoint_id"] for s in local.provider.sends) == sorted(endpoints)
    records = run.ledger()
    assert all(r["status"] == "DELIVERED" and r["attempts"] == 1 and r["group"] for r in records.values())
    # Per batch: Validate, the mode's Choice, the Map of groups, one task per channel family (e-mail,
    # SMS and voice, push, HTTP), and one to compile and report: 8 states for 27 endpoints.
    states = entered(run)
    assert states.count("Send the group and wait for its delivery receipts") == 4
    assert "Send and wait for delivery receipt" not in states
    assert states[-1] == "Compile and report the outcomes"
    assert len(states) == 8
    # Each group's label opens its task's payload (TaskScheduled, as the console shows it).
    labels = sorted(json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]["label"]
                    for e in run.history() if e["type"] == "TaskScheduled"
                    and "task_token" in json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"])
    assert labels == ["Send HTTP and in-app (6 endpoints)", "Send SMS and voice (6 endpoints)",
                      "Send e-mail (3 endpoints)", "Send push (24 endpoints)"]


FAULTS = {
    "+14155550001": "flaky:2",      # two 503s, then sent: the group's attempts fail with ProviderUnavailable
    "+14155550002": "reject",       # 400: FAILED provider_rejected, never sent again
    "+14155550003": "bounce",       # a bounced receipt: FAILED bounced
    "+14155550004": "optout",       # the generic protocol's opt-out is a 400: FAILED provider_rejected
    "+14155550005": "duplicate",    # its receipt twice
    "+14155550006": "early",        # the receipt before the send's answer
    "+14155550007": "throttled:1",  # one 429, then sent
}


def faulty_batch() -> dict:
    endpoints = {f"sms-{index}": endpoint("SMS", address) for index, address in enumerate(FAULTS)}
    endpoints.update({f"fine-{index}": endpoint("SMS", f"+1415555010{index}") for index in range(3)})
    endpoints["mail"] = endpoint("EMAIL", "someone@example.com")
    return event_with(endpoints)


def outcomes(run) -> dict[str, tuple[str, str | None]]:
    return {endpoint_id: (record["status"], record.get("reason")) for endpoint_id, record in run.ledger().items()}


def test_a_faulty_batch_ends_with_the_same_statuses_in_both_modes(invoke):
    event = faulty_batch()
    results = {}
    for mode in ("endpoint", "group"):  # one local environment at a time
        with LocalEnvironment(LocalOptions(behaviours=FAULTS, parameters={"WaitMode": mode}, receipt_delay=0.05,
                                           receipt_timeout_seconds=20, receipt_heartbeat_seconds=10,
                                           deadline_seconds=25)) as local:
            run = invoke(local, event)
            run.finish()
            results[mode] = outcomes(run)
            answers = {endpoint_id: run.attributes(endpoint_id) for endpoint_id in event["Endpoints"]}
            assert {k: (v["status"], v.get("reason")) for k, v in answers.items()} == results[mode], mode
            # Nothing sent twice: every accepted send has one idempotency key.
            keys = [s["idempotency_key"] for s in local.provider.sends]
            assert len(keys) == len(set(keys)), mode
    assert results["group"] == results["endpoint"]
    assert results["group"]["sms-0"] == ("DELIVERED", None)
    assert results["group"]["sms-1"] == ("FAILED", "provider_rejected")
    assert results["group"]["sms-2"] == ("FAILED", "bounced")
    assert results["group"]["sms-3"] == ("FAILED", "provider_rejected")
    assert all(results["group"][f"sms-{index}"] == ("DELIVERED", None) for index in (4, 5, 6))


def test_a_silent_endpoint_times_out_and_its_group_keeps_the_others(make_local, invoke):
    local = make_local(parameters=GROUP, behaviours={"+14155550123": "never"}, receipt_timeout_seconds=4,
                       receipt_heartbeat_seconds=3, deadline_seconds=8)
    run = invoke(local, event_with({"silent": endpoint("SMS", "+14155550123"),
                                    "fine": endpoint("SMS", "+14155550124")}))
    assert run.attributes("silent")["status"] == "TIMED_OUT"
    assert run.attributes("silent")["reason"] == "no_receipt"
    assert run.status("fine") == "DELIVERED"
    run.finish()
    errors = [e["taskTimedOutEventDetails"]["error"] for e in run.history() if e["type"] == "TaskTimedOut"]
    assert errors
    assert set(errors) <= {"States.Timeout", "States.HeartbeatTimeout"}


def test_an_outage_fails_the_unsent_and_the_group_still_waits_for_the_sent(make_local, invoke):
    # The outage's endpoint exhausts the group's retries (at most 7 s of pauses, and four tries of
    # two sends each);
    # the other endpoint was sent and its receipt comes after 20 s, within the second wait's 30 s
    # heartbeat: the group waits again for it, as its own task would. (The invoker answers early:
    # the outcomes are read from the ledger once the execution has ended.)
    local = make_local(parameters=GROUP, behaviours={"+14155550123": "outage"}, receipt_delay=20.0,
                       receipt_timeout_seconds=60, receipt_heartbeat_seconds=30, deadline_seconds=2)
    run = invoke(local, event_with({"down": endpoint("SMS", "+14155550123"),
                                    "slow": endpoint("SMS", "+14155550124")}))
    run.finish(timeout=120)
    records = run.ledger()
    assert (records["down"]["status"], records["down"]["reason"]) == ("FAILED", "provider_unavailable")
    assert records["slow"]["status"] == "DELIVERED"
    states = entered(run)
    assert states.count("Record the group's unsent endpoints") == 1
    assert states.count("Wait for the group's remaining receipts") == 1
    # The group's first try and its three retries, each sending once more after a pause.
    assert records["down"]["attempts"] == 8


def test_progress_receipts_keep_a_slow_group_alive_with_heartbeats(make_local, invoke):
    # As for an endpoint's task: the final receipt after 6 s, past the 4 s heartbeat; the "sent"
    # receipt at 3 s is the group's heartbeat.
    local = make_local(parameters=GROUP, progress_receipts=True, receipt_delay=6.0, receipt_timeout_seconds=16,
                       receipt_heartbeat_seconds=4, deadline_seconds=12)
    run = invoke(local, event_with({"slow": endpoint("SMS", "+14155550123")}))
    assert run.status("slow") == "DELIVERED"
    run.finish()
    assert [r["status"] for r in local.provider.receipts] == ["sent", "delivered"]


def test_a_connect_journey_gets_the_same_answer_in_group_mode(make_local):
    # Connect's contract: every ProfileId answered, ResultData the same keys as in endpoint mode.
    from .test_connect_workflow import ACTIONS, EXAMPLE_IDS, result_data

    local = make_local(parameters=GROUP, environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)},
                       deadline_seconds=None)
    answers = result_data(local.invoke(load_event("connect_journey")))
    assert list(answers) == list(EXAMPLE_IDS.values())
    assert answers[EXAMPLE_IDS["maria"]] == {"status": "DELIVERED", "channel": "SMS", "provider": "http",
                                             "attempts": 1}
    assert answers[EXAMPLE_IDS["bad"]] == {"status": "SKIPPED", "channel": "SMS", "reason": "invalid_profile",
                                           "attempts": 0}
    assert answers[EXAMPLE_IDS["bad_phone"]]["reason"] == "address_invalid"


def test_a_connect_action_can_wait_per_group_in_an_endpoint_deployment(make_local):
    from .test_connect_workflow import ACTIONS, event_of, result_data

    actions = {name: {**action, "wait_mode": "group"} for name, action in ACTIONS.items()}
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(actions)}, deadline_seconds=None)
    event = event_of(list(range(6)))
    answers = result_data(local.invoke(event))
    assert {answer["status"] for answer in answers.values()} == {"DELIVERED"}
    from journey_activity.triggers import connect

    arn = local.execution_arn(connect.batch_id_for(event))
    local.wait_for_execution(arn)
    states = [e["stateEnteredEventDetails"]["name"] for e in local.history(arn) if e["type"] == "TaskStateEntered"]
    assert states.count("Send the group and wait for its delivery receipts") == 1
