"""AWS throttling on demand: with a share of the functions' AWS calls failing with the service's
own throttling error, every endpoint still ends with its correct final status, nothing is sent
twice, and every invocation is answered or fails with a clear, retryable error."""

from __future__ import annotations

import pytest

from journey_activity.models.pinpoint import ChannelType
from journey_activity_local.stack import LocalInvokeError

from .conftest import address_for, event_with

pytestmark = pytest.mark.integration


def test_every_endpoint_ends_right_and_is_sent_once_under_throttling(make_local):
    channels = [ChannelType.SMS, ChannelType.EMAIL, ChannelType.CUSTOM]
    endpoints = {f"e{i}": {"ChannelType": channels[i % 3].value, "Address": address_for(channels[i % 3], i + 1),
                           "EndpointStatus": "ACTIVE", "OptOut": "NONE"} for i in range(12)}
    endpoints["opted-out"] = {**endpoints["e0"], "Address": address_for(ChannelType.SMS, 99), "OptOut": "ALL"}
    event = event_with(endpoints, data="x" * 9000)  # a large template: the invoker writes it too
    local = make_local(aws_faults=0.1, fault_seed=11, deadline_seconds=3)
    response, failures = None, []
    for _ in range(6):  # as Pinpoint retries an invocation that failed
        try:
            response = local.invoke(event)
            break
        except LocalInvokeError as error:
            failures.append(error.payload["errorType"])
    assert set(failures) <= {"AwsThrottled"}  # a clear, retryable error, never anything else
    assert response is not None
    assert set(response) == set(endpoints)
    for endpoint_id, answer in response.items():
        # SENT: the provider has it, its receipt was not applied yet (a throttled receipt is applied again).
        assert answer["EventAttributes"]["status"] in ("DELIVERED", "SKIPPED", "SENT", "PENDING"), endpoint_id

    from journey_activity.triggers.pinpoint import batch_id_for

    batch_id = batch_id_for(event)
    described = local.wait_for_execution(local.execution_arn(batch_id), timeout=120)
    assert described["status"] == "SUCCEEDED", described
    records = local.ledger_records(batch_id)
    assert {e: r["status"] for e, r in records.items()} == {
        **{e: "DELIVERED" for e in endpoints if e != "opted-out"}, "opted-out": "SKIPPED"}
    sent = [s["endpoint_id"] for s in local.provider.sends]
    assert sorted(sent) == sorted(e for e in endpoints if e != "opted-out")  # once each
    totals = local.guard_totals()
    assert totals.counts["throttled"] > 0  # the faults did happen
    assert totals.counts["denied"] == 0
    # AwsThrottled, and ProviderThrottled: a send still leased by an attempt whose writes were throttled
    # is tried again later, never twice at once.
    assert {error[1] for error in local.registry.errors} <= {"AwsThrottled", "ProviderThrottled"}
