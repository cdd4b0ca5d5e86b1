"""What a journey branches on, chosen by jmespath expressions over each endpoint's result.

Amazon Connect's ``ResultData`` is a JSON object per profile whose values keep their JSON type
(a number stays a number), at most 32 KB (:func:`fit_result_data` cuts what would not fit and
says so). Pinpoint's ``EventAttributes`` are at most 5 per endpoint, names and values of at most
128 characters; longer values are cut, empty ones left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import jmespath

from journey_activity.models.batch import EndpointResult, Recipient, Status
from journey_activity.settings.compile import MAX_ATTRIBUTE_CHARS, MAX_EVENT_ATTRIBUTES


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


def result_data(view: Mapping[str, Any], expressions: Mapping[str, str]) -> dict[str, Any]:
    """Evaluate each expression over an endpoint's result view, keeping each value's JSON type;
    empty values are left out."""
    data: dict[str, Any] = {}
    for name, expression in expressions.items():
        value = _compiled(expression).search(dict(view))
        if value is None or value in ("", [], {}):
            continue
        data[name] = value
    return data


def json_size(value: Any) -> int:
    """The bytes ``value`` takes in the answer as Lambda's Python runtime writes it (``json.dumps``'
    defaults: a space after each separator, non-ASCII as ``\\uXXXX``): the largest a reader can count."""
    return len(json.dumps(value).encode())


def _cut_text(kept: dict[str, Any], key: str, text: str, limit: int) -> dict[str, Any] | None:
    """``kept`` with ``key`` set to the longest prefix of ``text`` that fits ``limit``, or None."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if json_size({**kept, key: text[:middle]}) <= limit:
            low = middle
        else:
            high = middle - 1
    return {**kept, key: text[:low]} if low else None


def fit_result_data(data: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """``data`` when it fits ``limit`` bytes; else ``status`` and ``reason`` first, then as many of
    the other keys as fit whole, in order, then what fits of the strings left out (cut), and
    ``"truncated": true``. Over the limit Connect marks the whole invocation invalid."""
    if json_size(data) <= limit:
        return dict(data)
    marker = {"truncated": True}
    order = [key for key in ("status", "reason") if key in data] + [k for k in data if k not in ("status", "reason")]
    kept: dict[str, Any] = {}
    left_out = []
    for key in order:
        if json_size({**kept, key: data[key], **marker}) <= limit:
            kept[key] = data[key]
        else:
            left_out.append(key)
    for key in left_out:
        if isinstance(data[key], str):
            kept = _cut_text(kept, key, data[key], limit - json_size(marker) - 1) or kept
    return {**{key: kept[key] for key in order if key in kept}, **marker}


def pending_result(recipient: Recipient) -> EndpointResult:
    """An endpoint the ledger knows nothing final of yet."""
    return EndpointResult(endpoint_id=recipient.endpoint_id, channel=recipient.channel, status=Status.PENDING)


def every_result(recipients: Iterable[Recipient], results: Mapping[str, EndpointResult]) -> dict[str, EndpointResult]:
    """Each recipient's result exactly once, in input order (``PENDING`` when none is known)."""
    return {r.endpoint_id: results.get(r.endpoint_id) or pending_result(r) for r in recipients}


def compile_batch(
    recipients: Iterable[Recipient],
    results: Mapping[str, EndpointResult],
    expressions: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """EventAttributes for every recipient exactly once, in input order."""
    return {endpoint_id: event_attributes(result.view(), expressions)
            for endpoint_id, result in every_result(recipients, results).items()}
