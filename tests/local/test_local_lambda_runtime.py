"""The local Lambda runtime runs each function as Lambda does: execution environments (worker
processes) that run one invocation at a time, reused warm, with the function's Timeout enforced."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from journey_activity_local.runtime.lambda_endpoint import (
    CURRENT_FUNCTION,
    FunctionError,
    LambdaRegistry,
    LocalLambdaEndpoint,
    ThrottledError,
)
from journey_activity_local.runtime.lambda_runtime import AccountConcurrency, ConcurrencyConfigError
from journey_activity_local.template import FunctionSpec

# Module state, as a handler module has: a logger's keys, a cache, a client.
_state: dict[str, Any] = {"owner": None, "count": 0, "initialized": None}
RENDEZVOUS_SECONDS = 30.0


def _wait_for(path: Path) -> None:
    limit = time.monotonic() + RENDEZVOUS_SECONDS
    while not path.exists():
        if time.monotonic() > limit:
            raise TimeoutError(f"{path.name} never appeared")
        time.sleep(0.01)


def claiming_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Claims the module state for this invocation, waits until the other invocation has
    claimed it too, then reports who owns it now."""
    _state["owner"] = event["id"]
    rendezvous = Path(event["dir"])
    (rendezvous / f"started-{event['id']}").touch()
    _wait_for(rendezvous / f"started-{event['other']}")
    (rendezvous / f"checked-{event['id']}").touch()
    _wait_for(rendezvous / f"checked-{event['other']}")
    return {"owner": _state["owner"], "pid": os.getpid()}


def counting_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _state["count"] += 1
    return {"count": _state["count"], "pid": os.getpid(), "function": CURRENT_FUNCTION.get(),
            "name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"), "initialized": _state["initialized"],
            "remaining_ms": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb,
            "leaked": os.environ.get("JOURNEY_ACTIVITY_TEST_PARENT_ONLY")}


def sleeping_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"pid": os.getpid()}


def exiting_handler(event: dict[str, Any], context: Any) -> None:
    os._exit(3)


def waiting_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rendezvous = Path(event["dir"])
    (rendezvous / "running").touch()
    _wait_for(rendezvous / "release")
    return {"pid": os.getpid()}


def mark_initialized(value: str) -> None:
    """A per-process initializer, as fault injection or guards install theirs."""
    _state["initialized"] = value


def _spec(name: str, handler: str, timeout: int = 30, reserved: int | None = None) -> FunctionSpec:
    return FunctionSpec(name, f"{__name__}.{handler}", timeout, {"FUNCTION_OWN": name}, memory=512,
                        reserved_concurrency=reserved)


@pytest.fixture
def registry() -> Iterator[LambdaRegistry]:
    specs = [_spec("Claiming", "claiming_handler"), _spec("Counting", "counting_handler"),
             _spec("Sleeping", "sleeping_handler", timeout=1), _spec("Exiting", "exiting_handler"),
             _spec("Waiting", "waiting_handler", reserved=1)]
    made = LambdaRegistry({spec.logical_id: spec for spec in specs},
                          environment={"PATH": os.environ.get("PATH", ""), "POWERTOOLS_METRICS_DISABLED": "true"},
                          initializers=[(mark_initialized, ("by-initializer",))])
    yield made
    made.close()


