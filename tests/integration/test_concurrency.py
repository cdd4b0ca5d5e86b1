"""Concurrency at a campaign's load on the local engine: Amazon Connect invokes the invoker once
per batch, many batches at once. With reserved concurrency N on the invoker
(``InvokerReservedConcurrency``) the N+1-th concurrent invocation is throttled, as Lambda
throttles it (429 ``TooManyRequestsException``; finding F3 of the deploy review); without it,
concurrent batches are all answered and every profile is sent once."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from journey_activity.triggers import connect
from journey_activity_local.runtime.lambda_runtime import ConcurrencyConfigError
from journey_activity_local.stack import LocalEnvironment, LocalOptions

pytestmark = pytest.mark.integration

ACTIONS = {"Renewal reminder": {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName|there}}."}}
WAIT_SECONDS = 120.0


def profile(index: int) -> dict[str, Any]:
    profile_id = hashlib.md5(str(index).encode()).hexdigest()  # noqa: S324 - 32 hex characters, like Connect's ids
    data = {"profileId": profile_id, "firstName": f"P{index}", "mobilePhoneNumber": f"+1415555{index:04d}"}
    return {"ProfileId": profile_id, "CustomerData": json.dumps(data),
            "IdempotencyToken": hashlib.sha256(f"token-{index}".encode()).hexdigest()}


def batch(number: int, size: int) -> dict[str, Any]:
    """Connect's event for batch ``number`` of a campaign run: ``size`` profiles of its own."""
    return {"InvocationMetadata": {"CampaignContext": {"CampaignId": "c-1", "RunId": "c-1#2026-12-07T09-00-00Z",
                                                       "ActionId": "Renewal reminder", "CampaignName": "renewals"}},
            "Items": {"CustomerProfiles": [profile(number * size + i) for i in range(size)]}}


def _wait_until(condition: Any) -> None:
    limit = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > limit:
            raise TimeoutError("the condition never held")
        time.sleep(0.02)


def test_the_invocation_beyond_the_invokers_reserved_concurrency_is_throttled(make_local):
    """F3 locally: InvokerReservedConcurrency 2, three Connect batches at once: the third is
    refused 429 TooManyRequestsException (Connect's handling of it is undocumented); the two
    admitted are answered. Receipts come after the invoker's deadline, so both stay running."""
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, parameters={
        "InvokerReservedConcurrency": "2"}, receipt_delay=60, deadline_seconds=5)
    assert local.registry.specs["InvokerFunction"].reserved_concurrency == 2
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda n=n: answers.append(local.invoke(batch(n, 2)))) for n in range(2)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: local.registry.in_flight("InvokerFunction") == 2)
    with pytest.raises(ClientError) as throttled:
        local.invoke(batch(2, 2))
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)
    error = throttled.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert len(answers) == 2
    assert all(len(answer["Items"]["CustomerProfiles"]) == 2 for answer in answers)
    figures = local.registry.summary()["InvokerFunction"]
    assert (figures["invocations"], figures["throttles"]) == (2, 1)
    # The refused batch started nothing: its profiles were never sent.
    assert local.batch_execution_names(connect.batch_id_for(batch(2, 2))) == []


def test_concurrent_batches_without_a_reservation_are_all_answered_and_each_profile_sent_once(make_local):
    """Ten Connect batches of two profiles at once, the invoker without reserved concurrency
    (as the template's default leaves it, or set 0): none throttled, every profile answered
    by its batch, every endpoint sent exactly once."""
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)},
                       parameters={"InvokerReservedConcurrency": "0"}, deadline_seconds=None)
    assert local.registry.specs["InvokerFunction"].reserved_concurrency is None
    events = [batch(n, 2) for n in range(10)]
    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        responses = list(pool.map(local.invoke, [copy.deepcopy(event) for event in events]))
    for event, response in zip(events, responses, strict=True):
        asked = [item["ProfileId"] for item in event["Items"]["CustomerProfiles"]]
        assert [entry["Id"] for entry in response["Items"]["CustomerProfiles"]] == asked
    for execution in local.executions():
        local.wait_for_execution(execution["executionArn"], timeout=WAIT_SECONDS)
    sent: dict[str, int] = {}
    for send in local.provider.sends:
        sent[send["address"]] = sent.get(send["address"], 0) + 1
    assert sent == {f"+1415555{i:04d}": 1 for i in range(20)}
    assert local.provider.duplicate_sends == 0
    figures = local.registry.summary()["InvokerFunction"]
    assert (figures["invocations"], figures["throttles"]) == (10, 0)


def test_reservations_lambda_would_refuse_fail_the_stack_as_cloudformation_would():
    """F1 locally: 50 + 50 reserved on an account of 150 leaves 50 unreserved, under Lambda's 100."""
    options = LocalOptions(account_concurrency=150, parameters={"InvokerReservedConcurrency": "50",
                                                                "CallbackReservedConcurrency": "50"})
    with pytest.raises(ConcurrencyConfigError, match=r"minimum value of \[100\]"), LocalEnvironment(options):
        pass


@pytest.mark.parametrize(("parameters", "message"), [
    ({"InvokerReservedConcurrncy": "5"}, r"\[InvokerReservedConcurrncy\] do not exist in the template"),
    ({"InvokerReservedConcurrency": "-1"}, "must be between 0"),
    ({"InvokerReservedConcurrency": "many"}, "must be a number"),
    ({"LogLevel": "TRACE"}, "must be one of AllowedValues"),
])
def test_parameter_overrides_are_checked_as_cloudformation_checks_them(parameters, message):
    local = LocalEnvironment(LocalOptions(parameters=parameters))
    with pytest.raises(ValueError, match=message):
        local._parameters()


def test_a_throttled_task_is_lambda_too_many_requests_exception_to_the_state_machine(make_local):
    """An account of concurrency 1: while the invoker waits for its batch, the execution's first
    Lambda task cannot run. Step Functions' Lambda integration reports the 429 as the error
    ``Lambda.TooManyRequestsException`` (what the ASL's Retry names), not a function error."""
    local = make_local(environment={"CONNECT_ACTIONS": json.dumps(ACTIONS)}, account_concurrency=1,
                       parameters={"InvokerReservedConcurrency": "0", "CallbackReservedConcurrency": "0"},
                       receipt_delay=60, deadline_seconds=5)
    event = batch(0, 2)
    answers: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: answers.append(local.invoke(copy.deepcopy(event))))
    thread.start()
    arn = local.execution_arn(connect.batch_id_for(event))

    def failed_tasks() -> list[dict[str, Any]]:
        try:
            history = local.history(arn)
        except ClientError:  # not started yet
            return []
        return [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]

    _wait_until(failed_tasks)
    thread.join(timeout=WAIT_SECONDS)
    failure = failed_tasks()[0]
    assert failure["error"] == "Lambda.TooManyRequestsException"
    assert "Status Code: 429" in failure["cause"]
    assert len(answers[0]["Items"]["CustomerProfiles"]) == 2  # the invoker itself answered
