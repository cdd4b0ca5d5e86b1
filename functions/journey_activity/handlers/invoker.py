"""The function a journey invokes: start the batch's executions, answer with what is known in time.

The trigger (Amazon Connect's custom action, Pinpoint's custom channel) is recognized by the
event's shape (:mod:`journey_activity.triggers`); the batch runs as one execution per part, waited
for until the trigger's deadline (:func:`journey_activity.dispatch.start_and_wait`). The answer
holds every input endpoint exactly once, in input order; an endpoint with no outcome by the
deadline is ``SENT`` or ``PENDING``, and its outcome arrives later as engagement events.

An event the trigger cannot use at all (Connect's envelope unusable, or the function's
configuration invalid) raises for Connect: Connect documents that an exception marks every
profile of the batch failed, and Lambda's Errors metric shows it. Pinpoint, which reads nothing
of a failed invocation, gets ``{"error": …}``, as do events of no known trigger.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from journey_activity import dispatch, triggers
from journey_activity.errors import ConfigurationError, PayloadError
from journey_activity.handlers import IMPORTS_BEGAN
from journey_activity.handlers._runtime import logger, throttling_is_retried
from journey_activity.settings.invoker import get_invoker_settings

if TYPE_CHECKING:  # an annotation only: the invoker's cold start does not import it
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The adapters whose trigger reads a raised error as the batch's failure.
_RAISES_FOR = frozenset({"connect"})
# An invocation that began this soon after the imports ended waited for them (a cold start's
# init); one later found its environment ready (provisioned, or initialized ahead by Lambda).
_WAITED_FOR_INIT_SECONDS = 0.5
# Lambda's init phase lasts at most 10 s: imports that took longer were not one init.
_INIT_SECONDS_AT_MOST = 10.0


def began(now: float) -> float:
    """When the trigger's clock started for this invocation: ``now`` (the handler's start), or, on
    the cold start of an on-demand environment the invocation waited for, when the imports began
    (Lambda does not count its init phase in the function's timeout, but the trigger's 30 s or
    15 s include it: at 512 MB the imports take a few seconds)."""
    global _cold
    cold, _cold = _cold, False
    if (cold and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "on-demand"
            and 0 <= now - _IMPORTED_AT <= _WAITED_FOR_INIT_SECONDS
            and 0 <= _IMPORTED_AT - IMPORTS_BEGAN <= _INIT_SECONDS_AT_MOST):
        return IMPORTS_BEGAN
    return now


@throttling_is_retried
@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> Any:
    started = began(time.monotonic())
    source = None
    try:
        adapter = triggers.adapter_for(event)
        source = adapter.source
        settings = get_invoker_settings()
        batch = adapter.to_batch(event, settings)
        logger.thread_safe_append_keys(batch_id=batch.context.batch_id)
        results = dispatch.start_and_wait(batch, settings, settings.deadline_seconds(source), started=started,
                                          remaining=getattr(context, "get_remaining_time_in_millis", None))
    except (PayloadError, ConfigurationError) as error:
        logger.error("Unusable payload" if isinstance(error, PayloadError) else "Invalid configuration",
                     extra={"error": str(error), "trigger": source})
        if source in _RAISES_FOR:
            raise
        # For a trigger that reads no failure: people and logs read it.
        return {"error": {"type": type(error).__name__, "message": str(error)}}
    return adapter.to_response(batch, results, settings)


_cold = True
_IMPORTED_AT = time.monotonic()
