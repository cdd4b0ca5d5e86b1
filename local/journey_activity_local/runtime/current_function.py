"""Which template function is running now, in this thread of this process.

The local Lambda registry sets it around every invocation (whichever process runs the handler);
the AWS call guards (:mod:`journey_activity_local.engine.aws_guards`) read it to authorize each call
against that function's role. Outside an invocation (the test harness, the engine itself) it is
``None`` and calls are not guarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CURRENT_FUNCTION: ContextVar[str | None] = ContextVar("journey_activity_current_function", default=None)


@contextmanager
def running(logical_id: str) -> Iterator[None]:
    """``with running("SendFunction"): handler(event, context)``"""
    token = CURRENT_FUNCTION.set(logical_id)
    try:
        yield
    finally:
        CURRENT_FUNCTION.reset(token)
