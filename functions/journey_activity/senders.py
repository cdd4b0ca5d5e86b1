"""Which sender function sends a channel: one per channel family, each with only its providers'
permissions, its own timeout, memory and logs. Validate names the family's function on each
sendable endpoint; the Map's task invokes the function it names (``FunctionName.$``), so the
execution's history shows which sender ran, at no extra state transition."""

from __future__ import annotations

from typing import Literal

from journey_activity.models.channels import PUSH_CHANNELS, ChannelType

Family = Literal["email", "sms-voice", "push", "http"]
FAMILIES: tuple[Family, ...] = ("email", "sms-voice", "push", "http")

_BY_CHANNEL: dict[str, Family] = {
    ChannelType.EMAIL.value: "email",
    ChannelType.SMS.value: "sms-voice",
    ChannelType.VOICE.value: "sms-voice",
    **{channel.value: "push" for channel in PUSH_CHANNELS},
}


def family_for(channel: str) -> Family:
    """The channel's family; CUSTOM, IN_APP and anything new go to the generic HTTP sender."""
    return _BY_CHANNEL.get(channel, "http")
