"""Validate's settings: the providers (which channels have one), the address rules, the sender
functions it routes to, and the receipt wait it gives the state machine."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from journey_activity.settings.base import cached_settings
from journey_activity.settings.providers import ProviderSettings, known_channels


class ValidateSettings(ProviderSettings):
    # At most a day: two waits in a row must fit the state machine's 3-day TimeoutSeconds backstop.
    receipt_timeout_seconds: int = Field(default=900, ge=2, le=86_400)
    receipt_heartbeat_seconds: int = Field(default=300, ge=1)
    # channel type -> regular expression an address must match in full.
    address_rules: dict[str, str] = Field(default_factory=dict)
    # Channel family (journey_activity.senders.FAMILIES) -> its sender function's ARN (Validate).
    sender_functions: dict[str, str] = Field(default_factory=dict)
    # "endpoint": one waiting task per endpoint (each endpoint's path in the console); "group": one
    # per group of a channel family's endpoints (the template's WaitMode; see docs/guide/wait-modes.md).
    wait_mode: Literal["endpoint", "group"] = "endpoint"
    # Group mode: at most this many endpoints in one group (its state and its sender's payload
    # stay far below Step Functions' 256 KB; see journey_activity.handlers.validate.GROUP_BYTES).
    group_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("address_rules")
    @classmethod
    def _known_rule_channels(cls, value: dict[str, Any]) -> dict[str, Any]:
        return known_channels(value)

    @field_validator("sender_functions")
    @classmethod
    def _families(cls, value: dict[str, str]) -> dict[str, str]:
        from journey_activity.senders import FAMILIES

        unknown = sorted(set(value) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown sender families {unknown}; use {list(FAMILIES)}")
        if value and set(value) != set(FAMILIES):
            raise ValueError(f"a sender function is needed for each of {list(FAMILIES)}")
        return value

    @field_validator("address_rules")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"{channel}: {error}") from None
        return value

    @model_validator(mode="after")
    def _heartbeat_below_timeout(self) -> ValidateSettings:
        if self.receipt_heartbeat_seconds >= self.receipt_timeout_seconds:
            raise ValueError("RECEIPT_HEARTBEAT_SECONDS must be smaller than RECEIPT_TIMEOUT_SECONDS")
        return self


def get_validate_settings() -> ValidateSettings:
    """Validate's settings, read once per container."""
    return cached_settings(ValidateSettings)
