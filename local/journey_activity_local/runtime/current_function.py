"""Which template function is running now, in this thread of this process.

The local Lambda registry sets it around every invocation (whichever process runs the handler);
the AWS call guards (:mod:`journey_activity_local.engine.aws_guards`) read it to authorize each call
against that function's role. Outside an invocation (the test harness, the engine itself) it is
``None`` and calls are not guarded.

An execution environment's worker process serves one function only (:func:`serve`): a thread a
handler starts (the invoker's start and wait, a sender's concurrent sends) begins with an empty
context, and its calls are still that function's (:func:`current`), as on Lambda, where every
call of the environment is made with the function's role.
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


_process_function: str | None = None


def serve(logical_id: str) -> None:
    """This process is one execution environment of ``logical_id``: every thread's calls are its."""
    global _process_function
    _process_function = logical_id


def current() -> str | None:
    """The function whose call this is: the invocation's, else the environment's, else None."""
    return CURRENT_FUNCTION.get() or _process_function
