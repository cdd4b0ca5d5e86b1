"""The invoker's settings: the triggers (Connect actions, what the answer carries), its deadlines
and the state machine it starts. Nothing of the providers, senders, receipts or reporting: the
invoker neither imports nor validates them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from journey_activity.models.channels import ChannelType
from journey_activity.settings.base import cached_settings
from journey_activity.settings.compile import (
    DEFAULT_EVENT_ATTRIBUTES,
    MAX_ATTRIBUTE_CHARS,
    MAX_EVENT_ATTRIBUTES,
    CompileSettings,
    check_jmespath,
)

__all__ = ["DEFAULT_EVENT_ATTRIBUTES", "MAX_ATTRIBUTE_CHARS", "MAX_EVENT_ATTRIBUTES", "check_jmespath"]

# Amazon Connect: each profile's ResultData, name -> jmespath over the endpoint's result; values keep
# their JSON type (a number stays a number), so a Check attributes block can compare them.
DEFAULT_RESULT_DATA: dict[str, str] = {
    "status": "status",
    "reason": "reason",
    "channel": "channel",
    "provider": "provider",
    "attempts": "attempts",
}
MAX_RESULT_DATA_KEYS = 64
# The invoker's answer deadline per trigger: Connect documents that an answer later than 30 s fails
# the action (25 s leaves a cold start and compiling their margin); Pinpoint waits 15 s.
CONNECT_DEADLINE_DEFAULT_SECONDS, CONNECT_DEADLINE_MAX_SECONDS = 25.0, 26.0
PINPOINT_DEADLINE_DEFAULT_SECONDS, PINPOINT_DEADLINE_MAX_SECONDS = 10.0, 12.0

# Where an action without "address" finds a profile's address (Customer Profiles' standard fields,
# camelCase as in CustomerData; "email" is what the admin guide's own example uses). First present wins.
DEFAULT_ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    ChannelType.EMAIL: ("emailAddress", "personalEmailAddress", "businessEmailAddress", "email"),
    ChannelType.SMS: ("mobilePhoneNumber", "phoneNumber", "homePhoneNumber", "businessPhoneNumber"),
    ChannelType.VOICE: ("mobilePhoneNumber", "phoneNumber", "homePhoneNumber", "businessPhoneNumber"),
}


class ConnectAction(BaseModel):
    """What one Amazon Connect custom action sends: Connect's event names no channel and carries
    no message, so both come from here (``CONNECT_ACTIONS``, keyed by ``ActionId`` or ``"*"``)."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    # Profile fields (dotted paths into CustomerData, e.g. "attributes.pushToken"); first present wins.
    address: list[str] | None = None
    # The message template; a JSON object or array is sent as a JSON document (rendered inside its strings).
    message: str | dict[str, Any] | list[Any] = ""
    # This action's wait mode, over the deployment's WaitMode: "group" for a high-volume action.
    wait_mode: Literal["endpoint", "group"] | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        known = sorted(c.value for c in ChannelType)
        if value not in known:
            raise ValueError(f"unknown channel type {value!r}; use one of {known}")
        return value

    @field_validator("address")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or not all(field.strip() for field in value)):
            raise ValueError("must list one or more profile field names")
        return value

    @model_validator(mode="after")
    def _address_known(self) -> ConnectAction:
        if self.address is None and self.channel not in DEFAULT_ADDRESS_FIELDS:
            raise ValueError(f'"address" is required for {self.channel} (there is no standard profile field for it)')
        return self

    def address_fields(self) -> tuple[str, ...]:
        return tuple(self.address) if self.address is not None else DEFAULT_ADDRESS_FIELDS[self.channel]

    def template(self) -> str:
        return self.message if isinstance(self.message, str) else json.dumps(self.message, ensure_ascii=False)


class InvokerSettings(CompileSettings):
    """What the invoker reads (and the functions whose settings extend it)."""

    state_machine_arn: str | None = None
    connect_deadline_seconds: float = Field(default=CONNECT_DEADLINE_DEFAULT_SECONDS, gt=0,
                                            le=CONNECT_DEADLINE_MAX_SECONDS)
    pinpoint_deadline_seconds: float = Field(default=PINPOINT_DEADLINE_DEFAULT_SECONDS, gt=0,
                                             le=PINPOINT_DEADLINE_MAX_SECONDS)
    # When set, the deadline of every trigger (local runs and tests); unset in a deployed stack.
    invoker_deadline_seconds: float | None = Field(default=None, gt=0, le=900)
    result_data: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RESULT_DATA))
    # Amazon Connect custom actions: ActionId (or "*") -> what to send.
    connect_actions: dict[str, ConnectAction] = Field(default_factory=dict)

    @field_validator("result_data")
    @classmethod
    def _result_data(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_RESULT_DATA_KEYS:
            raise ValueError(f"at most {MAX_RESULT_DATA_KEYS} ResultData keys, got {len(value)}")
        if "status" not in value:
            raise ValueError('ResultData must keep "status": journeys branch on it')
        for name, expression in value.items():
            if not name or len(name) > MAX_ATTRIBUTE_CHARS or name == "truncated":
                raise ValueError(f"ResultData keys are 1 to {MAX_ATTRIBUTE_CHARS} characters, not 'truncated': "
                                 f"{name!r}")
            check_jmespath(name, expression)
        return value

    def deadline_seconds(self, trigger: str) -> float:
        """How long the invoker waits for outcomes before answering ``trigger`` ("connect", "pinpoint")."""
        if self.invoker_deadline_seconds is not None:
            return self.invoker_deadline_seconds
        return self.connect_deadline_seconds if trigger == "connect" else self.pinpoint_deadline_seconds

    def connect_action(self, action_id: str) -> ConnectAction | None:
        """The action's own entry, else ``"*"``, else none (its profiles are skipped)."""
        return self.connect_actions.get(action_id) or self.connect_actions.get("*")


def get_invoker_settings() -> InvokerSettings:
    """The invoker's settings, read once per container."""
    return cached_settings(InvokerSettings)
