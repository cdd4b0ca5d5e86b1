"""The channel types an endpoint (or a Connect action) names, Pinpoint's names for them.

Apart from :mod:`journey_activity.models.pinpoint`, so what names a channel (the invoker's
settings, the senders, Validate) imports no model of the Pinpoint event.
"""

from __future__ import annotations

from enum import StrEnum


class ChannelType(StrEnum):
    PUSH = "PUSH"
    GCM = "GCM"
    APNS = "APNS"
    APNS_SANDBOX = "APNS_SANDBOX"
    APNS_VOIP = "APNS_VOIP"
    APNS_VOIP_SANDBOX = "APNS_VOIP_SANDBOX"
    ADM = "ADM"
    SMS = "SMS"
    VOICE = "VOICE"
    EMAIL = "EMAIL"
    BAIDU = "BAIDU"
    CUSTOM = "CUSTOM"
    IN_APP = "IN_APP"


PUSH_CHANNELS = frozenset(
    {
        ChannelType.PUSH,
        ChannelType.GCM,
        ChannelType.APNS,
        ChannelType.APNS_SANDBOX,
        ChannelType.APNS_VOIP,
        ChannelType.APNS_VOIP_SANDBOX,
        ChannelType.ADM,
        ChannelType.BAIDU,
    }
)
