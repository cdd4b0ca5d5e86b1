"""What the trigger adapters share: one-line validation errors, batch ids, payload sanity checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line naming each problem and where it is, e.g. ``Endpoints: field required``."""
    problems = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in (*([prefix] if prefix else []), *item["loc"]))
        problems.append(f"{location or '(top level)'}: {item['msg']}")
    return "; ".join(problems)


def batch_id_for(payload: Mapping[str, Any], source: str = "pinpoint") -> str:
    """A deterministic id for a batch: the same payload (a retried invocation) gives the same id.

    It doubles as the Step Functions execution name (80 characters at most).
    """
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return f"{source}-{hashlib.sha256(canonical.encode()).hexdigest()[:48]}"


def is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate (JSON's ``"\\ud800"``): no UTF-8 document can carry it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def unusable(value: Any, limit: int) -> str | None:
    """Why a JSON value cannot travel in the execution's input, if it cannot (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return "holds text that is not valid Unicode (a lone surrogate)"
        elif isinstance(item, dict | list):
            if depth > limit:
                return f"is nested more than {limit} levels deep"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return None
