"""Every endpoint is handed to its provider when the batch starts, whatever receipts are
outstanding, and a provider's send rate is kept by every sender together (the real ASL on the
local engine, the real senders, the HTTP provider stand-in enforcing its rate)."""

from __future__ import annotations

import pytest

from .conftest import endpoint, event_with

pytestmark = pytest.mark.integration


def test_every_endpoint_is_sent_before_any_receipt_arrives(make_local, invoke):
    # Receipts 60 s after each send: the inline Map's 40 waiting iterations are all still open when
    # the invoker answers, and yet the 41st to 50th endpoints were sent (SENT: the provider has them).
    local = make_local(receipt_delay=60, receipt_timeout_seconds=120, receipt_heartbeat_seconds=100,
                       deadline_seconds=10)
    endpoints = {f"ep-{index:02d}": endpoint("SMS", f"+1415555{index:04d}") for index in range(50)}
    run = invoke(local, event_with(endpoints))
    assert {endpoint_id: run.status(endpoint_id) for endpoint_id in endpoints} == dict.fromkeys(endpoints, "SENT")
    assert sorted(send["endpoint_id"] for send in local.provider.sends) == sorted(endpoints)
    assert local.provider.receipts == []
    assert local.provider.duplicate_sends == 0
    records = run.ledger()
    assert {record["attempts"] for record in records.values()} == {1}
    entered = [e["stateEnteredEventDetails"]["name"] for e in run.history() if e["type"].endswith("StateEntered")]
    assert entered.count("Send without waiting") == 1
    # The execution view draws the batch's endpoints, not the senders the state before the waits ran.
    from journey_activity_local.view.model import build_model
    from journey_activity_local.view.sources import load_execution

    data = load_execution(local.client("stepfunctions"), run.arn)
    view = build_model(data.events, data.definition, records, data.execution)
    assert sorted(endpoint.id for endpoint in view.endpoints) == sorted(endpoints)


def test_a_paced_provider_is_never_sent_faster_than_its_rate(make_local, invoke):
    # The stand-in accepts 4 messages a second (one second's worth at once) and answers 429 past it;
    # the product paces the provider at the same rate (send_rate in its configuration), so twelve
    # endpoints sent at once are spread over about three seconds and none is refused.
    local = make_local(send_rate=4.0, providers={"SMS": "http"}, deadline_seconds=25)
    endpoints = {f"ep-{index:02d}": endpoint("SMS", f"+1415556{index:04d}") for index in range(12)}
    run = invoke(local, event_with(endpoints))
    assert {endpoint_id: run.status(endpoint_id) for endpoint_id in endpoints} == dict.fromkeys(
        endpoints, "DELIVERED")
    run.finish()
    assert local.provider.rate_limit.refused == 0
    assert sorted(local.provider.attempts.values()) == [1] * len(endpoints)
    failures = [e for e in run.history() if e["type"] == "TaskFailed"]
    assert failures == []


def test_an_unpaced_provider_over_its_rate_is_retried_until_sent(make_local, invoke):
    # The same stand-in rate without the product's pacing (the generic provider from PROVIDER_URL has
    # no send_rate): the sends over the rate are answered 429 and retried (ProviderThrottled) until
    # the provider takes them; nothing fails and nothing is sent twice.
    local = make_local(send_rate=4.0, deadline_seconds=25)
    endpoints = {f"ep-{index:02d}": endpoint("SMS", f"+1415557{index:04d}") for index in range(8)}
    run = invoke(local, event_with(endpoints))
    run.finish(timeout=120)
    records = run.ledger()
    assert {record["status"] for record in records.values()} == {"DELIVERED"}
    assert local.provider.rate_limit.refused > 0
    assert local.provider.duplicate_sends == 0
    assert sorted(send["endpoint_id"] for send in local.provider.sends) == sorted(endpoints)
