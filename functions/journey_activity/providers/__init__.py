"""Provider adapters: one module per kind of provider, chosen per channel type by configuration.

A module is imported only when a channel is configured for it, so a sender function loads the
one SDK path it uses (the e-mail sender never imports the push adapter)."""

from __future__ import annotations

import importlib

from journey_activity.errors import ConfigurationError
from journey_activity.providers.base import Provider, SendRequest, SendResult, SyncOutcome
from journey_activity.settings.providers import ProviderConfig

ADAPTERS: dict[str, tuple[str, str]] = {
    "http": ("journey_activity.providers.http", "HttpProvider"),
    "ses": ("journey_activity.providers.ses", "SesProvider"),
    "sms-voice": ("journey_activity.providers.sms_voice", "SmsVoiceProvider"),
    "push": ("journey_activity.providers.push", "PushProvider"),
    "twilio": ("journey_activity.providers.twilio", "TwilioProvider"),
}
"""A ``ChannelProviders`` entry's ``"type"`` -> (module, class); each class takes its own config model."""


def provider_for(config: ProviderConfig) -> Provider:
    """The provider a channel's configuration names, its module imported now. Raises
    :class:`~journey_activity.errors.ConfigurationError` for a type this build does not have."""
    try:
        module_name, class_name = ADAPTERS[config.type]
    except KeyError:
        raise ConfigurationError(f"unknown provider type {config.type!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise ConfigurationError(f"provider type {config.type!r} is not available in this build") from None
    adapter: Provider = getattr(module, class_name)(config)
    return adapter


__all__ = ["ADAPTERS", "Provider", "SendRequest", "SendResult", "SyncOutcome", "provider_for"]
