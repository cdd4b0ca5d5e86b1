"""The function a journey invokes: start the batch's executions, answer with what is known in time.

The trigger (Amazon Connect's custom action, Pinpoint's custom channel) is recognized by the
event's shape (:mod:`journey_activity.triggers`); the batch runs as one execution per part
(:mod:`journey_activity.dispatch`), waited for until the trigger's deadline (Connect 25 s of its
documented 30 s, Pinpoint 10 s of its 15 s). The answer holds every input endpoint exactly once,
in input order; an endpoint with no outcome by the deadline is ``SENT`` (the provider accepted
it, its receipt has not come) or ``PENDING`` (not sent yet), and its outcome arrives later as
engagement events.

An event the trigger cannot use at all (Connect's envelope unusable, or the function's
configuration invalid) raises for Connect: Connect documents that an exception marks every
profile of the batch failed, and Lambda's Errors metric shows it. Pinpoint, which reads nothing
of a failed invocation, gets ``{"error": …}``, as do events of no known trigger.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from journey_activity import claims, dispatch, triggers
from journey_activity.errors import ConfigurationError, PayloadError
from journey_activity.handlers._runtime import ledger, logger, throttling_is_retried
from journey_activity.models.batch import FINAL_STATUSES, EndpointResult
from journey_activity.settings.invoker import get_invoker_settings

# Left to the function after the deadline to compile and answer before it times out.
_ANSWER_SECONDS = 1.0
# The adapters whose trigger reads a raised error as the batch's failure.
_RAISES_FOR = frozenset({"connect"})


def deadline_for(seconds: float, context: LambdaContext | None, started: float) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        seconds = min(seconds, remaining() / 1000 - _ANSWER_SECONDS)
    return started + max(seconds, 0.0)


def answer_by(deadline: float, context: LambdaContext | None) -> float:
    """When the answer goes out even if a call to AWS is still running: a little after the
    deadline, never later than half a second before the function times out."""
    latest = deadline + dispatch.ANSWER_SLACK_SECONDS
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is not None:
        latest = min(latest, time.monotonic() + remaining() / 1000 - 0.5)
    return latest


# Left after the start, at the latest, for the last look at the parts and the answer.
START_ANSWER_MARGIN_SECONDS = 1.5


def start_answer_by(deadline: float, context: LambdaContext | None) -> float:
    """How long the answer may wait for the start: until the function's last 1.5 s (a start slower
    than the deadline, on a loaded service, still starts its parts); without a context, a little
    after the deadline. A call that hangs past it no longer holds the answer (start_parts_by)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return deadline + dispatch.ANSWER_SLACK_SECONDS
    return time.monotonic() + remaining() / 1000 - START_ANSWER_MARGIN_SECONDS


def error_response(kind: str, message: str) -> dict[str, Any]:
    """An unusable payload or configuration, for a trigger that reads no failure: people and logs read it."""
    return {"error": {"type": kind, "message": message}}


@throttling_is_retried
@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> Any:
    started = time.monotonic()
    source = None
    try:
        adapter = triggers.adapter_for(event)
        source = adapter.source
        settings = get_invoker_settings()
        batch = adapter.to_batch(event, settings)
        logger.thread_safe_append_keys(batch_id=batch.context.batch_id)
        if not batch.recipients:
            logger.info("Answering an empty batch")
            return adapter.to_response(batch, {}, settings)
        deadline = deadline_for(settings.deadline_seconds(source), context, started)
        begun = dispatch.start_parts_by(batch, settings, deadline, answer_at=start_answer_by(deadline, context))
    except (PayloadError, ConfigurationError) as error:
        kind = type(error).__name__
        logger.error("Unusable payload" if isinstance(error, PayloadError) else "Invalid configuration",
                     extra={"error": str(error), "trigger": source})
        if source in _RAISES_FOR:
            raise
        return error_response(kind, str(error))
    logger.info("Started", extra={"executions": len(begun.runs), "seconds": round(time.monotonic() - started, 3),
                                  "deadline_in": round(deadline - time.monotonic(), 3)})
    foreign: dict[str, EndpointResult] = {}
    if begun.foreign:
        logger.info("Endpoints another execution sends are answered with its outcome",
                    extra={"foreign": len(begun.foreign)})

    def owners() -> None:
        if begun.foreign:
            foreign.update(claims.foreign_results(ledger(), begun.foreign, deadline))

    waited = dispatch.wait_for_parts(ledger(), begun.runs, deadline, answer_by=answer_by(deadline, context),
                                     then=owners)
    results = {**begun.answered, **waited.results, **dict(foreign)}
    final = sum(1 for result in results.values() if result.journey_status in FINAL_STATUSES)
    logger.info("Answering", extra={"endpoints": len(batch.recipients), "final": final,
                                    "executions": len(begun.runs), "progress_reads": waited.progress_reads,
                                    "seconds": round(time.monotonic() - started, 3)})
    return adapter.to_response(batch, results, settings)
