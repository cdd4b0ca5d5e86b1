"""Compile's settings: the Pinpoint answer's ``EventAttributes`` (read by the Compile step and by
the invoker, which compiles Pinpoint's answer itself)."""

from __future__ import annotations

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator

from journey_activity.settings.base import FunctionSettings, cached_settings

MAX_EVENT_ATTRIBUTES = 5
MAX_ATTRIBUTE_CHARS = 128

DEFAULT_EVENT_ATTRIBUTES: dict[str, str] = {
    "status": "status",
    "channel": "channel",
    "reason": "reason",
    "provider": "provider",
}


def check_jmespath(name: str, expression: str) -> None:
    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        # jmespath's message points at the error on a second line; a configuration error is one line.
        raise ValueError(f"{name}: invalid jmespath {expression!r}: {' '.join(str(error).split())}") from None


class CompileSettings(FunctionSettings):
    event_attributes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_EVENT_ATTRIBUTES))

    @field_validator("event_attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_EVENT_ATTRIBUTES:
            raise ValueError(f"at most {MAX_EVENT_ATTRIBUTES} EventAttributes, got {len(value)}")
        for name, expression in value.items():
            if not name or len(name) > MAX_ATTRIBUTE_CHARS:
                raise ValueError(f"attribute names are 1 to {MAX_ATTRIBUTE_CHARS} characters: {name!r}")
            check_jmespath(name, expression)
        return value


def get_compile_settings() -> CompileSettings:
    """Compile's settings, read once per container."""
    return cached_settings(CompileSettings)
