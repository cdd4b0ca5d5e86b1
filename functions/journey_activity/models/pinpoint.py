"""The Amazon Pinpoint custom-channel event, as Pinpoint sends it to a Lambda function.

Unknown fields are kept (``extra="allow"``): Pinpoint adds fields over time, and a
template may reference any of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from journey_activity.models.channels import PUSH_CHANNELS, ChannelType

__all__ = ["MAX_ENDPOINTS", "PUSH_CHANNELS", "ChannelType", "PinpointEndpoint", "PinpointEvent", "PinpointUser"]


MAX_ENDPOINTS = 50


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PinpointUser(_Open):
    UserId: str | None = None
    UserAttributes: dict[str, list[str]] = Field(default_factory=dict)


class PinpointEndpoint(_Open):
    """One endpoint of the batch. Only ``ChannelType`` is required."""

    ChannelType: ChannelType
    Address: str | None = ""
    EndpointStatus: str | None = "ACTIVE"
    OptOut: str | None = "NONE"
    User: PinpointUser | None = None
    Attributes: dict[str, list[str]] = Field(default_factory=dict)
    Metrics: dict[str, float] = Field(default_factory=dict)
    Location: dict[str, Any] | None = None
    Demographic: dict[str, Any] | None = None
    EffectiveDate: str | None = None
    CreationDate: str | None = None
    CohortId: str | None = None


class PinpointEvent(_Open):
    """The whole invocation. Endpoints stay raw here and are parsed one by one, so one bad
    endpoint is skipped with a reason instead of failing the batch."""

    ApplicationId: str = Field(min_length=1)
    Endpoints: dict[str, Any] = Field(min_length=1, max_length=MAX_ENDPOINTS)
    Data: str | None = None
    Message: dict[str, Any] | None = None
    CampaignId: str | None = None
    JourneyId: str | None = None
    TreatmentId: str | None = None
    ActivityId: str | None = None
    ScheduledTime: str | None = None
