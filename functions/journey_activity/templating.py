"""Render an activity's ``Data`` for one endpoint.

Placeholders use Pinpoint's message-variable syntax, ``{{User.UserAttributes.FirstName}}``,
with an optional default after a bar: ``{{Attributes.City|Seattle}}``. A placeholder is a
path of names selected with jmespath (each name quoted, so no jmespath expression can be
smuggled in): a template is data, never code. A multi-valued attribute renders its values
joined by ", "; a missing value renders the default, or nothing.

``Data`` that is a JSON document stays JSON: placeholders are rendered inside its strings.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jmespath

from journey_activity.errors import TemplateError

PLACEHOLDER = re.compile(r"\{\{\s*([^{}|]+?)\s*(?:\|\s*([^{}]*?)\s*)?\}\}")
MAX_RENDERED_CHARS = 1_000_000


@lru_cache(maxsize=512)
def _selector(path: str) -> jmespath.parser.ParsedResult | None:
    """``None`` for a path with an empty name (``{{a..b}}``): it names nothing, so renders the default."""
    parts = [part.strip() for part in path.split(".")]
    if not all(parts):
        return None
    return jmespath.compile(".".join(json.dumps(part) for part in parts))


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_as_text(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def render_text(text: str, profile: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        selector = _selector(match.group(1))
        value = selector.search(profile) if selector is not None else None
        if value is None or value == [] or value == "":
            return match.group(2) or ""
        return _as_text(value)

    return PLACEHOLDER.sub(replace, text)


def _render_json(node: Any, profile: dict[str, Any]) -> Any:
    if isinstance(node, str):
        return render_text(node, profile)
    if isinstance(node, list):
        return [_render_json(item, profile) for item in node]
    if isinstance(node, dict):
        return {render_text(key, profile): _render_json(value, profile) for key, value in node.items()}
    return node


def parse_template(data: str | None) -> Any:
    """The template as sent: a JSON document when ``Data`` is a JSON object or array, else text."""
    if data is None:
        return ""
    stripped = data.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return data
    return data


def render(data: str | None, profile: dict[str, Any]) -> Any:
    """The message for one endpoint: text, or a JSON document when ``Data`` is JSON."""
    template = parse_template(data)
    rendered = _render_json(template, profile)
    size = len(rendered) if isinstance(rendered, str) else len(json.dumps(rendered))
    if size > MAX_RENDERED_CHARS:
        raise TemplateError(f"the rendered message is {size} characters, above {MAX_RENDERED_CHARS}")
    return rendered
