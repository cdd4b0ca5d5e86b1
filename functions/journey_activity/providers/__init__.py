"""Provider adapters: one per kind of provider, chosen per channel type by configuration."""

from __future__ import annotations

from journey_activity.config import ProviderConfig
from journey_activity.providers.base import Provider, SendRequest, SendResult


def provider_for(config: ProviderConfig) -> Provider:
    if config.type == "http":
        from journey_activity.providers.http import HttpProvider

        return HttpProvider(config)
    raise ValueError(f"unknown provider type {config.type!r}")


__all__ = ["Provider", "SendRequest", "SendResult", "provider_for"]
