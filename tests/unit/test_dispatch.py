"""The invoker's service (:func:`journey_activity.dispatch.start_and_wait`) against the ledger:
the trigger's deadline and when the answer goes out, and the answer joined from what the start
answered, what the parts wrote and what another execution's claims' owners wrote. (The start and
the waiting themselves: test_invoker_waiting.py.)"""

from __future__ import annotations

import time
from typing import Any

import pytest

from journey_activity import aws, config, dispatch
from journey_activity.dispatch import ANSWER_SLACK_SECONDS, answer_by, deadline_for, start_and_wait, start_answer_by
from journey_activity.models.batch import Batch, BatchContext, EndpointResult, LedgerStatus, Status
from tests.unit.test_invoker_waiting import BATCH, Calls, aws_env, batch_of, book  # noqa: F401 - fixtures


def test_the_deadline_is_the_trigger_s_time_and_a_second_before_the_function_times_out():
    assert deadline_for(25, None, 100.0) == 125.0
    assert deadline_for(25, lambda: 28_000, 100.0) == 125.0
    assert deadline_for(25, lambda: 9_000, 100.0) == 108.0
    assert deadline_for(25, lambda: 500, 100.0) == 100.0  # never before the start


def test_the_answer_waits_a_little_past_the_deadline_never_into_the_function_s_last_half_second():
    deadline = time.monotonic() + 20
    assert answer_by(deadline, None) == deadline + ANSWER_SLACK_SECONDS
    assert answer_by(deadline, lambda: 3_000) <= time.monotonic() + 2.5
    assert answer_by(deadline, lambda: 60_000) == deadline + ANSWER_SLACK_SECONDS


def test_the_start_may_hold_the_answer_until_the_function_s_last_moments():
    deadline = time.monotonic() + 20
    assert start_answer_by(deadline, None) == deadline + ANSWER_SLACK_SECONDS
    assert start_answer_by(deadline, lambda: 28_000) <= time.monotonic() + 28 - dispatch.START_ANSWER_MARGIN_SECONDS


def test_an_empty_batch_is_answered_without_a_call_to_aws(aws_env):  # noqa: F811 - the fixture imported
    dynamodb, sfn = Calls(aws_env["dynamodb"]), Calls(aws.client("stepfunctions"))
    empty = Batch(context=BatchContext(batch_id=BATCH, source="pinpoint"), recipients=[])
    assert start_and_wait(empty, config.get_settings(), 10, started=time.monotonic()) == {}
    assert (sum(dynamodb.seen.values()), sum(sfn.seen.values())) == (0, 0)


def test_the_answer_joins_the_start_s_answers_the_parts_and_the_owners_outcomes(
        aws_env, book, monkeypatch):  # noqa: F811 - the fixtures imported
    """An endpoint answered by the start (skipped), one of a started part (final in the ledger),
    and one another execution holds the claim of (answered with that owner's record)."""
    assert book.take_claim("token-f", execution="owner-batch", endpoint_id="f", mine=[])
    book.finish("owner-batch", "f", LedgerStatus.DELIVERED, extra={"channel": "SMS"})
    book.finish(BATCH, "a", LedgerStatus.DELIVERED, extra={"channel": "SMS"})
    arn = dispatch.execution_arn(aws_env["machine"], BATCH)

    def start(batch: Batch, settings: Any, deadline: float, *, into: dispatch.Started, **_: Any) -> dispatch.Started:
        into.answered["s"] = EndpointResult(endpoint_id="s", channel="SMS", status=Status.SKIPPED, reason="opted_out")
        into.foreign["f"] = "token-f"
        into.runs.append((batch_of("a"), arn))
        return into

    monkeypatch.setattr(dispatch, "start_parts", start)
    results = start_and_wait(batch_of("a", "f", "s"), config.get_settings(), 10, started=time.monotonic())
    assert {e: str(r.status) for e, r in results.items()} == {"s": "SKIPPED", "a": "DELIVERED", "f": "DELIVERED"}


@pytest.mark.parametrize("remaining_ms", [None, 28_000])
def test_an_endpoint_with_no_outcome_by_the_deadline_is_left_out_for_the_trigger_to_answer_pending(
        aws_env, monkeypatch, remaining_ms):  # noqa: F811 - the fixture imported
    monkeypatch.setattr(dispatch, "start_parts",
                        lambda batch, settings, deadline, *, into, **_: into)
    remaining = None if remaining_ms is None else (lambda: remaining_ms)
    assert start_and_wait(batch_of("a"), config.get_settings(), 0.3, started=time.monotonic(),
                          remaining=remaining) == {}
