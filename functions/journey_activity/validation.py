"""Which endpoints can be sent, and why the others are skipped.

Reasons are machine-readable (snake_case) because a journey may branch on them.
"""

from __future__ import annotations

import re
from enum import StrEnum

from journey_activity.models.batch import Recipient
from journey_activity.models.channels import PUSH_CHANNELS, ChannelType
from journey_activity.models.execution import RecipientRef
from journey_activity.settings.validate import ValidateSettings


class SkipReason(StrEnum):
    INVALID_ENDPOINT = "invalid_endpoint"
    INVALID_PROFILE = "invalid_profile"
    ACTION_NOT_CONFIGURED = "action_not_configured"
    OPTED_OUT = "opted_out"
    INACTIVE = "inactive"
    ADDRESS_MISSING = "address_missing"
    ADDRESS_INVALID = "address_invalid"
    NO_PROVIDER = "no_provider"
    PROFILE_MISSING = "profile_missing"


# Deliberately practical, not RFC 5322 in full: one @, no spaces, a dotted domain.
EMAIL_PATTERN = re.compile(
    r"[^@\s\"(),:;<>\[\\\]]{1,64}@(?=.{1,253}$)"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
E164_PATTERN = re.compile(r"\+[1-9][0-9]{1,14}")
PUSH_TOKEN_PATTERN = re.compile(r"\S{1,4096}")

_PHONE_CHANNELS = frozenset({ChannelType.SMS, ChannelType.VOICE})


def address_is_valid(channel: str, address: str, rules: dict[str, str] | None = None) -> bool:
    """Whether ``address`` can be sent to on ``channel``; a configured rule wins over the default."""
    rule = (rules or {}).get(channel)
    if rule is not None:
        return re.fullmatch(rule, address) is not None
    if channel == ChannelType.EMAIL:
        return EMAIL_PATTERN.fullmatch(address) is not None
    if channel in _PHONE_CHANNELS:
        return E164_PATTERN.fullmatch(address) is not None
    if channel in PUSH_CHANNELS:
        return PUSH_TOKEN_PATTERN.fullmatch(address) is not None
    # CUSTOM and IN_APP without a configured rule: any non-blank address.
    return bool(address.strip())


def flag_reason(recipient: Recipient | RecipientRef, settings: ValidateSettings) -> tuple[SkipReason, str] | None:
    """The reasons to skip an endpoint that need no address (the execution carries none)."""
    if recipient.invalid:
        reason = recipient.invalid_reason or ""
        known = reason in {r.value for r in SkipReason}
        return (SkipReason(reason) if known else SkipReason.INVALID_ENDPOINT), recipient.invalid
    if recipient.opted_out:
        return SkipReason.OPTED_OUT, "OptOut is ALL"
    if not recipient.active:
        return SkipReason.INACTIVE, "EndpointStatus is INACTIVE"
    if settings.provider_for(recipient.channel) is None:
        return SkipReason.NO_PROVIDER, f"no provider is configured for {recipient.channel}"
    return None


def address_reason(channel: str, address: str, settings: ValidateSettings) -> tuple[SkipReason, str] | None:
    """The details name the channel, never the address: they travel through the execution."""
    if not address:
        return SkipReason.ADDRESS_MISSING, f"{channel} endpoint has no Address"
    if not address_is_valid(channel, address, settings.address_rules):
        return SkipReason.ADDRESS_INVALID, f"Address is not a valid {channel} address"
    return None


def skip_reason(recipient: Recipient, settings: ValidateSettings) -> tuple[SkipReason, str] | None:
    """``None`` when the endpoint can be sent, else the reason and a human detail."""
    return flag_reason(recipient, settings) or address_reason(recipient.channel, recipient.address, settings)
