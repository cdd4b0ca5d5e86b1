"""Personal data in logs: :class:`RedactingFormatter` masks endpoint addresses, user attributes and
rendered messages in every log record unless ``LOG_PERSONAL_DATA=true``.

Apart from :mod:`journey_activity.security` (provider URLs, secret references), which re-exports
it: every function's logger uses it, and a function that never sends imports none of those guards.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

LOG_PERSONAL_DATA_VARIABLE = "LOG_PERSONAL_DATA"
REDACTED = "[REDACTED]"
# Keys (compared case-insensitively) whose values are personal data: an endpoint's address and
# user data, and a rendered message (it may hold the user's name or attributes).
PERSONAL_KEYS = frozenset({
    "address", "profile", "userattributes", "attributes", "user", "message", "location", "demographic",
})


# Deeper than any event or record this package logs; a formatter must never raise, even on a
# self-referencing structure.
_MAX_DEPTH = 32


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with the values of :data:`PERSONAL_KEYS` masked, at any depth."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {key: REDACTED if str(key).lower() in PERSONAL_KEYS else redact(item, depth + 1)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, masking personal data unless ``LOG_PERSONAL_DATA=true``.

    The top-level ``message`` is the log line itself (a constant string, never an f-string, by
    the project's style) and is kept, as is Powertools' ``location`` (function:line); a message
    logged as a dict is redacted like ``extra``. ``extra`` cannot use the key ``message`` (the
    logging module reserves it), so a ``message`` key is only ever nested, and masked there.
    """

    def serialize(self, log: Any) -> str:
        if os.environ.get(LOG_PERSONAL_DATA_VARIABLE, "").strip().lower() not in ("1", "true", "yes"):
            log = {key: _top_level(key, value) for key, value in log.items()}
        return super().serialize(log)


def _top_level(key: str, value: Any) -> Any:
    # Powertools' own "location" (function:line) and the log line are not personal data.
    if key == "location" or (key == "message" and isinstance(value, str)):
        return value
    if key.lower() in PERSONAL_KEYS and key != "message":
        return REDACTED
    return redact(value)
