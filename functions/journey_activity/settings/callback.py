"""The receipt callback's settings: the providers (whose secrets sign their receipts) and the
signatures' tolerance."""

from __future__ import annotations

from pydantic import Field

from journey_activity.settings.base import cached_settings
from journey_activity.settings.providers import ProviderSettings


class CallbackSettings(ProviderSettings):
    # Filled only when asked (journey_activity.settings.base.default_signing_secrets).
    callback_signing_secrets: list[str] = Field(default_factory=list)
    signature_tolerance_seconds: int = Field(default=300, ge=1)


def get_callback_settings() -> CallbackSettings:
    """The callback's settings, read once per container."""
    return cached_settings(CallbackSettings)
