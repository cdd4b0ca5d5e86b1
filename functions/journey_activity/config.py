"""Every function's settings in one model, :class:`Settings`, for what reads them all (the local
engine, the command line, tests), and the names other modules import from here.

The functions themselves read their own settings (:mod:`journey_activity.settings`): the invoker
:class:`~journey_activity.settings.invoker.InvokerSettings`, Validate
:class:`~journey_activity.settings.validate.ValidateSettings`, the senders and the receipt queue
:class:`~journey_activity.settings.providers.ProviderSettings`, the callback
:class:`~journey_activity.settings.callback.CallbackSettings`, the compile-and-report function
:class:`~journey_activity.settings.compile.CompileSettings` and, with the finalizer,
:class:`~journey_activity.settings.reporting.ReportSettings`. Each validates only the settings
that function reads; :class:`Settings` is all of them together, with the same variables,
defaults, validation and error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journey_activity.errors import ConfigurationError
from journey_activity.settings import base
from journey_activity.settings.base import (
    CONFIGURATION_OBJECT_VARIABLE,
    ENV,
    EXECUTION_MAX_DAYS,
    EXECUTION_NAME_RESERVED_DAYS,
    LEDGER_TTL_DEFAULT_DAYS,
    LEDGER_TTL_MIN_DAYS,
    FunctionSettings,
    reset_settings_cache,
)
from journey_activity.settings.callback import CallbackSettings, default_signing_secrets
from journey_activity.settings.compile import (
    DEFAULT_EVENT_ATTRIBUTES,
    MAX_ATTRIBUTE_CHARS,
    MAX_EVENT_ATTRIBUTES,
    CompileSettings,
)
from journey_activity.settings.configuration_object import (
    MAX_CONFIGURATION_OBJECT_BYTES,
    OBJECT_KEYS,
    parse_object_uri,
    read_configuration_object,
)
from journey_activity.settings.invoker import (
    CONNECT_DEADLINE_DEFAULT_SECONDS,
    CONNECT_DEADLINE_MAX_SECONDS,
    DEFAULT_ADDRESS_FIELDS,
    DEFAULT_RESULT_DATA,
    MAX_RESULT_DATA_KEYS,
    PINPOINT_DEADLINE_DEFAULT_SECONDS,
    PINPOINT_DEADLINE_MAX_SECONDS,
    ConnectAction,
    InvokerSettings,
)
from journey_activity.settings.providers import (
    PROVIDER_TYPES,
    SDK_CONNECT_TIMEOUT_SECONDS,
    SDK_TIMEOUT_MAX_SECONDS,
    HttpProviderConfig,
    ProviderConfig,
    ProviderSettings,
    PushProviderConfig,
    SesProviderConfig,
    SmsVoiceProviderConfig,
    TwilioProviderConfig,
)
from journey_activity.settings.reporting import ReportSettings
from journey_activity.settings.validate import ValidateSettings

__all__ = [
    "CONFIGURATION_OBJECT_VARIABLE",
    "CONNECT_DEADLINE_DEFAULT_SECONDS",
    "CONNECT_DEADLINE_MAX_SECONDS",
    "DEFAULT_ADDRESS_FIELDS",
    "DEFAULT_EVENT_ATTRIBUTES",
    "DEFAULT_RESULT_DATA",
    "ENV",
    "EXECUTION_MAX_DAYS",
    "EXECUTION_NAME_RESERVED_DAYS",
    "LEDGER_TTL_DEFAULT_DAYS",
    "LEDGER_TTL_MIN_DAYS",
    "MAX_ATTRIBUTE_CHARS",
    "MAX_CONFIGURATION_OBJECT_BYTES",
    "MAX_EVENT_ATTRIBUTES",
    "MAX_RESULT_DATA_KEYS",
    "OBJECT_KEYS",
    "PINPOINT_DEADLINE_DEFAULT_SECONDS",
    "PINPOINT_DEADLINE_MAX_SECONDS",
    "PROVIDER_TYPES",
    "SDK_CONNECT_TIMEOUT_SECONDS",
    "SDK_TIMEOUT_MAX_SECONDS",
    "CallbackSettings",
    "CompileSettings",
    "ConfigurationError",
    "ConnectAction",
    "FunctionSettings",
    "HttpProviderConfig",
    "InvokerSettings",
    "ProviderConfig",
    "ProviderSettings",
    "PushProviderConfig",
    "ReportSettings",
    "SesProviderConfig",
    "Settings",
    "SmsVoiceProviderConfig",
    "TwilioProviderConfig",
    "ValidateSettings",
    "default_signing_secrets",
    "get_settings",
    "get_settings_with_secrets",
    "load_settings",
    "parse_object_uri",
    "read_configuration_object",
    "reset_settings_cache",
    "settings_from",
]


class Settings(InvokerSettings, ValidateSettings, CallbackSettings, ReportSettings):
    """Every function's settings together."""


def settings_from(environ: Mapping[str, str], *, with_secrets: bool = False,
                  document: Mapping[str, Any] | None = None, source: str = "") -> Settings:
    """Build :class:`Settings` from an environment mapping (:func:`journey_activity.settings.base.settings_from`)."""
    return base.settings_from(environ, Settings, with_secrets=with_secrets, document=document, source=source)


def load_settings(environ: Mapping[str, str], *, with_secrets: bool = False,
                  documents: dict[str, dict[str, Any]] | None = None) -> Settings:
    """:class:`Settings` from the environment and the configuration object, when one is named
    (:func:`journey_activity.settings.base.load_settings`)."""
    return base.load_settings(environ, Settings, with_secrets=with_secrets, documents=documents)


def get_settings() -> Settings:
    """Every setting of the container (cached: environment variables do not change in a container,
    and the configuration object is read once per container; a failed read is not cached)."""
    return base.cached_settings(Settings)


def get_settings_with_secrets() -> Settings:
    """The settings and the receipt signing secrets as they were first read. The callback reads
    the secrets per request (:func:`default_signing_secrets`), so a rotation is seen."""
    return base.cached_settings(Settings, with_secrets=True)
