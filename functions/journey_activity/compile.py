"""EventAttributes: what the journey's splits branch on, chosen by jmespath expressions.

Pinpoint accepts at most 5 attributes per endpoint, names and values of at most 128
characters; longer values are cut, empty ones left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import jmespath

from journey_activity.config import MAX_ATTRIBUTE_CHARS, MAX_EVENT_ATTRIBUTES
from journey_activity.models.batch import EndpointResult, Recipient, Status


@lru_cache(maxsize=64)
def _compiled(expression: str) -> jmespath.parser.ParsedResult:
    return jmespath.compile(expression)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def event_attributes(view: Mapping[str, Any], expressions: Mapping[str, str]) -> dict[str, str]:
    """Evaluate each expression over an endpoint's result view; keep the limits."""
    attributes: dict[str, str] = {}
    for name, expression in list(expressions.items())[:MAX_EVENT_ATTRIBUTES]:
        value = _compiled(expression).search(dict(view))
        if value is None or value in ("", [], {}):
            continue
        attributes[name[:MAX_ATTRIBUTE_CHARS]] = _text(value)[:MAX_ATTRIBUTE_CHARS]
    return attributes


def pending_result(recipient: Recipient) -> EndpointResult:
    """An endpoint the ledger knows nothing final of yet."""
    return EndpointResult(endpoint_id=recipient.endpoint_id, channel=recipient.channel, status=Status.PENDING)


def compile_batch(
    recipients: Iterable[Recipient],
    results: Mapping[str, EndpointResult],
    expressions: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """EventAttributes for every recipient exactly once, in input order."""
    compiled: dict[str, dict[str, str]] = {}
    for recipient in recipients:
        result = results.get(recipient.endpoint_id) or pending_result(recipient)
        compiled[recipient.endpoint_id] = event_attributes(result.view(), expressions)
    return compiled