def test_concurrent_invocations_share_no_module_state(registry, tmp_path):
    """Two invocations at once each claim the module state; each still sees its own claim. On
    threads of one process (the runtime before execution environments) one sees the other's."""
    spec = registry.specs["Claiming"]
    answers: dict[str, Any] = {}

    def call(me: str, other: str) -> None:
        answers[me] = registry.call(spec, {"id": me, "other": other, "dir": str(tmp_path)})

    threads = [threading.Thread(target=call, args=("a", "b")), threading.Thread(target=call, args=("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RENDEZVOUS_SECONDS * 2)
    assert answers["a"]["owner"] == "a"
    assert answers["b"]["owner"] == "b"
    assert answers["a"]["pid"] != answers["b"]["pid"] != os.getpid()
    figures = registry.summary()["Claiming"]
    assert (figures["cold_starts"], figures["invocations"], figures["peak_concurrency"]) == (2, 2, 2)


def test_an_environment_is_reused_warm_and_keeps_its_state(registry):
    spec = registry.specs["Counting"]
    answers = [registry.call(spec, {}) for _ in range(3)]
    assert [answer["count"] for answer in answers] == [1, 2, 3]  # module state lives on, as in Lambda
    assert len({answer["pid"] for answer in answers}) == 1
    assert registry.summary()["Counting"]["cold_starts"] == 1


def test_an_invocation_knows_its_function_and_only_its_own_environment(registry, monkeypatch):
    monkeypatch.setenv("JOURNEY_ACTIVITY_TEST_PARENT_ONLY", "x")
    answer = registry.call(registry.specs["Counting"], {})
    assert answer["function"] == "Counting"  # the contextvar per-process hooks read
    assert answer["name"] == "Counting"  # Lambda's reserved variable
    assert answer["initialized"] == "by-initializer"
    assert answer["memory"] == 512
    assert 0 < answer["remaining_ms"] <= 30_000
    assert answer["leaked"] is None  # the engine's own environment is not the function's


def test_a_handler_past_its_timeout_is_stopped_and_fails_as_lambda_reports_it(registry):
    spec = registry.specs["Sleeping"]
    first = registry.call(spec, {})
    with pytest.raises(FunctionError) as raised:
        registry.call(spec, {"sleep": 60})
    payload = raised.value.payload
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].startswith("RequestId: ")
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    with pytest.raises(ProcessLookupError):  # its environment was killed, not left running
        os.kill(first["pid"], 0)
    after = registry.call(spec, {})  # a new environment serves the next invocation
    assert after["pid"] != first["pid"]
    figures = registry.summary()["Sleeping"]
    assert (figures["timeouts"], figures["cold_starts"]) == (1, 2)


def test_a_runtime_that_exits_is_reported_as_lambda_reports_it(registry):
    with pytest.raises(FunctionError) as raised:
        registry.call(registry.specs["Exiting"], {})
    assert raised.value.payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in raised.value.payload["errorMessage"]


def test_reserved_concurrency_throttles_beyond_it(registry, tmp_path):
    spec = registry.specs["Waiting"]
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(registry.call(spec, {"dir": str(tmp_path)})))
    thread.start()
    _wait_for(tmp_path / "running")
    with pytest.raises(ThrottledError) as raised:
        registry.call(spec, {"dir": str(tmp_path)})
    assert raised.value.payload["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    (tmp_path / "release").touch()
    thread.join(timeout=RENDEZVOUS_SECONDS)
    assert answers
    assert answers[0]["pid"]
    assert registry.summary()["Waiting"]["throttles"] == 1


def test_the_invoke_api_speaks_lambdas_wire_format(registry, tmp_path, monkeypatch):
    """boto3's lambda client against the endpoint: results, function errors, a timeout, a throttle."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, "testing")
    with LocalLambdaEndpoint(registry) as endpoint:
        client = boto3.client("lambda", endpoint_url=endpoint.url, region_name="us-east-1",
                              config=Config(retries={"max_attempts": 0}, read_timeout=60))
        ok = client.invoke(FunctionName="Counting", Payload=b"{}")
        assert ok["StatusCode"] == 200
        assert "FunctionError" not in ok
        timed_out = client.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:Sleeping",
                                  Payload=b'{"sleep": 60}')
        assert timed_out["FunctionError"] == "Unhandled"
        assert b'"errorType": "Sandbox.Timedout"' in timed_out["Payload"].read()

        thread = threading.Thread(target=client.invoke,
                                  kwargs={"FunctionName": "Waiting", "Payload": f'{{"dir": "{tmp_path}"}}'.encode()})
        thread.start()
        _wait_for(tmp_path / "running")
        with pytest.raises(client.exceptions.TooManyRequestsException) as throttled:
            client.invoke(FunctionName="Waiting", Payload=b"{}")
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        (tmp_path / "release").touch()
        thread.join(timeout=RENDEZVOUS_SECONDS)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="Missing", Payload=b"{}")


def report_count() -> int:
    """Runs in the worker after each invocation (as the guards report their refusals)."""
    return int(_state["count"])


def test_workers_report_per_process_state_back_after_each_invocation():
    absorbed: list[Any] = []
    spec = _spec("Counting", "counting_handler")
    registry = LambdaRegistry({spec.logical_id: spec}, environment={"PATH": os.environ.get("PATH", "")},
                              report=report_count, absorb=absorbed.append)
    try:
        for _ in range(2):
            registry.call(spec, {})
    finally:
        registry.close()
    assert absorbed == [1, 2]


def _registry(specs: list[FunctionSpec], **options: Any) -> LambdaRegistry:
    return LambdaRegistry({spec.logical_id: spec for spec in specs},
                          environment={"PATH": os.environ.get("PATH", ""), "POWERTOOLS_METRICS_DISABLED": "true"},
                          **options)


def _wait_until(condition: Any) -> None:
    limit = time.monotonic() + RENDEZVOUS_SECONDS
    while not condition():
        if time.monotonic() > limit:
            raise TimeoutError("the condition never held")
        time.sleep(0.01)


def test_reserved_concurrency_counts_invocations_not_environments(tmp_path):
    """Reserved concurrency 2 with one environment: the second invocation waits for the
    environment but is running as far as Lambda's count goes, so the third is throttled."""
    registry = _registry([_spec("Waiting", "waiting_handler", reserved=2)], cap=1)
    spec = registry.specs["Waiting"]
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(registry.call(spec, {"dir": str(tmp_path)})))
               for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        _wait_for(tmp_path / "running")
        _wait_until(lambda: registry.in_flight("Waiting") == 2)
        with pytest.raises(ThrottledError) as raised:
            registry.call(spec, {"dir": str(tmp_path)})
        (tmp_path / "release").touch()
        for thread in threads:
            thread.join(timeout=RENDEZVOUS_SECONDS)
        figures = registry.summary()["Waiting"]
    finally:
        registry.close()
    assert raised.value.payload["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert raised.value.payload["errorType"] == "TooManyRequestsException"
    assert len(answers) == 2
    assert (figures["invocations"], figures["throttles"], figures["peak_concurrency"]) == (2, 1, 2)
    assert figures["peak_environments"] == 1


def test_the_account_limit_bounds_functions_without_reservations_together(tmp_path):
    """An account limit of 1: while one function runs, another without a reservation is
    throttled (``ConcurrentInvocationLimitExceeded``); once it ends, the other runs."""
    registry = _registry([_spec("Waiting", "waiting_handler"), _spec("Counting", "counting_handler")],
                         account_limit=1)
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(
        registry.call(registry.specs["Waiting"], {"dir": str(tmp_path)})))
    try:
        thread.start()
        _wait_for(tmp_path / "running")
        with pytest.raises(ThrottledError) as raised:
            registry.call(registry.specs["Counting"], {})
        (tmp_path / "release").touch()
        thread.join(timeout=RENDEZVOUS_SECONDS)
        after = registry.call(registry.specs["Counting"], {})
        figures = registry.summary()
    finally:
        registry.close()
    assert raised.value.payload["Reason"] == "ConcurrentInvocationLimitExceeded"
    assert answers
    assert after["count"] == 1
    assert figures["Counting"]["throttles"] == 1


def test_reserved_concurrency_is_carved_out_of_the_account():
    account = AccountConcurrency(1000, {"Invoker": 50, "Callback": 50, "Send": None})
    assert account.unreserved == 900
    taken = [account.take() for _ in range(901)]
    assert taken.count(True) == 900
    assert taken[-1] is False
    account.give()
    assert account.take() is True


def test_reservations_that_leave_less_than_100_unreserved_are_refused_as_lambda_refuses_them():
    assert AccountConcurrency(200, {"Invoker": 50, "Callback": 50}).unreserved == 100
    with pytest.raises(ConcurrencyConfigError, match=r"below its minimum value of \[100\]"):
        AccountConcurrency(199, {"Invoker": 50, "Callback": 50})
    assert AccountConcurrency(10, {"Invoker": None}).unreserved == 10  # no reservation: any quota


def test_a_throttled_asynchronous_invocation_runs_once_concurrency_frees(registry, tmp_path, monkeypatch):
    """InvocationType=Event is accepted (202) even while the function is throttled, and Lambda's
    event queue runs it once there is room: not lost, not refused."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, "testing")
    with LocalLambdaEndpoint(registry) as endpoint:
        client = boto3.client("lambda", endpoint_url=endpoint.url, region_name="us-east-1",
                              config=Config(retries={"max_attempts": 0}, read_timeout=60))
        payload = json.dumps({"dir": str(tmp_path)}).encode()
        thread = threading.Thread(target=client.invoke, kwargs={"FunctionName": "Waiting", "Payload": payload})
        thread.start()
        _wait_for(tmp_path / "running")
        accepted = client.invoke(FunctionName="Waiting", Payload=payload, InvocationType="Event")
        _wait_until(lambda: registry.summary()["Waiting"]["throttles"] >= 1)
        (tmp_path / "release").touch()
        thread.join(timeout=RENDEZVOUS_SECONDS)
        _wait_until(lambda: registry.summary()["Waiting"]["invocations"] == 2)
    assert accepted["StatusCode"] == 202


def test_provisioned_environments_serve_invocations_warm(registry):
    """As Lambda's provisioned concurrency: environments initialized ahead, so an invocation
    finds one warm (its init, the initializers included, already ran)."""
    assert registry.provision("Counting", 2) == 2
    answer = registry.call(registry.specs["Counting"], {})
    figures = registry.summary()["Counting"]
    assert answer["initialized"] == "by-initializer"
    assert (figures["cold_starts"], figures["invocations"]) == (2, 1)
